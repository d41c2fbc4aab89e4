package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
)

func filterPath(i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

// TestLotFilter: every lot added is found, across the segments the filter
// grows by, and lots never added are mostly not: the false-positive rate
// stays near the 1 % each segment is sized for.
func TestLotFilter(t *testing.T) {
	const added, others = 300_000, 100_000 // 2^16 lots in the first segment, then 2^17, 2^18
	f := newLotFilter(0)
	for i := range added {
		f.add(filterPath(i))
	}
	if len(f.segs) != 3 {
		t.Errorf("%d segments for %d lots, want 3", len(f.segs), added)
	}
	for i := range added {
		if !f.mayContain(filterPath(i)) {
			t.Fatalf("lot %d added and not found", i)
		}
	}
	fp := 0
	for i := added; i < added+others; i++ {
		if f.mayContain(filterPath(i)) {
			fp++
		}
	}
	// Three segments, each at most at its capacity: at most about 3 %.
	if rate := float64(fp) / others; rate > 0.03 {
		t.Errorf("false-positive rate %.3f", rate)
	}
	if newLotFilter(0).mayContain(filterPath(0)) {
		t.Error("an empty filter holds a lot")
	}
}

// TestLotMapStoreSeen: a LotMapStore's filter holds the lots of the map it
// derived and of every update since; a transaction asks the map only for
// the lots the filter may hold, and a false positive costs only that.
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
	// Every lookup a false positive: the map answers.
	for i := range st.seen.segs {
		for j := range st.seen.segs[i].bits {
			st.seen.segs[i].bits[j] = ^uint64(0)
		}
	}
	check("with a filter that holds everything")
}
