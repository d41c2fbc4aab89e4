package consensus

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func newFSM(t *testing.T, store ledger.SnapshotStore) *FSM {
	t.Helper()
	f, err := NewFSM(store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func cmdLog(i uint64, data []byte) *raft.Log {
	return &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: data}
}

func genesisData(admins ...common.Address) []byte {
	return ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdGenesis, Time: t0, Admins: admins})
}

func recordsData(i int, envs ...*ledger.Admitted) []byte {
	return ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: t0.Add(time.Duration(i) * time.Second), Envelopes: envs})
}

func metaData(t *testing.T, m nodeMeta) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{ledger.CmdNodeMeta}, b...)
}

// ledgerFixture is an FSM over a fresh store with a genesis log (1) and a
// records log (2) holding two registrations by the admin and one by a
// stranger, which is refused.
type ledgerFixture struct {
	admin *ecdsa.PrivateKey
	store *badgerkv.DB
	fsm   *FSM
	logs  []*raft.Log
	out   []interface{}
}

func newLedgerFixture(t *testing.T) *ledgerFixture {
	t.Helper()
	admin, stranger := newKey(t), newKey(t)
	x := &ledgerFixture{admin: admin, store: newStore(t)}
	x.fsm = newFSM(t, x.store)
	x.logs = []*raft.Log{
		cmdLog(1, genesisData(ledger.AddressOf(admin))),
		cmdLog(2, recordsData(1, registration(t, admin, "a"), registration(t, admin, "b"), registration(t, stranger, "c"))),
	}
	x.out = x.fsm.ApplyBatch(x.logs)
	return x
}

func TestFSMApplyBatchReturnsResultsPerLog(t *testing.T) {
	x := newLedgerFixture(t)
	if len(x.out) != 2 {
		t.Fatalf("%d responses for 2 logs", len(x.out))
	}
	if res, _ := x.out[0].([]ledger.Result); len(res) != 0 {
		t.Fatalf("genesis answered %v", x.out[0])
	}
	res, ok := x.out[1].([]ledger.Result)
	if !ok || len(res) != 3 {
		t.Fatalf("records log answered %#v, want 3 results", x.out[1])
	}
	if res[0].Err != nil || res[0].Seq != 1 || res[1].Err != nil || res[1].Seq != 2 {
		t.Fatalf("accepted registrations: %+v %+v", res[0], res[1])
	}
	if !errors.Is(res[2].Err, ledger.ErrNotRegistered) {
		t.Fatalf("stranger's registration: %v, want ErrNotRegistered", res[2].Err)
	}
	if h := headOf(t, x.store); h.Size != 3 {
		t.Fatalf("size %d, want 3", h.Size)
	}
	if a, _ := x.fsm.Applied(); a != 2 || storedApplied(t, x.store) != 2 {
		t.Fatalf("applied %d, stored %d, want 2", a, storedApplied(t, x.store))
	}
}

func TestFSMSkipsLogsAlreadyApplied(t *testing.T) {
	x := newLedgerFixture(t)
	head := headOf(t, x.store)
	_, ch := x.fsm.Applied()
	for i, r := range x.fsm.ApplyBatch(x.logs) {
		if r != nil {
			t.Fatalf("replayed log %d answered %v", i+1, r)
		}
	}
	if got := headOf(t, x.store); got != head {
		t.Fatalf("replay moved the head from %+v to %+v", head, got)
	}
	select {
	case <-ch:
		t.Fatal("a replay that applied nothing signalled progress")
	default:
	}
	// A new FSM over the same store (a restart) knows what is applied.
	f2 := newFSM(t, x.store)
	if a, _ := f2.Applied(); a != 2 {
		t.Fatalf("restarted FSM applied %d, want 2", a)
	}
	f2.ApplyBatch(x.logs)
	if got := headOf(t, x.store); got != head {
		t.Fatalf("replay after restart moved the head from %+v to %+v", head, got)
	}
	// The same envelopes in a new log are answered idempotently.
	again := cmdLog(3, x.logs[1].Data)
	res := f2.ApplyBatch([]*raft.Log{again})[0].([]ledger.Result)
	if !res[0].Existing || res[0].Seq != 1 || !res[1].Existing || res[1].Seq != 2 {
		t.Fatalf("resubmission answered %+v", res)
	}
	if got := headOf(t, x.store); got != head {
		t.Fatalf("resubmission moved the head from %+v to %+v", head, got)
	}
}

