package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// mapRecords returns the lot-head map's records in st, by key.
func mapRecords(t *testing.T, st Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := st.View(func(r Reader) error {
		return r.Scan(prefixLotMapNow, nil, func(k, v []byte) bool {
			out[string(k)] = string(v)
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cachedUpdate runs fn in a transaction of st through c, as the state
// machine does.
func cachedUpdate(st Store, c *LotMapCache, fn func(Writer) error) error {
	var t *LotMapTxn
	err := st.Update(func(w Writer) error {
		t = c.Begin(w)
		return fn(t)
	})
	if err == nil {
		c.Commit(t)
	}
	return err
}

// TestLotMapCacheAgreesWithStore updates the map of two stores alike, one
// through a cache of its upper three levels (so that a few hundred lots
// cross the cache's lower edge), in transactions of several updates, some
// of which fail. After each, the two stores hold the same records, and
// the cache holds exactly the store's records down to its depth.
func TestLotMapCacheAgreesWithStore(t *testing.T) {
	plain, cached := NewMemStore(), NewMemStore()
	c := &LotMapCache{maxDepth: 3}
	rng := rand.New(rand.NewPCG(3, 4))
	var lots []LotRef
	errAbort := errors.New("abort")
	seq := uint64(0)
	for txn := 0; txn < 150; txn++ {
		var refs []LotRef
		for range 1 + rng.IntN(5) {
			if len(lots) == 0 || rng.IntN(3) > 0 {
				lots = append(lots, LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("L%d", len(lots))})
				refs = append(refs, lots[len(lots)-1])
			} else {
				refs = append(refs, lots[rng.IntN(len(lots))])
			}
		}
		fail := rng.IntN(5) == 0
		fn := func(w Writer) error {
			for i, ref := range refs {
				if err := setLotMapHead(w, ref, seq+uint64(i)); err != nil {
					return err
				}
			}
			if fail {
				return errAbort
			}
			return nil
		}
		errPlain, errCached := plain.Update(fn), cachedUpdate(cached, c, fn)
		if errPlain != errCached {
			t.Fatalf("transaction %d: plain %v, cached %v", txn, errPlain, errCached)
		}
		if !fail {
			seq += uint64(len(refs))
		}
		want, got := mapRecords(t, plain), mapRecords(t, cached)
		if len(want) != len(got) {
			t.Fatalf("transaction %d: %d records through the cache, %d without", txn, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("transaction %d: record %s differs through the cache", txn, lotMapKeyName([]byte(k)))
			}
		}
		// The cache holds exactly the upper levels of what is stored.
		upper := 0
		for k, v := range want {
			i, ok := lotMapIndex([]byte(k), c.maxDepth)
			if !ok {
				continue
			}
			upper++
			if cv, ok := c.nodes[i]; !ok || !bytes.Equal(cv, []byte(v)) {
				t.Fatalf("transaction %d: the cache misses or differs on %s", txn, lotMapKeyName([]byte(k)))
			}
		}
		if c.Len() != upper {
			t.Fatalf("transaction %d: the cache holds %d records, the store %d of its levels", txn, c.Len(), upper)
		}
	}
	if len(lots) < 200 {
		t.Fatalf("only %d lots: the map never went below the cache", len(lots))
	}
}

// TestLotMapCacheReset: a change of the store the cache did not see (a
// restored snapshot) is picked up after Reset, and would otherwise be
// overwritten with stale upper levels.
func TestLotMapCacheReset(t *testing.T) {
	st := NewMemStore()
	c := NewLotMapCache()
	set := func(w Writer, lot string, seq uint64) error {
		return setLotMapHead(w, LotRef{GTIN: "08936000000127", Lot: lot}, seq)
	}
	if err := cachedUpdate(st, c, func(w Writer) error { return set(w, "A", 0) }); err != nil {
		t.Fatal(err)
	}
	// Behind the cache's back, as a restore would.
	if err := st.Update(func(w Writer) error { return set(w, "B", 1) }); err != nil {
		t.Fatal(err)
	}
	c.Reset()
	if c.Len() != 0 {
		t.Fatalf("the cache holds %d records after Reset", c.Len())
	}
	if err := cachedUpdate(st, c, func(w Writer) error { return set(w, "C", 2) }); err != nil {
		t.Fatal(err)
	}
	want := NewMemStore()
	if err := want.Update(func(w Writer) error {
		for i, lot := range []string{"A", "B", "C"} {
			if err := set(w, lot, uint64(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, exp := mapRecords(t, st), mapRecords(t, want); fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Fatalf("after Reset the map is\n%v\nwant\n%v", got, exp)
	}
	// A transaction begun before a Reset is not merged after it.
	var stale *LotMapTxn
	if err := st.Update(func(w Writer) error {
		stale = c.Begin(w)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stale.own[1] = []byte("stale")
	c.Reset()
	if err := cachedUpdate(st, c, func(w Writer) error { return set(w, "D", 3) }); err != nil { // reloads
		t.Fatal(err)
	}
	c.Commit(stale)
	if string(c.nodes[1]) == "stale" {
		t.Fatal("a transaction from before Reset reached the cache")
	}
}

func TestLotMapIndex(t *testing.T) {
	key := func(depth int, prefix [32]byte) []byte { return cat(prefixLotMapNow, lotMapID(depth, prefix)) }
	var p [32]byte
	p[0], p[1], p[2] = 0xb5, 0xff, 0xff
	for _, tc := range []struct {
		depth int
		want  uint32
		ok    bool
	}{
		{0, 1, true},
		{1, 0b11, true},
		{3, 0b1101, true},
		{8, 0x1b5, true},
		{16, 0x1b5ff, true},
		{17, 0, false},
	} {
		got, ok := lotMapIndex(key(tc.depth, pathPrefix(p, tc.depth)), 16)
		if ok != tc.ok || got != tc.want {
			t.Errorf("depth %d: index %#x, %v; want %#x, %v", tc.depth, got, ok, tc.want, tc.ok)
		}
	}
	for _, k := range [][]byte{nil, []byte("s/c/"), append(key(2, p), 0), cat([]byte("s/v/"), lotMapID(2, p))} {
		if _, ok := lotMapIndex(k, 16); ok {
			t.Errorf("%q taken for a map key", k)
		}
	}
}

// A transaction that does not touch the map (a log Raft replays and the
// state machine skips, a checkpoint) leaves the cache unloaded.
func TestLotMapCacheLoadsOnFirstUse(t *testing.T) {
	st := NewMemStore()
	if err := st.Update(func(w Writer) error {
		return setLotMapHead(w, LotRef{GTIN: "08936000000127", Lot: "A"}, 0)
	}); err != nil {
		t.Fatal(err)
	}
	c := NewLotMapCache()
	if err := cachedUpdate(st, c, func(w Writer) error {
		if _, _, err := w.Get(keySize); err != nil {
			return err
		}
		return w.Set(keyApplied, u64(7))
	}); err != nil {
		t.Fatal(err)
	}
	if c.loaded || c.Len() != 0 {
		t.Fatalf("a transaction outside the map loaded the cache (%d records)", c.Len())
	}
	if err := cachedUpdate(st, c, func(w Writer) error {
		_, ok, err := w.Get(cat(prefixLotMapNow, lotMapID(0, [32]byte{})))
		if err == nil && !ok {
			err = errors.New("the root's record is missing")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Fatalf("after reading the root the cache holds %d records, want 1", c.Len())
	}
}
