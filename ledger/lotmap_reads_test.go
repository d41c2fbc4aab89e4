package ledger

import (
	"fmt"
	"testing"
)

// countingStore counts the reads its transactions make, by key prefix.
type countingStore struct {
	*MemStore
	gets map[string]int
}

type countingWriter struct {
	Writer
	gets map[string]int
}

func (w countingWriter) Get(key []byte) ([]byte, bool, error) {
	w.gets[string(key[:2])]++
	return w.Writer.Get(key)
}

func (c *countingStore) Update(fn func(Writer) error) error {
	return c.MemStore.Update(func(w Writer) error { return fn(countingWriter{w, c.gets}) })
}

// TestLotMapStoreAnswersHeads: a LotMapStore's transaction reads lot
// heads from the map and knows a lot without a head has no state, with
// no read of the store; what the transaction itself wrote counts too. On
// a store whose map does not cover its lot states (written before lot
// heads were kept), the transaction reads them.
func TestLotMapStoreAnswersHeads(t *testing.T) {
	ref := func(i int) LotRef { return LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("A%d", i)} }
	inner := &countingStore{MemStore: NewMemStore(), gets: map[string]int{}}
	st := newLotMapStore(inner, 4)
	if err := st.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := addLots(st, 0, "A", 3); err != nil { // heads A0–A2 at 0, size 1
		t.Fatal(err)
	}
	clear(inner.gets)
	err := st.Update(func(w Writer) error {
		for i, want := range []struct {
			head   uint64
			exists bool
		}{{0, true}, {0, true}, {0, true}, {0, false}} {
			seq, ok, err := LotHead(w, ref(i))
			if err != nil || ok != want.exists || seq != want.head {
				return fmt.Errorf("head of %s: %d %v %v, want %d %v", ref(i), seq, ok, err, want.head, want.exists)
			}
			if absent := w.(lotStates).lotStateAbsent(ref(i)); absent == want.exists {
				return fmt.Errorf("%s: lotStateAbsent %v", ref(i), absent)
			}
		}
		// The transaction's own heads: a new lot, and a new head of A0.
		if err := w.Set(lotHeadKey(ref(3)), u64(1)); err != nil {
			return err
		}
		if err := w.Set(lotHeadKey(ref(0)), u64(1)); err != nil {
			return err
		}
		for _, i := range []int{0, 3} {
			if seq, ok, err := LotHead(w, ref(i)); err != nil || !ok || seq != 1 {
				return fmt.Errorf("head of %s after the write: %d %v %v, want 1", ref(i), seq, ok, err)
			}
			if w.(lotStates).lotStateAbsent(ref(i)) {
				return fmt.Errorf("%s: absent after its head was written", ref(i))
			}
		}
		return w.Set(keySize, u64(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if inner.gets["x/"] != 0 || inner.gets["l/"] != 0 {
		t.Errorf("the transaction read the store for lot heads or states: %v", inner.gets)
	}
	// The next transaction starts from the published version.
	wantHead(t, st, ref(3), 1)
	if inner.gets["x/"] != 0 {
		t.Errorf("the next transaction read the store for a lot head: %v", inner.gets)
	}

	// The first update noted that the map covers the lot states; the next
	// derivation takes that from the store.
	if v, ok, err := storeGet(inner.MemStore, keyLotCover); err != nil || !ok || string(v) != "\x01" {
		t.Fatalf("m/lotcover after the first update: %x %v %v", v, ok, err)
	}
	if st2 := newLotMapStore(inner, 4); st2.Wait() != nil || !st2.cur.Load().covers || !st2.coverNoted {
		t.Fatal("a store with m/lotcover: the derived map does not cover the lot states")
	}

	// A ledger written before lot heads: a lot state without a head. The
	// map does not cover the states, says nothing of lots it lacks, and
	// the store is not told otherwise.
	older := &countingStore{MemStore: NewMemStore(), gets: map[string]int{}}
	if err := older.MemStore.Update(func(w Writer) error {
		if err := w.Set(lotHeadKey(ref(0)), u64(0)); err != nil {
			return err
		}
		if err := w.Set(lotKey(ref(9)), []byte(`{}`)); err != nil {
			return err
		}
		return w.Set(keySize, u64(1))
	}); err != nil {
		t.Fatal(err)
	}
	ost := newLotMapStore(older, 4)
	if err := ost.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := addLots(ost, 1, "B", 1); err != nil {
		t.Fatal(err)
	}
	if err := ost.Update(func(w Writer) error {
		if w.(lotStates).lotStateAbsent(ref(9)) || w.(lotStates).lotStateAbsent(ref(8)) {
			return fmt.Errorf("a map that misses a lot state says a lot has none")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := storeGet(older.MemStore, keyLotCover); ok {
		t.Error("m/lotcover written in a store whose lot states lack heads")
	}

	// A store written by other means than the LotMapStore: its size moved,
	// so the map is not trusted and heads are read from the store.
	st = newLotMapStore(inner, 4)
	if err := st.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := inner.MemStore.Update(func(w Writer) error {
		if err := w.Set(lotHeadKey(ref(5)), u64(2)); err != nil {
			return err
		}
		return w.Set(keySize, u64(3))
	}); err != nil {
		t.Fatal(err)
	}
	clear(inner.gets)
	wantHead(t, st, ref(5), 2)
	if inner.gets["x/"] == 0 {
		t.Error("a map behind the store answered for it")
	}
}

// wantHead checks, in a transaction of st, that ref's head is seq.
func wantHead(t *testing.T, st *LotMapStore, ref LotRef, seq uint64) {
	t.Helper()
	if err := st.Update(func(w Writer) error {
		if got, ok, err := LotHead(w, ref); err != nil || !ok || got != seq {
			return fmt.Errorf("head of %s: %d %v %v, want %d", ref, got, ok, err, seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestLotKeyPath: the path lotHeadLeaf and the coverage check compute from
// a key is LotPath of the lot it names.
func TestLotKeyPath(t *testing.T) {
	for _, r := range []LotRef{{GTIN: "08936000000127", Lot: "A"}, {GTIN: "00000000000000", Lot: "lô-1/2"}} {
		k := lotKey(r)
		if p := lotKeyPath(k[len(prefixLot):]); p != LotPath(r) {
			t.Errorf("%v: %x, want LotPath", r, p)
		}
	}
}

// storeGet reads key in a transaction of its own.
func storeGet(st Store, key []byte) (val []byte, ok bool, err error) {
	err = st.View(func(r Reader) error {
		v, found, err := r.Get(key)
		val, ok = append([]byte(nil), v...), found
		return err
	})
	return val, ok, err
}