// Raft replays the log after a restart in batches; a replayed batch that
// ends below the stored applied index must not lower it, or a crash
// during the replay makes the next start apply those logs a second time.
func TestFSMReplayedPrefixKeepsStoredAppliedIndex(t *testing.T) {
	x := newLedgerFixture(t)
	x.fsm.ApplyBatch([]*raft.Log{cmdLog(3, metaData(t, nodeMeta{ID: "n1", HTTP: "http://n1"}))})
	if got := storedApplied(t, x.store); got != 3 {
		t.Fatalf("stored applied %d, want 3", got)
	}
	x.fsm.ApplyBatch(x.logs) // logs 1 and 2 again, as a replay does
	if got := storedApplied(t, x.store); got != 3 {
		t.Errorf("a replay of logs 1–2 set the stored applied index to %d, want 3", got)
	}
	if a, _ := newFSM(t, x.store).Applied(); a != 3 {
		t.Errorf("FSM restarted after the replay starts at applied %d, want 3", a)
	}
}

func TestFSMIgnoresNonCommandLogsButAdvances(t *testing.T) {
	store := newStore(t)
	f := newFSM(t, store)
	out := f.ApplyBatch([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("not a command")},
		{Index: 2, Term: 1, Type: raft.LogCommand},
		{Index: 3, Term: 1, Type: raft.LogNoop},
		{Index: 4, Term: 1, Type: raft.LogBarrier},
	})
	for i, r := range out {
		if r != nil {
			t.Errorf("log %d answered %v", i+1, r)
		}
	}
	if a, _ := f.Applied(); a != 4 || storedApplied(t, store) != 4 {
		t.Fatalf("applied %d, stored %d, want 4", a, storedApplied(t, store))
	}
	if h := headOf(t, store); h.Size != 0 {
		t.Fatalf("size %d, want 0", h.Size)
	}
}

func TestFSMAppliedSignalsProgress(t *testing.T) {
	f := newFSM(t, newStore(t))
	a0, ch0 := f.Applied()
	if a0 != 0 {
		t.Fatalf("fresh FSM applied %d", a0)
	}
	woke := make(chan struct{})
	go func() { <-ch0; close(woke) }()
	f.ApplyBatch([]*raft.Log{cmdLog(1, nil)})
	select {
	case <-woke:
	case <-time.After(waitTimeout):
		t.Fatal("waiter not woken when the applied index advanced")
	}
	a1, ch1 := f.Applied()
	if a1 != 1 {
		t.Fatalf("applied %d, want 1", a1)
	}
	select {
	case <-ch1:
		t.Fatal("the new wait channel is already closed")
	default:
	}
	f.ApplyBatch([]*raft.Log{cmdLog(7, nil)})
	if a, _ := f.Applied(); a != 7 {
		t.Fatalf("applied %d, want 7", a)
	}
	select {
	case <-ch1:
	default:
		t.Fatal("wait channel not closed when the applied index advanced")
	}
}

