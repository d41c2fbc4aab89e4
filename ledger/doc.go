// Package ledger is the domain of traceledger: signed records about lots of
// specialty products, the rules that decide who may sign what, and the
// append-only, Merkle-hashed log they are kept in.
//
// A record travels in three steps:
//
//  1. Admit (envelope.go) runs the stateless checks on a client's envelope:
//     RFC 8785 canonical bytes, field validity (GS1 identifiers, UN/ECE
//     Rec 20 units, RFC 3339 times), and EIP-191 signature recovery. It is
//     the expensive step and runs, in parallel, on the leader: a follower
//     forwards the request unread, because the leader could not trust a
//     follower's verdict and would have to check again (see DESIGN.md,
//     "Where admission runs").
//  2. EncodeCommand packs admitted envelopes, with the leader's record time,
//     into one replicated log entry.
//  3. Apply (apply.go, rules.go) runs the stateful rules of DESIGN §3.3 in log order
//     and writes entries, lot and participant state, indexes and Merkle
//     hashes through a Writer. The same Apply serves the Raft state machine,
//     replay and audit.
//
// The package knows nothing of HTTP or Raft. It reads and writes storage
// through the Reader, Writer and Store interfaces it declares (storage.go);
// ledger/badgerkv implements them over Badger.
package ledger
