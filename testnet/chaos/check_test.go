package chaos

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

func envOp(kind, k string, out outcome, seq uint64) *op {
	return &op{Kind: kind, Env: &ledger.Envelope{}, In: lotInput{Key: k}, Out: lotOutput{Outcome: out}, Seq: seq}
}

func TestCheckEnvelopes(t *testing.T) {
	ix := logIndex{
		byKey: map[string][]uint64{"a/1": {3}, "a/2": {4}, "a/3": {5}, "a/4": {6, 9}, "a/5": {7}},
		bySig: map[string][]uint64{"0x1111111111111111": {3}, "0x2222222222222222": {4, 8}},
	}
	history := []*op{
		envOp("harvest", "a/1", outAcked, 3),             // fine
		envOp("transfer", "a/2", outAcked, 2),            // acknowledged elsewhere than it is
		envOp("transfer", "a/0", outAcked, 1),            // acknowledged, absent: lost
		envOp("receive", "a/3", outRefused, 0),           // refused, yet there
		envOp("receive", "a/5", outUnknown, 0),           // unknown, there: applied
		envOp("receive", "a/6", outUnknown, 0),           // unknown, absent: never applied
		{Kind: "read", Out: lotOutput{Outcome: outRead}}, // reads have no envelope
	}
	var r Report
	r.checkEnvelopes(history, ix)
	if len(r.Lost) != 2 || !strings.Contains(r.Lost[0], "a/2") || !strings.Contains(r.Lost[1], "a/0") {
		t.Errorf("lost: %q", r.Lost)
	}
	if len(r.RefusedApplied) != 1 || !strings.Contains(r.RefusedApplied[0], "a/3") {
		t.Errorf("refused but applied: %q", r.RefusedApplied)
	}
	if len(r.Duplicated) != 2 || !strings.Contains(r.Duplicated[0], "a/4") || !strings.Contains(r.Duplicated[1], "0x2222") {
		t.Errorf("duplicated: %q", r.Duplicated)
	}
	if history[4].resolved != resolvedApplied || history[5].resolved != resolvedNotApplied || history[0].resolved != unresolved {
		t.Errorf("resolutions: %v %v %v", history[4].resolved, history[5].resolved, history[0].resolved)
	}
	lots := lotHistories([]*op{history[4], history[5]})
	if n := len(lots[""]); n != 1 {
		t.Errorf("%d operations of the resolved ones kept, want the applied one", n)
	}
	if a := r.Anomalies(); len(a) != 4 { // not converged, lost, duplicated, refused applied
		t.Errorf("anomalies: %q", a)
	}
}

// testLog is a log of n made-up entries.
func testLog(t *testing.T, id string, n int, salt string) *nodeLog {
	t.Helper()
	l := &nodeLog{ID: id}
	for i := 0; i < n; i++ {
		data := []byte(fmt.Sprintf("entry %d %s", i, salt))
		hs, err := tlog.StoredHashes(int64(i), data, l.hashes)
		if err != nil {
			t.Fatal(err)
		}
		l.hashes = append(l.hashes, hs...)
		l.Entries = append(l.Entries, data)
	}
	l.Size = uint64(n)
	var err error
	if l.Root, err = l.treeHash(l.Size); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCheckDivergence(t *testing.T) {
	a, b := testLog(t, "n1", 10, ""), testLog(t, "n2", 10, "")
	lag := testLog(t, "n3", 6, "")
	var r Report
	if ref := r.checkDivergence([]*nodeLog{a, b, lag}); ref == nil || ref.Size != 10 {
		t.Fatalf("reference %+v", ref)
	}
	if len(r.Divergent) != 0 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "n3 lags") {
		t.Errorf("a lagging node: divergent %q, errors %q", r.Divergent, r.Errors)
	}
	r = Report{}
	other := testLog(t, "n3", 10, "forked")
	short := testLog(t, "n4", 4, "forked")
	r.checkDivergence([]*nodeLog{a, b, other, short, {ID: "n5", Err: fmt.Errorf("unreachable")}})
	if len(r.Divergent) != 3 || !strings.HasPrefix(r.Divergent[0], "n3") || !strings.HasPrefix(r.Divergent[1], "n4") || !strings.HasPrefix(r.Divergent[2], "n5") {
		t.Errorf("divergent: %q", r.Divergent)
	}
}

