package ledger_test

// Lot heads in bundles: a bundle that stops short of a lot's latest entry
// at its checkpoint fails, however the server dresses it up.

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// dropEntry removes the entry at seq from b and from every lot's list.
func dropEntry(t *testing.T, b *ledger.Bundle, seq uint64) {
	t.Helper()
	i := indexOf(t, b, seq)
	b.Entries = slices.Delete(b.Entries, i, i+1)
	for l, list := range b.Lots {
		b.Lots[l] = slices.DeleteFunc(slices.Clone(list), func(s uint64) bool { return s == seq })
	}
}

func failuresText(fails []ledger.Failure) string {
	var s []string
	for _, f := range fails {
		s = append(s, f.String())
	}
	return strings.Join(s, "\n")
}

func TestBundleLotHeads(t *testing.T) {
	h := newProvHistory(t)
	recall, transform := h.seq["recall H1"], h.seq["transform"]
	h1, d1 := ref("H1").String(), ref("D1").String()

	honest := h.bundle(t, "D1")
	if _, fails := ledger.VerifyBundle(cloneBundle(t, honest), h.trusted()); len(fails) != 0 {
		t.Fatalf("honest bundle: %v", fails)
	}
	if got := honest.LotHeads[h1].Seq; got != recall {
		t.Errorf("head of H1 in the bundle = %d, want the recall %d", got, recall)
	}
	if _, ok := honest.LotHeads[d1]; !ok {
		t.Errorf("no head proof for the bundle's own lot: %v", honest.LotHeads)
	}

	// A bundle made at a newer checkpoint, that holds the late inspection
	// of D1, and one made at the old state.
	fresh, _ := h.bundleAtHead(t, "D1")
	late := h.seq["inspect D1 late"]
	if _, fails := ledger.VerifyBundle(cloneBundle(t, fresh), h.trusted()); len(fails) != 0 {
		t.Fatalf("honest bundle at the newer checkpoint: %v", fails)
	}

	cases := []struct {
		name string
		make func() *ledger.Bundle
		want string // in some failure
	}{
		{"the recall left out", func() *ledger.Bundle {
			b := cloneBundle(t, honest)
			dropEntry(t, b, recall)
			return b
		}, fmt.Sprintf("lot %s: the bundle stops at entry %d, but the lot's latest entry at the checkpoint is entry %d", h1, transform, recall)},
		{"the recall left out, its head proof claiming the transform", func() *ledger.Bundle {
			b := cloneBundle(t, honest)
			dropEntry(t, b, recall)
			p := b.LotHeads[h1]
			p.Seq = transform
			b.LotHeads[h1] = p
			return b
		}, fmt.Sprintf("lot %s: the proof of its latest entry does not hold", h1)},
		{"the recall and its head proof left out", func() *ledger.Bundle {
			b := cloneBundle(t, honest)
			dropEntry(t, b, recall)
			delete(b.LotHeads, h1)
			return b
		}, fmt.Sprintf("completeness of lot %s not proven", h1)},
		{"the recalled lot left out of the lists altogether", func() *ledger.Bundle {
			b := cloneBundle(t, honest)
			dropEntry(t, b, recall)
			delete(b.LotHeads, h1)
			delete(b.Lots, h1)
			return b
		}, fmt.Sprintf("completeness of lot %s not proven", h1)},
		{"an older state under a newer checkpoint", func() *ledger.Bundle {
			b := cloneBundle(t, fresh)
			dropEntry(t, b, late)
			return b
		}, fmt.Sprintf("lot %s: the bundle stops at entry", d1)},
		{"an older state under a newer checkpoint, with the old head proofs", func() *ledger.Bundle {
			b := cloneBundle(t, fresh)
			dropEntry(t, b, late)
			b.LotHeads = cloneBundle(t, honest).LotHeads
			return b
		}, fmt.Sprintf("lot %s: the proof of its latest entry does not hold", d1)},
		{"a checkpoint without lot heads", func() *ledger.Bundle {
			cp := h.cp
			cp.HasLotHeads = false
			msg := cosign(t, cp, h.nodes...)
			var b *ledger.Bundle
			h.view(func(r ledger.Reader) (err error) {
				b, err = ledger.BuildBundle(r, ref("D1"), cp, msg, h.trusted())
				return err
			})
			return b
		}, "completeness not proven: the checkpoint commits to no lot heads"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, fails := ledger.VerifyBundle(c.make(), h.trusted())
			if got := failuresText(fails); !strings.Contains(got, c.want) {
				t.Errorf("failures:\n%s\nwant one containing %q", got, c.want)
			}
		})
	}
}

