package consensus

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// diskFixture is an FSM over a Badger store on disk, with genesis (log 1)
// and two accepted registrations (log 2) applied.
func diskFixture(t *testing.T) (*FSM, *badgerkv.DB, []*raft.Log) {
	t.Helper()
	store, err := badgerkv.Open(badgerkv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	admin := newKey(t)
	f := newFSM(t, store)
	logs := []*raft.Log{
		cmdLog(1, genesisData(ledger.AddressOf(admin))),
		cmdLog(2, recordsData(1, registration(t, admin, "a"), registration(t, admin, "b"))),
	}
	f.ApplyBatch(logs)
	logs = append(logs, cmdLog(3, recordsData(2, registration(t, admin, "c"))))
	return f, store, logs
}

func newTestSnapshotStore(t *testing.T, state ledger.SnapshotStore) *snapshotStore {
	t.Helper()
	s, err := newSnapshotStore(t.TempDir(), state, hclog.NewNullLogger(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// persist takes an FSM snapshot into s as Raft would, at index.
func persist(t *testing.T, f *FSM, s *snapshotStore, index uint64) string {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink, err := s.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

func TestReferenceSnapshotHoldsNoState(t *testing.T) {
	f, _, _ := diskFixture(t)
	s := newTestSnapshotStore(t, f.store)
	id := persist(t, f, s, 2)
	metas, err := s.List()
	if err != nil || len(metas) != 1 {
		t.Fatalf("list: %v %v", metas, err)
	}
	if metas[0].Size > int64(maxStateRef) {
		t.Fatalf("a reference snapshot of %d bytes", metas[0].Size)
	}
	applied, ok, err := s.reference(metas[0])
	if err != nil || !ok || applied != 2 || metas[0].ID != id {
		t.Fatalf("reference: %d %v %v, want index 2", applied, ok, err)
	}
}

// TestReferenceSnapshotOpensAsTheLiveState: what a leader sends a lagging
// follower is its store's current state, which the follower restores and
// then skips the logs it already covers.
func TestReferenceSnapshotOpensAsTheLiveState(t *testing.T) {
	f, store, logs := diskFixture(t)
	s := newTestSnapshotStore(t, store)
	id := persist(t, f, s, 2)
	f.ApplyBatch(logs[2:]) // the store moves past the snapshot
	want := headOf(t, store)

	meta, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(body)) != meta.Size || meta.Index != 2 {
		t.Fatalf("opened %d bytes, meta says %d at index %d", len(body), meta.Size, meta.Index)
	}
	tmp, _ := filepath.Glob(filepath.Join(s.dir, sendingPattern))
	if len(tmp) != 1 {
		t.Fatalf("temporary files while open: %v", tmp)
	}
	rc.Close()
	if tmp, _ = filepath.Glob(filepath.Join(s.dir, sendingPattern)); len(tmp) != 0 {
		t.Fatalf("temporary files left after close: %v", tmp)
	}

	follower := newStore(t)
	f2 := newFSM(t, follower)
	if err := f2.Restore(io.NopCloser(bytes.NewReader(body))); err != nil {
		t.Fatal(err)
	}
	if got := headOf(t, follower); got != want {
		t.Fatalf("restored head %+v, want %+v", got, want)
	}
	if a, _ := f2.Applied(); a != 3 {
		t.Fatalf("restored applied %d, want 3 (the live state's)", a)
	}
	// Raft replays from the snapshot's index: log 3 is already covered.
	f2.ApplyBatch(logs[2:])
	if got := headOf(t, follower); got != want {
		t.Fatalf("after replay %+v, want %+v", got, want)
	}
}

func TestReferenceSnapshotRefusesAStoreBehindIt(t *testing.T) {
	f, store, _ := diskFixture(t)
	s := newTestSnapshotStore(t, store)
	// A reference naming an index the store never reached: the store
	// lost writes it had synced.
	sink, err := s.Create(raft.SnapshotVersionMax, 9, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink.Write(stateRef(9))
	sink.Close()
	if _, _, err := s.Open(sink.ID()); !errors.Is(err, ErrStateBehind) {
		t.Fatalf("open: %v, want ErrStateBehind", err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(s.dir, sendingPattern)); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	// The same reference sent by a peer as a snapshot to install.
	if err := f.Restore(io.NopCloser(bytes.NewReader(stateRef(9)))); !errors.Is(err, ErrStateBehind) {
		t.Fatalf("restore a reference past the store: %v, want ErrStateBehind", err)
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader(stateRef(2)))); err != nil {
		t.Fatalf("restore a reference the store covers: %v", err)
	}
	if f.restores.Load() != 0 {
		t.Fatal("a reference counted as a restore")
	}
}

func TestReferenceSnapshotSyncFailureCancels(t *testing.T) {
	f, store, _ := diskFixture(t)
	store.Close() // Sync now fails
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err == nil {
		t.Fatal("Persist over a closed store succeeded")
	}
	if !sink.cancelled || sink.closed || sink.Len() != 0 {
		t.Fatalf("sink closed %v, cancelled %v, %d bytes", sink.closed, sink.cancelled, sink.Len())
	}
}

func TestWholeStateSnapshotsOpenAsWritten(t *testing.T) {
	x := newLedgerFixture(t) // in memory: whole-state snapshots
	s := newTestSnapshotStore(t, x.store)
	id := persist(t, x.fsm, s, 2)
	metas, err := s.List()
	if err != nil || len(metas) != 1 {
		t.Fatalf("list: %v %v", metas, err)
	}
	if _, ok, err := s.reference(metas[0]); ok || err != nil {
		t.Fatalf("an in-memory store's snapshot is a reference (%v)", err)
	}
	meta, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	store2 := newStore(t)
	if err := newFSM(t, store2).Restore(rc); err != nil {
		t.Fatal(err)
	}
	if headOf(t, store2) != headOf(t, x.store) || meta.Size <= int64(maxStateRef) {
		t.Fatalf("whole-state snapshot of %d bytes did not restore the head", meta.Size)
	}
}

func TestNewSnapshotStoreRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "sending-state-1.tmp")
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newSnapshotStore(dir, newStore(t), hclog.NewNullLogger(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file: %v", err)
	}
}

// TestNodeRestartsOverAReferenceSnapshot: a node snapshots by reference,
// restarts over its store without restoring anything, and refuses to
// start over a store that lost what the snapshot refers to.
func TestNodeRestartsOverAReferenceSnapshot(t *testing.T) {
	admin := newKey(t)
	dir := t.TempDir()
	open := func() *badgerkv.DB {
		db, err := badgerkv.Open(badgerkv.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	store := open()
	cfg := Config{ID: "s", Dir: dir, RaftBind: "127.0.0.1:0", Bootstrap: true,
		Admins:           []common.Address{ledger.AddressOf(admin)},
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond}
	start := func(store *badgerkv.DB) *testNode {
		t.Helper()
		nd, err := New(cfg, store)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { nd.Shutdown() })
		n := &testNode{Node: nd, admin: admin, store: store}
		pollUntil(t, "leadership and genesis", func() bool { return n.IsLeader() && headOf(t, store).Size > 0 })
		return n
	}
	n := start(store)
	n.submit(t, registrations(t, admin, "s", 3))
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	files, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	metas, err := files.List()
	if err != nil || len(metas) != 1 || metas[0].Size > int64(maxStateRef) {
		t.Fatalf("snapshots %+v (%v): want one reference", metas, err)
	}
	head := headOf(t, store)
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}

	n = start(store)
	if n.fsm.restores.Load() != 0 {
		t.Fatal("the node restored its own reference snapshot")
	}
	if got := headOf(t, store); got != head {
		t.Fatalf("head after restart %+v, want %+v", got, head)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// The same Raft directory over a store that lost its state.
	if _, err := New(cfg, open()); !errors.Is(err, ErrStateBehind) {
		t.Fatalf("start over an empty store: %v, want ErrStateBehind", err)
	}
}
