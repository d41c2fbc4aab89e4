package ledger

import (
	"fmt"
	"testing"
)

// TestLotMapStoreSeen: a LotMapStore's filter (lotFilter) holds the lots
// of the map it derived and of every update since; a transaction asks the
// map only for the lots the filter may hold, and a false positive costs
// only that.
func TestLotMapStoreSeen(t *testing.T) {
	ref := func(p string, i int) LotRef { return LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("%s%d", p, i)} }
	inner := NewMemStore()
	if err := addLots(inner, 0, "A", 50); err != nil { // before the store: derived
		t.Fatal(err)
	}
	st := newLotMapStore(inner, 4)
	if err := st.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := addLots(st, 1, "B", 50); err != nil { // through the store
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		if err := st.Update(func(w Writer) error {
			for _, p := range []string{"A", "B"} {
				for i := range 50 {
					if seq, ok := w.(*lotMapWriter).head(LotPath(ref(p, i))); !ok || seq != map[string]uint64{"A": 0, "B": 1}[p] {
						return fmt.Errorf("%s: head of %s: %d %v", what, ref(p, i), seq, ok)
					}
				}
			}
			if _, ok := w.(*lotMapWriter).head(LotPath(ref("C", 0))); ok {
				return fmt.Errorf("%s: a lot never written has a head", what)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check("derived and updated")
	if st.seen == nil || !st.seen.mayContain(LotPath(ref("A", 7))) || !st.seen.mayContain(LotPath(ref("B", 7))) {
		t.Fatal("the filter lacks lots of the map")
	}
	// A false positive: the filter may hold a lot the map lacks, and the
	// map answers.
	st.seen.add(LotPath(ref("C", 0)))
	check("with a false positive")
}