// TestAuditLotHeads: Audit recomputes the lot heads, which the map is
// derived from, from the entries, so a changed lot head is named, and so
// is a checkpoint whose lot-heads line is not the map's root at its size.
func TestAuditLotHeads(t *testing.T) {
	h := newProvHistory(t)
	if fails := runAudit(t, h.db, h.trusted()); len(fails) != 0 {
		t.Fatalf("honest store: %v", fails)
	}
	headKey := []byte("x/t/" + ref("H1").GTIN + ref("H1").Lot)
	st := tampered(t, h, func(w ledger.Writer) error {
		return w.Set(headKey, binary.BigEndian.AppendUint64(nil, h.seq["harvest H1"]))
	})
	if fails := runAudit(t, st, h.trusted()); !failureContaining(fails, -1, "x/t/"+ref("H1").GTIN+ref("H1").Lot) {
		t.Errorf("a lot head moved back: %v", fails)
	}
	var head ledger.Head
	h.view(func(r ledger.Reader) (err error) { head, err = ledger.ReadHead(r); return err })
	wrong := head.Checkpoint(h.cp.Origin)
	wrong.LotHeads[0] ^= 1
	st = tampered(t, h, func(w ledger.Writer) error { return ledger.PutCheckpoint(w, cosign(t, wrong, h.nodes...)) })
	if fails := runAudit(t, st, h.trusted()); !failureContaining(fails, -1, "does not match the lot-head map's root") {
		t.Errorf("a checkpoint with another lot-head root: %v", fails)
	}
}

// TestOlderMapKeys: a store written by older versions holds the lot-head
// map's nodes (s/c/, s/v/) and the progress of their build (m/lotheads).
// Nothing reads them now: the map derived from the lot heads has the same
// root, and Audit accepts them (a malformed m/lotheads excepted).
func TestOlderMapKeys(t *testing.T) {
	h := newProvHistory(t)
	var want tlog.Hash
	h.view(func(r ledger.Reader) (err error) { want, err = ledger.LotHeadsRoot(r, h.size()); return err })
	older := func(lotheads []byte) *ledger.MemStore {
		st := ledger.NewMemStore()
		copyStore(t, h.db, st)
		if err := st.Update(func(w ledger.Writer) error {
			node := append([]byte("s/c/\x00\x01"), make([]byte, 32)...)
			if err := w.Set(node, append(binary.BigEndian.AppendUint64(nil, 3), 0x01)); err != nil {
				return err
			}
			if err := w.Set(append([]byte("s/v/\x00\x01"), make([]byte, 40)...), nil); err != nil {
				return err
			}
			return w.Set([]byte("m/lotheads"), lotheads)
		}); err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := older(nil)
	lm := ledger.NewLotMapStore(st)
	if err := lm.Wait(); err != nil {
		t.Fatal(err)
	}
	var got tlog.Hash
	lm.View(func(r ledger.Reader) (err error) { got, err = ledger.LotHeadsRoot(r, h.size()); return err })
	if got != want {
		t.Errorf("root over an older store %x, want %x", got, want)
	}
	if fails := runAudit(t, st, h.trusted()); len(fails) != 0 {
		t.Errorf("audit of an older store: %v", fails)
	}
	if fails := runAudit(t, older([]byte{1, 2, 3}), h.trusted()); !failureContaining(fails, -1, "m/lotheads") {
		t.Errorf("audit of a malformed m/lotheads: %v", fails)
	}
}
