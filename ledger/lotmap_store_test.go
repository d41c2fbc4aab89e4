package ledger

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// addLots appends one entry's worth of lot heads through st: n new lots
// named prefix<i>, and the size.
func addLots(st Store, size uint64, prefix string, n int) error {
	return st.Update(func(w Writer) error {
		for i := range n {
			ref := LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("%s%d", prefix, i)}
			if err := w.Set(lotHeadKey(ref), u64(size)); err != nil {
				return err
			}
		}
		return w.Set(keySize, u64(size+1))
	})
}

// rootsOf returns, in one transaction of st, the root of the map st keeps
// and the root derived from the transaction's own lot heads.
func rootsOf(st *LotMapStore) (kept, derived tlog.Hash, size uint64, err error) {
	err = st.View(func(r Reader) error {
		if size, err = Size(r); err != nil {
			return err
		}
		if kept, err = LotHeadsRoot(r, size); err != nil {
			return err
		}
		v, err := buildLotMap(r.(lotMapReader).Reader, 4)
		if err != nil {
			return err
		}
		derived = v.root.hashOf()
		return nil
	})
	return kept, derived, size, err
}

// TestLotMapStoreReadsMatchTheirTransaction: readers running beside a
// writer always get the map at their own transaction's size, including
// those that open their transaction between a commit and the map's
// publication.
func TestLotMapStoreReadsMatchTheirTransaction(t *testing.T) {
	for name, inner := range stores() {
		t.Run(name, func(t *testing.T) { testReadsMatchTheirTransaction(t, inner) })
	}
}

// stores are the two ways a LotMapStore builds a version: before the
// commit (a plain store), or while it is written (one that overlaps
// them, as badgerkv does).
func stores() map[string]Store {
	return map[string]Store{"plain": NewMemStore(), "overlapping": overlapping{NewMemStore()}}
}

// overlapping is a MemStore that runs UpdateDuring's work on a goroutine
// of its own while it commits, as badgerkv runs it while Badger writes.
type overlapping struct{ *MemStore }

func (o overlapping) UpdateDuring(fn func(Writer) error, during func()) error {
	done := make(chan struct{})
	err := o.MemStore.Update(func(w Writer) error {
		if err := fn(w); err != nil {
			close(done)
			return err
		}
		go func() { defer close(done); during() }()
		return nil
	})
	<-done
	return err
}

// readersBeside starts n readers that compare, over and over, the map st
// keeps with the one derived from their own transaction (rootsOf). stop
// ends them and returns how many reads they made and the first mismatch
// or error.
func readersBeside(st *LotMapStore, n int) (stop func() (reads int, err error)) {
	done := make(chan struct{})
	type result struct {
		reads int
		err   error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			var r result
			defer func() { results <- r }()
			for ; ; r.reads++ {
				select {
				case <-done:
					return
				default:
				}
				kept, derived, size, err := rootsOf(st)
				if err == nil && kept != derived {
					err = fmt.Errorf("size %d: root %x, derived from the transaction %x", size, kept, derived)
				}
				if err != nil {
					r.err = err
					return
				}
			}
		}()
	}
	return func() (reads int, err error) {
		close(done)
		for range n {
			r := <-results
			reads += r.reads
			if err == nil {
				err = r.err
			}
		}
		return reads, err
	}
}

