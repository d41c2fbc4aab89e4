package consumer

import (
	"context"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

// TestVerificationPanelLotHeads checks the panel's completeness line: a
// page holding its lots' latest entries passes, one that lacks a lot's
// latest entry names it, a checkpoint without lot heads proves nothing,
// and a lot-head root that does not match is reported as broken.
func TestVerificationPanelLotHeads(t *testing.T) {
	ds := startDemo(t, func(c *Config) { c.Checkpoints = &stubCheckpoints{size: 1 << 40, signed: 1, total: 1, ok: true} })
	var size uint64
	if err := ds.cluster.Store().View(func(r ledger.Reader) (err error) { size, err = ledger.Size(r); return err }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := ds.cluster.WaitCheckpoint(ctx, size); err != nil {
		t.Fatal(err)
	}
	ref := ledger.LotRef{GTIN: honeyGTIN, Lot: recalledLot}
	err := ds.cluster.Store().View(func(rd ledger.Reader) error {
		cp, _, _, err := ledger.LatestCheckpoint(rd)
		if err != nil {
			return err
		}
		lot, err := ledger.GetLot(rd, ref)
		if err != nil {
			return err
		}
		m, err := buildModel(rd, lot)
		if err != nil {
			return err
		}
		if st, err := checkHeads(rd, cp, m); err != nil || st != (headState{Checked: true}) {
			t.Errorf("honest page: %+v, %v", st, err)
		}
		noHeads := cp
		noHeads.HasLotHeads = false
		if st, err := checkHeads(rd, noHeads, m); err != nil || st != (headState{}) {
			t.Errorf("checkpoint without lot heads: %+v, %v", st, err)
		}
		wrong := cp
		wrong.LotHeads[0] ^= 1
		if st, err := checkHeads(rd, wrong, m); err == nil || !st.Broken {
			t.Errorf("another lot-head root: %+v, %v; want broken", st, err)
		}
		p, err := ledger.ProveLotHead(rd, cp.Size, ref)
		if err != nil {
			return err
		}
		delete(m.shown, p.Seq)
		if st, err := checkHeads(rd, cp, m); err != nil || st.Short != ref.String() || st.Head != p.Seq {
			t.Errorf("page without the lot's latest entry %d: %+v, %v", p.Seq, st, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	body := html.UnescapeString(ds.get(t, recalledPage).body)
	verify := body[strings.Index(body, `id="verification"`):]
	mustContain(t, "panel", verify, "Không thiếu bước nào", "Trang có bước mới nhất của lô")
	en := html.UnescapeString(ds.get(t, recalledPage+"?lang=en").body)
	mustContain(t, "english panel", en, "Nothing is missing", "no step, a recall included, is hidden")
}

// The panel's lot-head check is kept per model for one checkpoint size:
// a newer checkpoint is checked again.
func TestHeadsKeptPerCheckpoint(t *testing.T) {
	var m model
	if _, ok := m.cachedHeads(5); ok {
		t.Fatal("a check before any was made")
	}
	m.keepHeads(5, headState{Checked: true})
	if h, ok := m.cachedHeads(5); !ok || !h.Checked {
		t.Fatalf("the check at size 5: %+v %v", h, ok)
	}
	if _, ok := m.cachedHeads(6); ok {
		t.Fatal("the check at size 5 served for a checkpoint of size 6")
	}
}
