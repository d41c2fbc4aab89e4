package ledger

import "fmt"

// Raft log payload kinds. The first byte of a Raft log entry's data says
// what the rest of it carries. This table is the only place kinds are
// defined; the ledger owns the log's binary formats and consensus uses
// these constants. A new form of a payload takes a new kind byte, never a
// new meaning for an old one.
//
//	kind  name        carries                                   written by                        decoded by
//	0x01  records     leader's time, admitted envelopes         consensus committer (commit.go)   DecodeCommand, then Apply
//	0x02  genesis     leader's time, the genesis admins         consensus bootstrap (node.go)     DecodeCommand, then Apply
//	0x80  node-meta   JSON: node id, HTTP address, note key     consensus membership.go           consensus FSM; stored at NodeMetaKey(id)
//	0x81  checkpoint  a cosigned checkpoint note                consensus checkpointer.go         PutCheckpoint; stored under c/
//
// Kinds below 0x80 are ledger commands (Command, see EncodeCommand);
// kinds from 0x80 are the consensus layer's own and DecodeCommand refuses
// them. A log entry of any other kind is refused by every node alike.
const (
	CmdRecords    byte = 0x01
	CmdGenesis    byte = 0x02
	CmdNodeMeta   byte = 0x80
	CmdCheckpoint byte = 0x81
)

// kindNames names every kind in the table above.
var kindNames = map[byte]string{
	CmdRecords:    "records",
	CmdGenesis:    "genesis",
	CmdNodeMeta:   "node-meta",
	CmdCheckpoint: "checkpoint",
}

// PayloadKinds returns every payload kind, in byte order.
func PayloadKinds() []byte {
	return []byte{CmdRecords, CmdGenesis, CmdNodeMeta, CmdCheckpoint}
}

// KindName names a payload kind for logs and metrics: "records",
// "genesis", "node-meta", "checkpoint", or "unknown-0xNN".
func KindName(kind byte) string {
	if n, ok := kindNames[kind]; ok {
		return n
	}
	return fmt.Sprintf("unknown-0x%02x", kind)
}

// isCommandKind reports whether kind is a ledger command, the payload
// DecodeCommand reads.
func isCommandKind(kind byte) bool { return kind == CmdRecords || kind == CmdGenesis }