func TestCheckCheckpoints(t *testing.T) {
	ref := testLog(t, "n1", 10, "")
	forked := testLog(t, "x", 10, "forked")
	var signers []note.Signer
	var keys []string
	for _, id := range []string{"n1", "n2", "n3"} {
		skey, vkey, err := note.GenerateKey(rand.Reader, "traceledger-"+id)
		if err != nil {
			t.Fatal(err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		signers, keys = append(signers, s), append(keys, vkey)
	}
	sign := func(l *nodeLog, size uint64, by int) []byte {
		root, err := l.treeHash(size)
		if err != nil {
			t.Fatal(err)
		}
		var notes [][]byte
		for _, s := range signers[:by] {
			n, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: "traceledger/test", Size: size, Root: root}, s)
			if err != nil {
				t.Fatal(err)
			}
			notes = append(notes, n)
		}
		msg, err := ledger.MergeCosignatures(notes...)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	seen := []seenCheckpoint{
		{Node: "n1", Index: 0, Note: sign(ref, 2, 1)},                      // early, one signature: fine before the joins
		{Node: "n1", Index: 0, Note: sign(ref, 8, 2)},                      // fine
		{Node: "n2", Index: 1, Note: sign(ref, 5, 3)},                      // fine: n2 lagged
		{Node: "n1", Index: 0, Note: sign(ref, 6, 2)},                      // n1 went back: rollback
		{Node: "n3", Index: 2, Note: sign(forked, 7, 2)},                   // another tree of size 7: fork
		{Node: "n3", Index: 2, Note: sign(forked, 10, 1)},                  // one signature, after the joins
		{Node: "n2", Index: 1, Note: sign(testLog(t, "y", 12, ""), 12, 2)}, // beyond the log
	}
	var r Report
	r.checkCheckpoints(seen, keys, 3, ref)
	if r.CheckpointsSeen != len(seen) {
		t.Errorf("%d seen", r.CheckpointsSeen)
	}
	if len(r.Rollbacks) != 1 || !strings.Contains(r.Rollbacks[0], "size 6 after one of 8") {
		t.Errorf("rollbacks: %q", r.Rollbacks)
	}
	if len(r.Forks) != 3 || !strings.Contains(r.Forks[0], "size 7") || !strings.Contains(r.Forks[1], "majority") || !strings.Contains(r.Forks[2], "beyond") {
		t.Errorf("forks: %q", r.Forks)
	}
}

func TestCheckRealTimeOrder(t *testing.T) {
	at := func(k string, call, ret int64, seq uint64, out outcome, res resolution) *op {
		o := envOp("transfer", k, out, seq)
		o.Call, o.Return, o.resolved = time.Duration(call), time.Duration(ret), res
		return o
	}
	var r Report
	r.checkRealTimeOrder([]*op{
		at("a/1", 0, 10, 5, outAcked, unresolved),
		at("a/2", 5, 30, 4, outAcked, unresolved),        // concurrent with a/1: either order
		at("a/3", 20, 40, 6, outAcked, unresolved),       // after a/1: later in the log
		at("a/4", 50, 60, 3, outAcked, unresolved),       // after a/3, yet before it in the log
		at("a/5", 45, 0, 2, outUnknown, resolvedApplied), // applied, sent after a/3 returned, yet before it
		at("a/6", 45, 0, 1, outUnknown, resolvedNotApplied),
	})
	if len(r.OutOfOrder) != 2 || !strings.Contains(r.OutOfOrder[0], "a/5") || !strings.Contains(r.OutOfOrder[1], "a/4") {
		t.Errorf("out of order: %q", r.OutOfOrder)
	}
}
