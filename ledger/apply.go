package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/mod/sumdb/tlog"
)

// Result is the outcome of one envelope. Err is nil for an accepted
// envelope; Existing is true when the identical envelope was already in the
// ledger, in which case Seq and Hash name the original entry.
type Result struct {
	Seq      uint64
	Hash     tlog.Hash
	Signer   common.Address
	Existing bool
	Err      error
	// Unverified: the envelope was refused because its logged bytes did
	// not verify (record, canonical form or signature). The leader admits
	// only envelopes that verify, so on an honest cluster this never
	// happens; a node counts it as a sign of a forged log entry.
	Unverified bool
}

// Apply applies one command inside w, in order, and returns one Result per
// envelope. A refused envelope writes nothing. The returned error is a
// storage failure only: the caller must not commit w and must stop, since
// carrying on would let this node diverge from its peers.
//
// Apply is deterministic: it reads nothing but w and c (no clock, no
// randomness, no map iteration order), so every node that applies the same
// log reaches the same state and the same Merkle root.
func Apply(w Writer, c *Command) ([]Result, error) {
	switch c.Kind {
	case CmdGenesis:
		return nil, applyGenesis(w, c)
	case CmdRecords:
	default:
		return nil, fmt.Errorf("apply: unknown command kind %d", c.Kind)
	}
	rt := c.Time.UTC().Format(time.RFC3339Nano)
	out := make([]Result, len(c.Envelopes))
	parts := participantCache{}
	// Signatures first, all at once and in parallel; the rules then run
	// in log order.
	bad := verifyAll(c.Envelopes)
	origin := lazyOrigin{w: w}
	// The log's size is read once and written once per command (m/size),
	// not once per entry: every key the transaction sets or reads again
	// is paid for on the state machine's path.
	start, err := Size(w)
	if err != nil {
		return nil, err
	}
	size := start
	for i, env := range c.Envelopes {
		if bad[i] != nil {
			out[i] = Result{Signer: env.Signer, Err: bad[i], Unverified: true}
			continue
		}
		res, err := applyEnvelope(w, rt, env, parts, &origin, &size)
		if err != nil {
			return nil, fmt.Errorf("apply envelope %d: %w", i, err)
		}
		out[i] = res
	}
	if size != start {
		if err := putSize(w, size); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// refusal marks a rule failure, as opposed to a storage failure.
type refusal struct{ err error }

// lazyOrigin reads the ledger's origin once per command, and only for a
// command with a record that names its ledger.
type lazyOrigin struct {
	w      Writer
	origin string
	read   bool
}

func (o *lazyOrigin) get() (string, error) {
	if !o.read {
		var err error
		if o.origin, err = Origin(o.w); err != nil {
			return "", err
		}
		o.read = true
	}
	return o.origin, nil
}

// applyEnvelope applies one envelope as the entry at *size, the log's size
// so far in this command, and moves *size past it when it is appended.
func applyEnvelope(w Writer, recordTime string, env *Admitted, parts participantCache, origin *lazyOrigin, size *uint64) (Result, error) {
	res := Result{Signer: env.Signer}
	rec := env.Record // verified by verifyAll
	// Idempotency comes before every rule (DESIGN §3.4): a producer who
	// resends yesterday's harvest after the lot has moved on still gets 200.
	digest := sha256.Sum256(env.Canonical)
	idReused := false
	if v, ok, err := w.Get(idKey(env.Signer, rec.ID)); err != nil {
		return res, err
	} else if ok {
		if len(v) != 8+sha256.Size {
			return res, errCorrupt("id index of %s/%s", env.Signer.Hex(), rec.ID)
		}
		if bytes.Equal(v[8:], digest[:]) {
			seq := binary.BigEndian.Uint64(v[:8])
			_, data, err := GetEntry(w, seq)
			if err != nil {
				return res, err
			}
			res.Seq, res.Hash, res.Existing = seq, LeafHash(data), true
			return res, nil
		}
		idReused = true
	}
	wrongLedger := ""
	if rec.Ledger != "" {
		o, err := origin.get()
		if err != nil {
			return res, err
		}
		if rec.Ledger != o {
			wrongLedger = o
		}
	}
	a := &applier{w: w, signer: env.Signer, me: checksumHex(env.Signer, rec.Signer), idReused: idReused, wrongLedger: wrongLedger, parts: parts}
	effect, err := a.check(rec)
	if err != nil {
		if r, ok := err.(refusal); ok {
			res.Err = r.err
			return res, nil
		}
		return res, err
	}
	seq := *size
	entry := &Entry{Seq: seq, Type: rec.Type, RecordTime: recordTime, Signer: a.me,
		Record: env.Canonical, Signature: "0x" + hex.EncodeToString(env.Signature)}
	leaf, err := appendEntry(w, entry, rec.Lots(), a.partnerLots, a.participants(rec))
	if err != nil {
		return res, err
	}
	if err := indexEvent(w, seq, leaf, rec); err != nil {
		return res, err
	}
	if rec.Participant != nil {
		addr, _ := ParseAddress(rec.Participant.Address)
		if err := w.Set(cat(regIndexPrefix(addr), u64(seq)), nil); err != nil {
			return res, err
		}
	}
	if err := w.Set(idKey(env.Signer, rec.ID), cat(u64(seq), digest[:])); err != nil {
		return res, err
	}
	if err := effect(seq); err != nil {
		return res, err
	}
	res.Seq, res.Hash = seq, leaf
	*size = seq + 1
	return res, nil
}

// appendEntry writes entry as the next leaf, with its indexes, and returns
// its leaf hash; the caller writes the log's new size (m/size). lots are
// the lots whose custody chain the entry extends (it becomes their head);
// partner lots list the entry too, and it names their head as its Prev,
// but it does not become their head: a partner's event neither changes
// custody nor makes a signer's `after` stale.
//
// On a node the lot heads are read from the lot-head map, not the store
// (lotMapWriter.Get): a harvest's new lot costs no read that misses.
func appendEntry(w Writer, e *Entry, lots, partner []LotRef, parts []common.Address) (tlog.Hash, error) {
	for _, l := range partner {
		if prev, ok, err := w.Get(lotHeadKey(l)); err != nil {
			return tlog.Hash{}, err
		} else if ok && len(prev) == 8 {
			if e.Prev == nil {
				e.Prev = make(map[string]uint64, len(partner))
			}
			e.Prev[l.String()] = binary.BigEndian.Uint64(prev)
		}
	}
	for _, l := range lots {
		k := lotHeadKey(l)
		if prev, ok, err := w.Get(k); err != nil {
			return tlog.Hash{}, err
		} else if ok && len(prev) == 8 {
			if e.Prev == nil {
				e.Prev = make(map[string]uint64, len(lots))
			}
			e.Prev[l.String()] = binary.BigEndian.Uint64(prev)
		}
		if err := w.Set(k, u64(e.Seq)); err != nil {
			return tlog.Hash{}, err
		}
	}
	data, err := MarshalEntry(e)
	if err != nil {
		return tlog.Hash{}, err
	}
	leaf := LeafHash(data)
	if err := w.Set(entryKey(e.Seq), data); err != nil {
		return leaf, err
	}
	if err := appendLeaf(w, int64(e.Seq), leaf); err != nil {
		return leaf, err
	}
	for _, l := range append(lots[:len(lots):len(lots)], partner...) {
		if err := w.Set(cat(lotIndexPrefix(l), u64(e.Seq)), nil); err != nil {
			return leaf, err
		}
	}
	for _, p := range parts {
		if err := w.Set(cat(partIndexPrefix(p), u64(e.Seq)), nil); err != nil {
			return leaf, err
		}
	}
	return leaf, nil
}

func applyGenesis(w Writer, c *Command) error {
	n, err := Size(w)
	if err != nil || n != 0 {
		return err // a ledger has one genesis; a repeated proposal is a no-op
	}
	admins := make([]string, len(c.Admins))
	for i, a := range c.Admins {
		admins[i] = a.Hex()
	}
	rec, err := json.Marshal(map[string]any{"type": TypeGenesis, "admins": admins})
	if err != nil {
		return err
	}
	canon, err := Canonicalize(rec)
	if err != nil {
		return err
	}
	e := &Entry{Seq: 0, Type: TypeGenesis, RecordTime: c.Time.UTC().Format(time.RFC3339Nano), Record: canon}
	if _, err := appendEntry(w, e, nil, nil, c.Admins); err != nil {
		return err
	}
	if err := putSize(w, 1); err != nil {
		return err
	}
	if err := w.Set(keyEventIndex, eventIndexVersion); err != nil {
		return err
	}
	for _, a := range c.Admins {
		p := &ParticipantInfo{Address: a.Hex(), Name: "Genesis admin", Roles: []string{RoleAdmin}}
		if err := putJSON(w, participantKey(a), p); err != nil {
			return err
		}
		if err := w.Set(cat(regIndexPrefix(a), u64(0)), nil); err != nil {
			return err
		}
	}
	return nil
}