func TestFSMStoresNodeMeta(t *testing.T) {
	store := newStore(t)
	f := newFSM(t, store)
	_, vkey, err := NewCheckpointKey(rand.Reader, "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := nodeMeta{ID: "n1", HTTP: "http://10.0.0.1:8080", Key: vkey}
	out := f.ApplyBatch([]*raft.Log{cmdLog(1, metaData(t, want)), cmdLog(2, metaData(t, nodeMeta{ID: "n2", HTTP: "http://n2"}))})
	if out[0] != nil || out[1] != nil {
		t.Fatalf("node meta answered %v", out)
	}
	var got nodeMeta
	if err := store.View(func(r ledger.Reader) error {
		v, ok, err := r.Get([]byte("n/n1"))
		if err != nil || !ok {
			t.Fatalf("n/n1: found %v, %v", ok, err)
		}
		return json.Unmarshal(v, &got)
	}); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
	n := &Node{store: store}
	if m, ok := n.meta("n2"); !ok || m.HTTP != "http://n2" {
		t.Fatalf("meta(n2) = %+v, %v", m, ok)
	}
	if _, ok := n.meta("n3"); ok {
		t.Fatal("meta of an unknown node found")
	}
}

func TestFSMCheckpointLogs(t *testing.T) {
	x := newLedgerFixture(t)
	out := x.fsm.ApplyBatch([]*raft.Log{
		cmdLog(3, []byte{ledger.CmdCheckpoint}),
		cmdLog(4, append([]byte{ledger.CmdCheckpoint}, "garbage\n\n— x y\n"...)),
	})
	if out[0] != nil || out[1] != nil {
		t.Fatalf("malformed checkpoints answered %v", out)
	}
	if a, _ := x.fsm.Applied(); a != 4 {
		t.Fatalf("applied %d after malformed checkpoints, want 4", a)
	}
	if _, _, ok := latestCheckpoint(t, x.store); ok {
		t.Fatal("a malformed checkpoint was stored")
	}

	c, msg, vkey := signCurrentCheckpoint(t, x.store)
	x.fsm.ApplyBatch([]*raft.Log{cmdLog(5, append([]byte{ledger.CmdCheckpoint}, msg...))})
	got, stored, ok := latestCheckpoint(t, x.store)
	if !ok || got != c || !bytes.Equal(stored, msg) {
		t.Fatalf("latest checkpoint %+v (%v), want %+v", got, ok, c)
	}
	if _, _, err := ledger.OpenCheckpoint(stored, []string{vkey}); err != nil {
		t.Fatalf("stored checkpoint does not verify: %v", err)
	}
}

// Everything the FSM writes is in the ledger's key table: the ledger's
// audit of a store that took genesis, records, node metadata and a
// checkpoint through the log finds nothing unexpected.
func TestFSMStateAuditsClean(t *testing.T) {
	x := newLedgerFixture(t)
	_, msg, vkey := signCurrentCheckpoint(t, x.store)
	x.fsm.ApplyBatch([]*raft.Log{
		cmdLog(3, metaData(t, nodeMeta{ID: "n1", HTTP: "http://10.0.0.1:8080", Key: vkey})),
		cmdLog(4, append([]byte{ledger.CmdCheckpoint}, msg...)),
	})
	auditClean(t, x.store)
}

// auditClean runs the ledger's audit over s and fails on any finding.
func auditClean(t *testing.T, s ledger.Store) {
	t.Helper()
	s.View(func(r ledger.Reader) error {
		if fails := ledger.Audit(r, ledger.NewMemStore(), nil); len(fails) != 0 {
			t.Errorf("audit: %v", fails)
		}
		return nil
	})
}

// signCurrentCheckpoint signs, as node n1, a checkpoint of the store's
// current size and root (no lot-heads line) and returns it with n1's key.
func signCurrentCheckpoint(t *testing.T, s ledger.Store) (ledger.Checkpoint, []byte, string) {
	t.Helper()
	signer, vkey := checkpointKeys(t, "n1")
	var c ledger.Checkpoint
	if err := s.View(func(r ledger.Reader) (err error) {
		if c.Origin, err = ledger.Origin(r); err != nil {
			return err
		}
		h, err := ledger.ReadHead(r)
		c.Size, c.Root = h.Size, h.Root
		return err
	}); err != nil {
		t.Fatal(err)
	}
	msg, err := ledger.SignCheckpoint(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	return c, msg, vkey
}

func latestCheckpoint(t *testing.T, s ledger.Store) (ledger.Checkpoint, []byte, bool) {
	t.Helper()
	var c ledger.Checkpoint
	var msg []byte
	var ok bool
	if err := s.View(func(r ledger.Reader) (err error) { c, msg, ok, err = ledger.LatestCheckpoint(r); return err }); err != nil {
		t.Fatal(err)
	}
	return c, msg, ok
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	failWrite         bool
	closed, cancelled bool
}

func (s *memSink) ID() string { return "mem" }

func (s *memSink) Write(p []byte) (int, error) {
	if s.failWrite {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}

func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

func TestFSMSnapshotRestore(t *testing.T) {
	x := newLedgerFixture(t)
	x.fsm.ApplyBatch([]*raft.Log{cmdLog(3, metaData(t, nodeMeta{ID: "n1", HTTP: "http://n1"}))})
	head := headOf(t, x.store)

	snap, err := x.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after Snapshot are not in it: Persist runs concurrently with
	// ApplyBatch and must write the point-in-time state.
	later := cmdLog(4, recordsData(2, registration(t, x.admin, "late")))
	x.fsm.ApplyBatch([]*raft.Log{later, cmdLog(5, metaData(t, nodeMeta{ID: "n2", HTTP: "http://n2"}))})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v, cancelled %v", sink.closed, sink.cancelled)
	}

	store2 := newStore(t)
	f2 := newFSM(t, store2)
	_, ch := f2.Applied()
	if err := f2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := headOf(t, store2); got != head {
		t.Fatalf("restored head %+v, want %+v", got, head)
	}
	if a, _ := f2.Applied(); a != 3 {
		t.Fatalf("restored applied %d, want 3", a)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Restore did not signal the new applied index")
	}
	if f2.restores.Load() != 1 {
		t.Fatalf("restores %d, want 1", f2.restores.Load())
	}
	n := &Node{store: store2}
	if _, ok := n.meta("n1"); !ok {
		t.Fatal("node meta lost in the snapshot")
	}
	if _, ok := n.meta("n2"); ok {
		t.Fatal("node meta written after the snapshot is in it")
	}
	// Replaying the rest of the log from the snapshot converges.
	f2.ApplyBatch(append(x.logs, later, cmdLog(5, metaData(t, nodeMeta{ID: "n2", HTTP: "http://n2"}))))
	if a, b := headOf(t, store2), headOf(t, x.store); a != b {
		t.Fatalf("after replay %+v, original %+v", a, b)
	}
}

func TestFSMPersistFailureCancelsSink(t *testing.T) {
	x := newLedgerFixture(t)
	snap, err := x.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{failWrite: true}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist into a failing sink succeeded")
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("sink closed %v, cancelled %v; want cancelled only", sink.closed, sink.cancelled)
	}
}

// countingStore counts store transactions.
type countingStore struct {
	*badgerkv.DB
	updates int
}

func (c *countingStore) Update(fn func(ledger.Writer) error) error {
	c.updates++
	return c.DB.Update(fn)
}

func TestFSMSplitsLargeBatchIntoTransactions(t *testing.T) {
	store := &countingStore{DB: newStore(t)}
	f := newFSM(t, store)
	admin := newKey(t)
	logs := []*raft.Log{cmdLog(1, genesisData(ledger.AddressOf(admin)))}
	// Values stay under the in-memory Badger's 64 KiB value limit.
	big := strings.Repeat("x", 50_000)
	var ids []string
	total := 0
	for i := 0; i < 50; i++ {
		ids = append(ids, fmt.Sprintf("m%d", i))
		logs = append(logs, cmdLog(uint64(len(logs)+1), metaData(t, nodeMeta{ID: ids[i], HTTP: "http://h/" + big})))
	}
	logs = append(logs, cmdLog(uint64(len(logs)+1), recordsData(1, registration(t, admin, "after-the-big-ones"))))
	for _, l := range logs {
		total += len(l.Data)
	}
	if total <= maxTxnBytes {
		t.Fatalf("batch of %d bytes is not larger than maxTxnBytes", total)
	}
	out := f.ApplyBatch(logs)
	if store.updates < 2 {
		t.Fatalf("a %d-byte batch applied in %d transaction(s)", total, store.updates)
	}
	t.Logf("%d bytes in %d transactions", total, store.updates)
	last := uint64(len(logs))
	if a, _ := f.Applied(); a != last || storedApplied(t, store) != last {
		t.Fatalf("applied %d, stored %d, want %d", a, storedApplied(t, store), last)
	}
	n := &Node{store: store}
	for _, id := range ids {
		if m, ok := n.meta(id); !ok || len(m.HTTP) != len("http://h/"+big) {
			t.Fatalf("meta %s not applied", id)
		}
	}
	if res, _ := out[len(out)-1].([]ledger.Result); len(res) != 1 || res[0].Err != nil || res[0].Seq != 1 {
		t.Fatalf("records log after the big ones answered %#v", out[len(out)-1])
	}
}

// The leader hands its FSM the records it decoded on admission; the FSM
// uses and forgets them, and applies exactly as a follower would.
func TestFSMRecallsLeaderDecodedRecords(t *testing.T) {
	admin := newKey(t)
	envs := registrations(t, admin, "d", 3)
	heads := map[bool]ledger.Head{}
	for _, leader := range []bool{true, false} {
		store := newStore(t)
		f := newFSM(t, store)
		if leader {
			f.rememberDecoded(envs)
		}
		out := f.ApplyBatch([]*raft.Log{cmdLog(1, genesisData(ledger.AddressOf(admin))), cmdLog(2, recordsData(1, envs...))})
		for i, r := range out[1].([]ledger.Result) {
			if r.Err != nil || r.Seq != uint64(i+1) {
				t.Fatalf("leader %v: result %d: %+v", leader, i, r)
			}
		}
		if len(f.decoded) != 0 {
			t.Fatalf("leader %v: %d decoded records kept after apply", leader, len(f.decoded))
		}
		heads[leader] = headOf(t, store)
	}
	if heads[true] != heads[false] {
		t.Fatalf("leader head %+v, follower head %+v", heads[true], heads[false])
	}
}
