package consensus

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
)

// A peer that can append to the log must not be able to forge a record:
// every node verifies every logged envelope itself.
func TestFSMRefusesForgedEnvelopes(t *testing.T) {
	admin, stranger := newKey(t), newKey(t)
	good := registration(t, admin, "genuine")
	// The stranger's registration, relabelled as the admin's: right
	// record bytes for the admin, wrong signature.
	bySelf := registration(t, stranger, "forged")
	relabelled := &ledger.Admitted{Canonical: bySelf.Canonical, Signature: bySelf.Signature, Signer: ledger.AddressOf(admin)}
	// A record naming the admin as signer, with an all-zero signature.
	zero := &ledger.Admitted{Canonical: bytes.Replace(bySelf.Canonical, []byte(ledger.AddressOf(stranger).Hex()), []byte(ledger.AddressOf(admin).Hex()), 1),
		Signature: make([]byte, ledger.SignatureLen), Signer: ledger.AddressOf(admin)}
	// The genuine record with its signature, but not in canonical form.
	spaced := &ledger.Admitted{Canonical: append([]byte(" "), good.Canonical...), Signature: good.Signature, Signer: good.Signer}

	for _, leader := range []bool{false, true} {
		store := newStore(t)
		f := newFSM(t, store)
		if leader {
			// The leader remembers what it admitted; forged bytes must
			// not borrow that verdict.
			f.rememberDecoded([]*ledger.Admitted{good})
		}
		f.ApplyBatch([]*raft.Log{cmdLog(1, genesisData(ledger.AddressOf(admin)))})
		before := headOf(t, store)
		// Decoded afresh, as any node decodes a log entry.
		out := f.ApplyBatch([]*raft.Log{cmdLog(2, recordsData(1, zero, relabelled, spaced))})
		res, _ := out[0].([]ledger.Result)
		if len(res) != 3 {
			t.Fatalf("leader=%v: results %#v", leader, out[0])
		}
		for i, r := range res {
			if r.Err == nil || !r.Unverified {
				t.Errorf("leader=%v: forged envelope %d accepted: %+v", leader, i, r)
			}
		}
		if kind, _, _ := ledger.Describe(res[0].Err); kind != ledger.KindSignature {
			t.Errorf("zero signature refused as %v", res[0].Err)
		}
		if h := headOf(t, store); h != before {
			t.Errorf("leader=%v: head moved from %+v to %+v", leader, before, h)
		}
		if got := f.UnverifiedRecords(); got != 3 {
			t.Errorf("leader=%v: %d unverified counted, want 3", leader, got)
		}
		// The genuine envelope still applies, verified or remembered.
		out = f.ApplyBatch([]*raft.Log{cmdLog(3, recordsData(2, good))})
		if res, _ := out[0].([]ledger.Result); len(res) != 1 || res[0].Err != nil {
			t.Errorf("leader=%v: genuine envelope: %#v", leader, out[0])
		}
	}
}

// Bytes no honest leader proposes are skipped alike on every node: never a
// panic, and the node keeps applying what follows.
func TestFSMRefusesUndecodableLogs(t *testing.T) {
	admin := newKey(t)
	garbage := [][]byte{
		append([]byte{ledger.CmdNodeMeta}, "not json"...),
		append([]byte{ledger.CmdNodeMeta}, `{"id":"n9","http":"ftp://x"}`...),
		append([]byte{ledger.CmdNodeMeta}, `{"id":"","http":"http://x"}`...),
		append([]byte{ledger.CmdNodeMeta}, `{"id":"n9","key":"nope"}`...),
		{ledger.CmdNodeMeta},
		{0x7f, 1, 2, 3},
		{ledger.CmdRecords},
		append([]byte{ledger.CmdRecords}, make([]byte, 8)...),
		append(append([]byte{ledger.CmdRecords}, make([]byte, 8)...), 0xff, 0xff, 0xff, 0xff, 0x0f),
		append([]byte{ledger.CmdRecords}, bytes.Repeat([]byte{0}, maxLogBytes+1)...),
	}
	for _, leader := range []bool{false, true} {
		store := newStore(t)
		f := newFSM(t, store)
		logs := []*raft.Log{cmdLog(1, genesisData(ledger.AddressOf(admin)))}
		for _, g := range garbage {
			logs = append(logs, cmdLog(uint64(len(logs)+1), g))
		}
		logs = append(logs, cmdLog(uint64(len(logs)+1), recordsData(1, registration(t, admin, "after"))))
		var out []interface{}
		if leader {
			out = f.ApplyBatch(logs) // one transaction
		} else {
			for _, l := range logs { // one by one
				out = append(out, f.ApplyBatch([]*raft.Log{l})...)
			}
		}
		if got := f.RefusedLogs(); got != int64(len(garbage)) {
			t.Errorf("%d log entries refused, want %d", got, len(garbage))
		}
		if res, _ := out[len(out)-1].([]ledger.Result); len(res) != 1 || res[0].Err != nil || res[0].Seq != 1 {
			t.Errorf("records after the garbage: %#v", out[len(out)-1])
		}
		if a := storedApplied(t, store); a != uint64(len(logs)) {
			t.Errorf("applied %d, want %d", a, len(logs))
		}
		n := &Node{store: store}
		if _, ok := n.meta("n9"); ok {
			t.Error("a malformed node meta was stored")
		}
	}
}

func TestDecodeNodeMeta(t *testing.T) {
	_, vkey, err := NewCheckpointKey(strings.NewReader(strings.Repeat("k", 64)), "n1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"id":"n1","http":"http://10.0.0.1:8080","key":"` + vkey + `"}`, true},
		{`{"id":"n1","http":"https://n1.example:8443"}`, true},
		{`{"id":"n1"}`, true},
		{`{"id":"n1","http":"javascript:alert(1)"}`, false},
		{`{"id":"n1","http":"http://"}`, false},
		{`{"id":"n1","extra":1}`, false},
		{`{"id":"n1"} {}`, false},
		{`{"id":"` + strings.Repeat("x", 200) + `"}`, false},
	} {
		if _, err := decodeNodeMeta([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}
