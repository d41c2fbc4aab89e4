package ledger_test

// Bundles over a product graph with several harvests, partial and
// multi-input transforms, a recall through them and a chain of admins:
// every lot's honest bundle must replay on its own.

import (
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

func TestBundleEveryLotOfAGraph(t *testing.T) {
	f := newFixture(t)
	nodes := newNodeKeys(t, 3)
	admin2, retailer2 := newKey(t), newKey(t)

	f.must(f.producer, harvestRec("A", "100", "KGM"))
	f.must(f.producer, harvestRec("B", "100", "KGM"))
	f.must(f.producer2, harvestRec("C", "100", "KGM"))
	f.must(f.producer2, harvestRec("LONE", "7", "KGM"))
	f.move("A", f.producer, f.processor)
	f.move("B", f.producer, f.processor)
	f.move("C", f.producer2, f.processor)
	f.must(f.processor, transformRec([]lq{{"B", "50", "KGM"}}, []lq{{"Y", "50", "KGM"}}))
	f.must(f.inspector, inspectRec("Y", "pass"))
	f.must(f.processor, transformRec([]lq{{"Y", "10", "KGM"}, {"C", "20", "KGM"}}, []lq{{"Z", "30", "KGM"}}))
	f.must(f.processor, transformRec([]lq{{"Y", "40", "KGM"}}, []lq{{"W", "40", "KGM"}}))
	f.must(f.processor, transformRec([]lq{{"A", "100", "KGM"}, {"B", "50", "KGM"}}, []lq{{"M", "150", "KGM"}}))
	f.must(f.processor, transformRec([]lq{{"M", "10", "KGM"}, {"Z", "5", "KGM"}}, []lq{{"N", "15", "KGM"}}))
	f.move("N", f.processor, f.distributor)
	// A second admin, registered by the first, registers a retailer.
	f.must(f.admin, participantRec(admin2.addr, "admin"))
	f.must(admin2, participantRec(retailer2.addr, "retailer"))
	f.move("N", f.distributor, retailer2)
	// The producer of C recalls it: Z and N follow.
	f.must(f.producer2, recallRec("C"))
	// A role change after the fact is part of the processor's registrations.
	f.must(f.admin, participantRec(f.processor.addr, "processor", "distributor"))
	if l := f.lot(ref("N")); l.Status != ledger.StatusRecalled {
		t.Fatalf("N after C's recall: %+v", l)
	}

	var head ledger.Head
	var origin string
	f.view(func(r ledger.Reader) (err error) {
		if head, err = ledger.ReadHead(r); err != nil {
			return err
		}
		origin, err = ledger.Origin(r)
		return err
	})
	cp := head.Checkpoint(origin)
	msg := cosign(t, cp, nodes...)
	trusted := verifierKeys(nodes...)

	for _, lot := range []string{"A", "B", "C", "Y", "Z", "W", "M", "N", "LONE"} {
		var b *ledger.Bundle
		f.view(func(r ledger.Reader) (err error) {
			b, err = ledger.BuildBundle(r, ref(lot), cp, msg, trusted)
			return err
		})
		got, fails := ledger.VerifyBundle(cloneBundle(t, b), trusted)
		if len(fails) != 0 || got != cp {
			t.Errorf("bundle of %s (%d entries): %v", lot, len(b.Entries), fails)
		}
		// Every entry that names the lot is in its bundle.
		var want []uint64
		f.view(func(r ledger.Reader) (err error) { want, err = ledger.LotSeqs(r, ref(lot)); return err })
		have := map[uint64]bool{}
		for _, s := range bundleSeqs(t, b) {
			have[s] = true
		}
		for _, s := range want {
			if !have[s] {
				t.Errorf("bundle of %s lacks entry %d naming it", lot, s)
			}
		}
	}

	// The recall reached N through Z: N's bundle must carry it, and its
	// replay must end with N recalled.
	var b *ledger.Bundle
	f.view(func(r ledger.Reader) (err error) {
		b, err = ledger.BuildBundle(r, ref("N"), cp, msg, trusted)
		return err
	})
	st := ledger.NewMemStore()
	for _, be := range b.Entries {
		data, err := ledger.Canonicalize(be.Entry)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ledger.ParseEntry(data)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := ledger.ReplayEntry(st, e); err != nil || res.Err != nil {
			t.Fatalf("replay of entry %d: %v %v", e.Seq, err, res.Err)
		}
	}
	st.View(func(r ledger.Reader) error {
		l, err := ledger.GetLot(r, ref("N"))
		if err != nil || l == nil || l.Status != ledger.StatusRecalled || l.Holder != retailer2.hex() {
			t.Errorf("N replayed from its bundle: %+v, %v", l, err)
		}
		return nil
	})
}
