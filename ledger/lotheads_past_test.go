package ledger_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// TestLotHeadsAtOlderSizes grows a ledger with harvests (new lots),
// inspections, transfers and receives (a lot's head moves, the partner's
// does not) and transforms (several lots in one entry, new lots among
// them), noting after each entry the root and every lot's head that the
// stored map gives at the current size. Then, at every older size, the
// map recomputed from the entries since must give the same root, the same
// heads, proofs that check against that root, and ErrNoLotHead for a lot
// not yet written.
func TestLotHeadsAtOlderSizes(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var lots []string
	roots := map[uint64]tlog.Hash{}
	heads := map[uint64]map[string]uint64{}
	note := func() {
		t.Helper()
		size := f.size()
		f.view(func(r ledger.Reader) error {
			h, err := ledger.LotHeadsAt(r, size)
			if err != nil {
				t.Fatal(err)
			}
			if roots[size], err = h.Root(); err != nil {
				t.Fatal(err)
			}
			heads[size] = map[string]uint64{}
			for _, lot := range lots {
				p, err := h.Prove(ref(lot))
				if err != nil {
					t.Fatalf("size %d, lot %s: %v", size, lot, err)
				}
				heads[size][lot] = p.Seq
			}
			return nil
		})
	}
	first := f.size()
	note()
	sent := map[string]bool{} // harvests the producer transferred to the processor
	var held []string         // lots the processor holds, in the order received
	for i := 0; i < 120; i++ {
		switch k := rng.IntN(10); {
		case len(lots) < 3 || k < 4:
			lot := fmt.Sprintf("H%d", i)
			f.must(f.producer, harvestRec(lot, "100", "KGM"))
			lots = append(lots, lot)
		case k < 7:
			f.must(f.inspector, inspectRec(lots[rng.IntN(len(lots))], "pass"))
		case k < 9:
			var lot string
			for _, l := range lots {
				if l[0] == 'H' && !sent[l] {
					lot = l
				}
			}
			if lot == "" {
				continue
			}
			f.must(f.producer, transferRec(lot, f.processor))
			note()
			f.must(f.processor, receiveRec(lot))
			sent[lot] = true
			held = append(held, lot)
		default:
			if len(held) == 0 {
				continue
			}
			in := held[0]
			held = held[1:]
			a, b := fmt.Sprintf("T%dA", i), fmt.Sprintf("T%dB", i)
			f.must(f.processor, transformRec([]lq{{in, "100", "KGM"}}, []lq{{a, "20", "KGM"}, {b, "20", "KGM"}}))
			lots = append(lots, a, b)
		}
		note()
	}
	last := f.size()
	never := ref("NEVER")
	// The map as a node keeps it; the same with buckets of a few lots (at
	// depth 1, where the older sizes are recomputed inside buckets); and
	// the map derived from the lot heads by a plain store's reader.
	small, err := ledger.NewLotMapStoreDepth(f.raw, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []ledger.Store{f.db, small, f.raw} {
		st.View(func(r ledger.Reader) error {
			for size := first; size <= last; size++ {
				want, ok := roots[size]
				if !ok {
					continue
				}
				h, err := ledger.LotHeadsAt(r, size)
				if err != nil {
					t.Fatal(err)
				}
				got, err := h.Root()
				if err != nil || got != want {
					t.Fatalf("root at size %d (of %d): %x, %v; the map at that size gave %x", size, last, got, err, want)
				}
				for _, lot := range lots {
					p, err := h.Prove(ref(lot))
					seq, had := heads[size][lot]
					if !had {
						if !errors.Is(err, ledger.ErrNoLotHead) {
							t.Errorf("size %d: lot %s, written later: %v, want ErrNoLotHead", size, lot, err)
						}
						continue
					}
					if err != nil || p.Seq != seq {
						t.Errorf("size %d: head of %s = %d, %v; want %d", size, lot, p.Seq, err, seq)
						continue
					}
					if err := ledger.CheckLotHead(p, want, ref(lot)); err != nil {
						t.Errorf("size %d: proof of %s: %v", size, lot, err)
					}
				}
				if _, err := h.Prove(never); !errors.Is(err, ledger.ErrNoLotHead) {
					t.Errorf("size %d: a lot never written: %v", size, err)
				}
				if root, err := ledger.LotHeadsRoot(r, size); err != nil || root != want {
					t.Errorf("LotHeadsRoot at size %d: %x, %v", size, root, err)
				}
			}
			empty, err := ledger.LotHeadsAt(r, 0)
			if err != nil {
				t.Fatal(err)
			}
			if root, err := empty.Root(); err != nil || root != (tlog.Hash{}) {
				t.Errorf("root at size 0: %x, %v; want the zero hash", root, err)
			}
			if _, err := empty.Prove(ref(lots[0])); !errors.Is(err, ledger.ErrNoLotHead) {
				t.Errorf("a proof at size 0: %v, want ErrNoLotHead", err)
			}
			if _, err := ledger.LotHeadsAt(r, last+1); err == nil {
				t.Error("the map at a size past the log's was given")
			}
			return nil
		})
	}
}
