package badgerkv_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dgraph-io/badger/v4"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func open(t *testing.T, opts badgerkv.Options) *badgerkv.DB {
	t.Helper()
	db, err := badgerkv.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openDisk(t *testing.T, dir string) *badgerkv.DB {
	t.Helper()
	return open(t, badgerkv.Options{Dir: dir})
}

func apply(t *testing.T, db *badgerkv.DB, c *ledger.Command) []ledger.Result {
	t.Helper()
	var res []ledger.Result
	err := db.Update(func(w ledger.Writer) error {
		var err error
		res, err = ledger.Apply(w, c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// world is an admin key and a counter for record ids.
type world struct {
	admin *ecdsa.PrivateKey
	addr  common.Address
	n     int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &world{admin: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

func (w *world) genesis(t *testing.T, db *badgerkv.DB) {
	t.Helper()
	apply(t, db, &ledger.Command{Kind: ledger.CmdGenesis, Time: t0, Admins: []common.Address{w.addr}})
}

// register appends n participant registrations signed by the admin, in one command.
func (w *world) register(t *testing.T, db *badgerkv.DB, n int) {
	t.Helper()
	for _, r := range apply(t, db, w.command(t, n)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// command returns a command of n new participant registrations.
func (w *world) command(t *testing.T, n int) *ledger.Command {
	t.Helper()
	var envs []*ledger.Admitted
	for i := 0; i < n; i++ {
		w.n++
		k, _ := crypto.GenerateKey()
		rec, _ := json.Marshal(map[string]any{"type": "participant", "id": fmt.Sprintf("p-%d", w.n),
			"time": "2026-06-01T06:15:00+07:00", "signer": w.addr.Hex(),
			"address": crypto.PubkeyToAddress(k.PublicKey).Hex(), "name": "HTX", "roles": []string{"producer"}})
		canon, err := ledger.Canonicalize(rec)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ledger.Sign(w.admin, canon)
		if err != nil {
			t.Fatal(err)
		}
		adm, err := ledger.Admit(ledger.Envelope{Record: rec, Signature: fmt.Sprintf("0x%x", sig)}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, adm)
	}
	return &ledger.Command{Kind: ledger.CmdRecords, Time: t0.Add(time.Duration(w.n) * time.Second), Envelopes: envs}
}

func head(t *testing.T, db *badgerkv.DB) ledger.Head {
	t.Helper()
	var h ledger.Head
	if err := db.View(func(r ledger.Reader) error {
		var err error
		h, err = ledger.ReadHead(r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

// dump hashes every key and value.
func dump(t *testing.T, db *badgerkv.DB) [32]byte {
	t.Helper()
	h := sha256.New()
	if err := db.View(func(r ledger.Reader) error {
		return r.Scan([]byte{}, nil, func(k, v []byte) bool {
			fmt.Fprintf(h, "%d:%s=%d:%s;", len(k), k, len(v), v)
			return true
		})
	}); err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func snapshot(t *testing.T, db *badgerkv.DB) []byte {
	t.Helper()
	s := db.Snapshot()
	defer s.Close()
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestSnapshotRestoreOnDisk(t *testing.T) {
	dir := t.TempDir()
	src := openDisk(t, filepath.Join(dir, "src"))
	defer src.Close()
	w := newWorld(t)
	w.genesis(t, src)
	w.register(t, src, 25)
	if err := src.Update(func(wr ledger.Writer) error { return ledger.SetAppliedIndex(wr, 42) }); err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, src)

	// The destination holds a different ledger, which the restore replaces.
	dstDir := filepath.Join(dir, "dst")
	dst := openDisk(t, dstDir)
	other := newWorld(t)
	other.genesis(t, dst)
	other.register(t, dst, 3)
	if err := dst.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if got, want := head(t, dst), head(t, src); got != want || got.Size != 26 {
		t.Fatalf("restored head %+v, want %+v", got, want)
	}
	if dump(t, dst) != dump(t, src) {
		t.Error("restored store differs from the source")
	}
	if err := dst.View(func(r ledger.Reader) error {
		n, err := ledger.AppliedIndex(r)
		if n != 42 {
			t.Errorf("applied index %d, want 42", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, leftover := range []string{dstDir + ".restore", dstDir + ".old"} {
		if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", leftover, err)
		}
	}

	// Both continue identically after the restore, and the restored state
	// survives a reopen.
	more := w.command(t, 2)
	apply(t, src, more)
	apply(t, dst, more)
	want := head(t, src)
	if got := head(t, dst); got != want {
		t.Errorf("after more entries: %+v vs %+v", got, want)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	dst = openDisk(t, dstDir)
	defer dst.Close()
	if got := head(t, dst); got != want {
		t.Errorf("after reopen: %+v, want %+v", got, want)
	}
}

func TestSnapshotIsPointInTime(t *testing.T) {
	src := open(t, badgerkv.Options{InMemory: true})
	defer src.Close()
	w := newWorld(t)
	w.genesis(t, src)
	w.register(t, src, 5)
	at := head(t, src)
	s := src.Snapshot()
	w.register(t, src, 5) // after the snapshot was taken
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	s.Close()
	dst := openDisk(t, filepath.Join(t.TempDir(), "db"))
	defer dst.Close()
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got := head(t, dst); got != at {
		t.Errorf("restored %+v, want the head when the snapshot was taken %+v", got, at)
	}
}

func TestRestoreTruncatedKeepsOldState(t *testing.T) {
	src := open(t, badgerkv.Options{InMemory: true})
	defer src.Close()
	w := newWorld(t)
	w.genesis(t, src)
	w.register(t, src, 10)
	snap := snapshot(t, src)

	dir := filepath.Join(t.TempDir(), "db")
	dst := openDisk(t, dir)
	defer dst.Close()
	other := newWorld(t)
	other.genesis(t, dst)
	other.register(t, dst, 2)
	before, beforeDump := head(t, dst), dump(t, dst)

	for _, cut := range []int{0, 1, 2, len(snap) / 3, len(snap) / 2, len(snap) - 2, len(snap) - 1} {
		if err := dst.Restore(bytes.NewReader(snap[:cut])); err == nil {
			t.Errorf("restore of %d of %d bytes succeeded", cut, len(snap))
		}
		if got := head(t, dst); got != before || dump(t, dst) != beforeDump {
			t.Fatalf("failed restore (%d of %d bytes) changed the store: %+v, want %+v", cut, len(snap), got, before)
		}
		if _, err := os.Stat(dir + ".restore"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("failed restore left %s.restore: %v", dir, err)
		}
	}
	// The store is still usable.
	other.register(t, dst, 1)
	if got := head(t, dst); got.Size != before.Size+1 {
		t.Errorf("after a failed restore, size %d, want %d", got.Size, before.Size+1)
	}
}

// An in-memory store (tests, --dev) promises the same: a restore that fails
// leaves the previous state.
func TestRestoreTruncatedKeepsOldStateInMemory(t *testing.T) {
	src := open(t, badgerkv.Options{InMemory: true})
	defer src.Close()
	w := newWorld(t)
	w.genesis(t, src)
	w.register(t, src, 4)
	snap := snapshot(t, src)

	dst := open(t, badgerkv.Options{InMemory: true})
	defer dst.Close()
	other := newWorld(t)
	other.genesis(t, dst)
	before := head(t, dst)
	if err := dst.Restore(bytes.NewReader(snap[:len(snap)/2])); err == nil {
		t.Fatal("truncated restore succeeded")
	}
	if got := head(t, dst); got != before {
		t.Errorf("failed in-memory restore changed the head from %+v to %+v", before, got)
	}
	// A complete snapshot restores in memory too.
	if err := dst.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if got, want := head(t, dst), head(t, src); got != want {
		t.Errorf("in-memory restore: %+v, want %+v", got, want)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := openDisk(t, dir)
	w := newWorld(t)
	w.genesis(t, db)
	w.register(t, db, 7)
	want, wantDump := head(t, db), dump(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, badgerkv.Options{Dir: dir, SyncWrites: true})
	if got := head(t, db); got != want || dump(t, db) != wantDump {
		t.Errorf("after reopen: %+v, want %+v", got, want)
	}
	w.register(t, db, 1)
	want = head(t, db)
	db.RunGC()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDisk(t, dir)
	defer db.Close()
	if got := head(t, db); got != want || got.Size != 9 {
		t.Errorf("after second reopen: %+v, want %+v", got, want)
	}
}

// A crash in the middle of a restore leaves a generation directory that
// CURRENT does not name: Open ignores and removes it. A completed restore
// survives a reopen, and the replaced generation is gone.
func TestOpenDropsUnfinishedRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	live := openDisk(t, dir)
	w := newWorld(t)
	w.genesis(t, live)
	liveHead := head(t, live)
	snap := snapshot(t, live)
	live.Close()

	// An interrupted restore: a half-loaded next generation.
	half, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "g000002")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	half.Update(func(txn *badger.Txn) error { return txn.Set([]byte("m/size"), []byte{0, 0, 0, 0, 0, 0, 0, 9}) })
	half.Close()
	db := openDisk(t, dir)
	if got := head(t, db); got != liveHead {
		t.Errorf("unfinished restore became live: %+v, want %+v", got, liveHead)
	}
	if _, err := os.Stat(filepath.Join(dir, "g000002")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unfinished generation kept: %v", err)
	}

	// A completed restore (of a bigger ledger) survives a reopen.
	w.register(t, db, 2)
	bigger := snapshot(t, db)
	biggerHead := head(t, db)
	if err := db.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if err := db.Restore(bytes.NewReader(bigger)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openDisk(t, dir)
	defer db.Close()
	if got := head(t, db); got != biggerHead {
		t.Errorf("after restore and reopen: %+v, want %+v", got, biggerHead)
	}
	entries, _ := os.ReadDir(dir)
	var gens []string
	for _, e := range entries {
		if e.IsDir() {
			gens = append(gens, e.Name())
		}
	}
	if len(gens) != 1 {
		t.Errorf("generations left: %v, want only the current one", gens)
	}
}

// A snapshot still being streamed keeps reading its own state while a
// restore replaces the store: Restore does not wait for it (hashicorp/raft
// may stream a snapshot that can only finish after the restore returns).
func TestRestoreDoesNotWaitForOpenSnapshots(t *testing.T) {
	db := openDisk(t, filepath.Join(t.TempDir(), "db"))
	defer db.Close()
	w := newWorld(t)
	w.genesis(t, db)
	w.register(t, db, 3)
	want := dump(t, db)
	other := openDisk(t, filepath.Join(t.TempDir(), "other"))
	newWorld(t).genesis(t, other)
	otherSnap := snapshot(t, other)
	other.Close()

	open := db.Snapshot() // not yet streamed
	if err := db.Restore(bytes.NewReader(otherSnap)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := open.WriteTo(&buf); err != nil {
		t.Fatalf("streaming a snapshot of the replaced state: %v", err)
	}
	open.Close()
	restored := openDisk(t, filepath.Join(t.TempDir(), "copy"))
	defer restored.Close()
	if err := restored.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if dump(t, restored) != want {
		t.Error("the open snapshot did not keep its point-in-time state")
	}
}

func TestTransactions(t *testing.T) {
	db := open(t, badgerkv.Options{InMemory: true})
	defer db.Close()
	err := db.Update(func(w ledger.Writer) error {
		for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "a"} {
			if err := w.Set([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		if err := w.Set([]byte("a/empty"), nil); err != nil {
			return err
		}
		// Reads see the transaction's own writes.
		if v, ok, err := w.Get([]byte("a/2")); err != nil || !ok || string(v) != "va/2" {
			t.Errorf("Get in the writing transaction = %q, %v, %v", v, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := db.Update(func(w ledger.Writer) error {
		w.Set([]byte("a/9"), []byte("x"))
		return boom
	}); !errors.Is(err, boom) {
		t.Errorf("Update returned %v, want the callback's error", err)
	}
	err = db.View(func(r ledger.Reader) error {
		if _, ok, err := r.Get([]byte("a/9")); ok || err != nil {
			t.Errorf("a failed update was committed (ok %v, err %v)", ok, err)
		}
		if _, ok, err := r.Get([]byte("missing")); ok || err != nil {
			t.Errorf("Get(missing) = %v, %v", ok, err)
		}
		if v, ok, err := r.Get([]byte("a/empty")); !ok || err != nil || len(v) != 0 {
			t.Errorf("Get(a/empty) = %q, %v, %v", v, ok, err)
		}
		var keys []string
		collect := func(k, v []byte) bool { keys = append(keys, string(k)+"="+string(v)); return true }
		if err := r.Scan([]byte("a/"), nil, collect); err != nil {
			return err
		}
		if want := "[a/1=va/1 a/2=va/2 a/3=va/3 a/empty=]"; fmt.Sprint(keys) != want {
			t.Errorf("Scan(a/) = %v, want %s", keys, want)
		}
		keys = nil
		if err := r.Scan([]byte("a/"), []byte("a/2"), collect); err != nil {
			return err
		}
		if want := "[a/2=va/2 a/3=va/3 a/empty=]"; fmt.Sprint(keys) != want {
			t.Errorf("Scan(a/, from a/2) = %v, want %s", keys, want)
		}
		keys = nil
		if err := r.Scan([]byte("a/"), nil, func(k, v []byte) bool { collect(k, v); return len(keys) < 2 }); err != nil {
			return err
		}
		if len(keys) != 2 {
			t.Errorf("Scan did not stop: %v", keys)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := badgerkv.Open(badgerkv.Options{Dir: file}); err == nil {
		db.Close()
		t.Error("Open on a regular file succeeded")
	}
}

// A store that collects garbage on its own stops doing so when closed, and
// Close returns rather than waiting for the next round.
func TestGarbageCollectionStopsOnClose(t *testing.T) {
	db, err := badgerkv.Open(badgerkv.Options{Dir: t.TempDir(), GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(w ledger.Writer) error { return w.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- db.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return while garbage collection was scheduled")
	}
}

// TestVersionCountsChanges: the version grows with every committed update
// and every restore, and not with a read or a failed update.
func TestVersionCountsChanges(t *testing.T) {
	db := openDisk(t, t.TempDir())
	defer db.Close()
	v0 := db.Version()
	if err := db.Update(func(w ledger.Writer) error { return ledger.SetAppliedIndex(w, 1) }); err != nil {
		t.Fatal(err)
	}
	if got := db.Version(); got != v0+1 {
		t.Fatalf("after an update: version %d, want %d", got, v0+1)
	}
	db.View(func(ledger.Reader) error { return nil })
	if err := db.Update(func(w ledger.Writer) error {
		ledger.SetAppliedIndex(w, 2)
		return errors.New("refused")
	}); err == nil {
		t.Fatal("a failed update reported no error")
	}
	if got := db.Version(); got != v0+1 {
		t.Fatalf("after a read and a failed update: version %d, want %d", got, v0+1)
	}
	if err := db.Restore(bytes.NewReader(snapshot(t, db))); err != nil {
		t.Fatal(err)
	}
	if got := db.Version(); got != v0+2 {
		t.Fatalf("after a restore: version %d, want %d", got, v0+2)
	}
}

// TestUpdateDuring: the work given to UpdateDuring runs once the
// transaction's function has succeeded and before UpdateDuring returns,
// by which time the commit is visible; it does not run when the function
// fails, and nothing is committed then. A transaction too large still
// fails with ledger.ErrTxnTooBig.
func TestUpdateDuring(t *testing.T) {
	db := open(t, badgerkv.Options{InMemory: true})
	defer db.Close()
	ran := 0
	if err := db.UpdateDuring(func(w ledger.Writer) error {
		if ran != 0 {
			t.Error("during ran before the transaction's function returned")
		}
		return w.Set([]byte("k"), []byte("v"))
	}, func() { ran++ }); err != nil {
		t.Fatal(err)
	}
	if ran != 1 {
		t.Fatalf("during ran %d times", ran)
	}
	if err := db.View(func(r ledger.Reader) error {
		if v, ok, err := r.Get([]byte("k")); !ok || string(v) != "v" || err != nil {
			t.Errorf("after UpdateDuring: Get(k) = %q, %v, %v", v, ok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := db.UpdateDuring(func(w ledger.Writer) error {
		w.Set([]byte("lost"), []byte("x"))
		return boom
	}, func() { ran++ })
	if !errors.Is(err, boom) || ran != 1 {
		t.Fatalf("a failing function: %v, during ran %d times in all", err, ran)
	}
	db.View(func(r ledger.Reader) error {
		if _, ok, _ := r.Get([]byte("lost")); ok {
			t.Error("a failed update was committed")
		}
		return nil
	})
	big := make([]byte, 32<<10) // in the LSM tree, where Badger counts it whole
	err = db.UpdateDuring(func(w ledger.Writer) error {
		for i := range 512 {
			if err := w.Set([]byte(fmt.Sprintf("big/%d", i)), big); err != nil {
				return err
			}
		}
		return nil
	}, func() { ran++ })
	if !errors.Is(err, ledger.ErrTxnTooBig) || ran != 1 {
		t.Fatalf("a transaction of 16 MB: %v, during ran %d times in all", err, ran)
	}
}