func testReadsMatchTheirTransaction(t *testing.T, inner Store) {
	st := newLotMapStore(inner, 4)
	if err := st.Wait(); err != nil {
		t.Fatal(err)
	}
	const entries = 300
	stop := readersBeside(st, 2)
	for seq := uint64(0); seq < entries; seq++ {
		if err := addLots(st, seq, fmt.Sprintf("S%d-", seq), int(seq%3)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	kept, derived, size, err := rootsOf(st)
	if err != nil || kept != derived || size != entries || kept == (tlog.Hash{}) {
		t.Fatalf("at the end: size %d, root %x, derived %x, %v", size, kept, derived, err)
	}
}

// TestLotMapStoreRefuses: an update that moves a lot head without an
// entry, or writes a malformed head or size, fails and changes nothing,
// the map included; so does one whose function fails.
func TestLotMapStoreRefuses(t *testing.T) {
	for name, raw := range stores() {
		t.Run(name, func(t *testing.T) { testRefuses(t, raw) })
	}
}

func testRefuses(t *testing.T, raw Store) {
	st := newLotMapStore(raw, 4)
	if err := st.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := addLots(st, 0, "A", 5); err != nil {
		t.Fatal(err)
	}
	before, _, _, err := rootsOf(st)
	if err != nil {
		t.Fatal(err)
	}
	lot := lotHeadKey(LotRef{GTIN: "08936000000127", Lot: "NEW"})
	boom := errors.New("boom")
	for name, c := range map[string]struct {
		fn   func(w Writer) error
		want error
	}{
		"head without entry": {func(w Writer) error { return w.Set(lot, u64(0)) }, errHeadsWithoutEntry},
		"short head":         {func(w Writer) error { return w.Set(lot, []byte{1, 2, 3}) }, ErrCorrupt},
		"short size":         {func(w Writer) error { return w.Set(keySize, []byte{2}) }, ErrCorrupt},
		"failing function": {func(w Writer) error {
			if err := w.Set(lot, u64(1)); err != nil {
				return err
			}
			if err := w.Set(keySize, u64(2)); err != nil {
				return err
			}
			return boom
		}, boom},
	} {
		if err := st.Update(c.fn); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		raw.View(func(r Reader) error {
			if _, ok, _ := r.Get(lot); ok {
				t.Errorf("%s: the head was written", name)
			}
			if size, _ := Size(r); size != 1 {
				t.Errorf("%s: size %d, want 1", name, size)
			}
			return nil
		})
		if after, derived, size, err := rootsOf(st); err != nil || after != before || derived != before || size != 1 {
			t.Errorf("%s: root %x (derived %x) at size %d, %v; want %x at 1", name, after, derived, size, err, before)
		}
	}
}

// TestLotMapStoreWhileDeriving: reads and writes that come while the
// store derives its map at open wait for it and see the right map; a
// store whose lot heads are corrupt reports it (Wait), and its readers
// fail with ErrCorrupt instead of using a wrong map.
func TestLotMapStoreWhileDeriving(t *testing.T) {
	raw := NewMemStore()
	for i := range 50 {
		if err := addLots(raw, uint64(i), fmt.Sprintf("D%d-", i), 3); err != nil {
			t.Fatal(err)
		}
	}
	st := newLotMapStore(raw, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		kept, derived, size, err := rootsOf(st)
		if err == nil && (kept != derived || size < 50) {
			err = fmt.Errorf("size %d: root %x, derived %x", size, kept, derived)
		}
		errs <- err
	}()
	go func() { defer wg.Done(); errs <- addLots(st, 50, "W", 2) }()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Wait(); err != nil {
		t.Fatal(err)
	}
	if kept, derived, size, err := rootsOf(st); err != nil || kept != derived || size != 51 {
		t.Fatalf("after: size %d, root %x, derived %x, %v", size, kept, derived, err)
	}

	bad := NewMemStore()
	if err := bad.Update(func(w Writer) error {
		if err := w.Set(lotHeadKey(LotRef{GTIN: "08936000000127", Lot: "X"}), []byte{1}); err != nil {
			return err
		}
		return w.Set(keySize, u64(1))
	}); err != nil {
		t.Fatal(err)
	}
	bst := newLotMapStore(bad, 2)
	if err := bst.Wait(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt lot heads: Wait %v, want ErrCorrupt", err)
	}
	if _, _, _, err := rootsOf(bst); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt lot heads: read %v, want ErrCorrupt", err)
	}
}

// TestLotMapStoreReadersKeepTheMap: a reader running beside a writer
// whose updates each move thousands of lot heads (a batch of harvests)
// gets the map the store keeps, never one derived from its transaction.
// Deriving scans every lot head; a checkpointer reading every 200 ms used
// to do so on most rounds under a steady ingest, because the next version
// was built after the commit and readers in between gave up waiting.
func TestLotMapStoreReadersKeepTheMap(t *testing.T) {
	for name, inner := range stores() {
		t.Run(name, func(t *testing.T) { testReadersKeepTheMap(t, inner) })
	}
}

func testReadersKeepTheMap(t *testing.T, inner Store) {
	st := newLotMapStore(inner, lotTreeBucketDepth)
	if err := st.Wait(); err != nil {
		t.Fatal(err)
	}
	const updates, lots = 40, 3000
	stop := readersBeside(st, 1)
	for seq := uint64(0); seq < updates; seq++ {
		if err := addLots(st, seq, fmt.Sprintf("S%d-", seq), lots); err != nil {
			t.Fatal(err)
		}
	}
	n, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if d := st.derivations.Load(); d != 0 || n == 0 {
		t.Fatalf("%d reads beside %d updates of %d lots: %d derived their own map", n, updates, lots, d)
	}
}
