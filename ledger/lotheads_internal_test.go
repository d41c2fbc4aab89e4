package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// refLotHeadsRoot computes the lot-head map's root from its definition
// (lotheads.go), recursively over the whole set of heads: the reference
// the stored, incrementally updated map must agree with.
func refLotHeadsRoot(heads map[[32]byte]uint64) tlog.Hash {
	type leaf struct {
		path [32]byte
		seq  uint64
	}
	var all []leaf
	for p, s := range heads {
		all = append(all, leaf{p, s})
	}
	var rec func(ls []leaf, d int) tlog.Hash
	rec = func(ls []leaf, d int) tlog.Hash {
		switch len(ls) {
		case 0:
			return tlog.Hash{}
		case 1:
			return lotLeafHash(ls[0].path, ls[0].seq)
		}
		var l, r []leaf
		for _, x := range ls {
			if pathBit(x.path, d) == 0 {
				l = append(l, x)
			} else {
				r = append(r, x)
			}
		}
		return lotBranchHash(rec(l, d+1), rec(r, d+1))
	}
	return rec(all, 0)
}

// TestLotHeadsMap checks the map a LotMapStore keeps in memory against
// refLotHeadsRoot, a direct implementation of its definition, after
// every update (one or several lots an entry, some entries naming none):
// the root, the root derived from the store's lot heads alone, every
// lot's proof at the current size, and that proofs of a wrong seq, of
// another lot or against another root fail. The lots are many enough
// that the buckets, at depth testBucketDepth here, hold several. Older sizes,
// which are recomputed from the entries since, are tested on real
// ledgers (lotheads_past_test.go) against the roots this path gives.
// testBucketDepth is a map's bucket depth small enough that a test fills
// its buckets with a few thousand lots.
const testBucketDepth = 8

func TestLotHeadsMap(t *testing.T) {
	raw := NewMemStore()
	st := newLotMapStore(raw, testBucketDepth)
	if err := st.Wait(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var lots []LotRef
	heads := map[[32]byte]uint64{}
	byRef := map[LotRef]uint64{}
	var prev tlog.Hash
	const entries = 400
	// Many lots first, so that buckets hold several.
	for i := range 8 << testBucketDepth {
		ref := LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("P%d", i)}
		heads[LotPath(ref)] = 0
		byRef[ref] = 0
	}
	if err := st.Update(func(w Writer) error {
		for ref := range byRef {
			if err := w.Set(lotHeadKey(ref), u64(0)); err != nil {
				return err
			}
		}
		return w.Set(keySize, u64(1))
	}); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq < entries; seq++ {
		var named []LotRef
		for range rng.IntN(3) {
			var ref LotRef
			if len(lots) == 0 || rng.IntN(3) == 0 {
				ref = LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("L%d", seq)}
				if _, ok := byRef[ref]; !ok {
					lots = append(lots, ref)
				}
			} else {
				ref = lots[rng.IntN(len(lots))]
			}
			named = append(named, ref)
		}
		if err := st.Update(func(w Writer) error {
			for _, ref := range named {
				if err := w.Set(lotHeadKey(ref), u64(seq)); err != nil {
					return err
				}
			}
			return w.Set(keySize, u64(seq+1))
		}); err != nil {
			t.Fatal(err)
		}
		for _, ref := range named {
			heads[LotPath(ref)] = seq
			byRef[ref] = seq
		}
		size := seq + 1
		err := st.View(func(r Reader) error {
			got, err := LotHeadsRoot(r, size)
			if err != nil {
				return err
			}
			// The reference and the derivation cost a pass over all the
			// lots: every 100 entries; the proofs below check every entry.
			full := seq%100 == 0 || seq == entries-1
			if full {
				if want := refLotHeadsRoot(heads); got != want {
					t.Fatalf("root at size %d = %x, want %x", size, got, want)
				}
				var derived tlog.Hash
				if err := raw.View(func(r Reader) (err error) { derived, err = LotHeadsRoot(r, size); return err }); err != nil {
					return err
				}
				if derived != got {
					t.Fatalf("size %d: root derived from the lot heads %x, the map in memory %x", size, derived, got)
				}
			}
			sample := slices.Clone(lots)
			for range 5 {
				sample = append(sample, LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("P%d", rng.IntN(8<<testBucketDepth))})
			}
			for _, ref := range sample {
				p, err := ProveLotHead(r, size, ref)
				if err != nil {
					return err
				}
				if p.Seq != byRef[ref] {
					t.Errorf("size %d: head of %s = %d, want %d", size, ref, p.Seq, byRef[ref])
				}
				if err := CheckLotHead(p, got, ref); err != nil {
					t.Errorf("size %d: proof of %s: %v", size, ref, err)
				}
				bad := p
				bad.Seq--
				if err := CheckLotHead(bad, got, ref); !errors.Is(err, ErrLotHead) {
					t.Errorf("size %d: proof of %s with seq %d accepted", size, ref, bad.Seq)
				}
				if other := lots[len(lots)/2]; other != ref {
					if err := CheckLotHead(p, got, other); err == nil {
						t.Errorf("size %d: proof of %s accepted for %s", size, ref, other)
					}
				}
				if prev != got && p.Seq == seq {
					if err := CheckLotHead(p, prev, ref); err == nil {
						t.Errorf("size %d: proof of %s accepted against the previous root", size, ref)
					}
				}
			}
			unknown := LotRef{GTIN: "08936000000127", Lot: "NEVER"}
			if _, err := ProveLotHead(r, size, unknown); !errors.Is(err, ErrNoLotHead) {
				t.Errorf("size %d: proof of a lot never written: %v, want ErrNoLotHead", size, err)
			}
			prev = got
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseCheckpointLotHeads(t *testing.T) {
	root := tlog.Hash{1, 2, 3}
	c := Checkpoint{Origin: "traceledger/0011223344556677", Size: 9, Root: tlog.Hash{7}, LotHeads: root, HasLotHeads: true}
	got, err := ParseCheckpoint(FormatCheckpoint(c))
	if err != nil || got != c {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, c)
	}
	old := c
	old.LotHeads, old.HasLotHeads = tlog.Hash{}, false
	if got, err := ParseCheckpoint(FormatCheckpoint(old)); err != nil || got.HasLotHeads {
		t.Errorf("checkpoint without the line: %+v, %v", got, err)
	}
	text := string(FormatCheckpoint(old))
	for name, bad := range map[string]string{
		"repeated line":    text + formatLotHeadsLine(root) + formatLotHeadsLine(root),
		"short hash":       text + "lot-heads AAAA\n",
		"empty extension":  text + "\n",
		"no final newline": text + "other",
	} {
		if _, err := ParseCheckpoint([]byte(bad)); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: err %v, want ErrCheckpoint", name, err)
		}
	}
	if got, err := ParseCheckpoint([]byte(text + "other extension\n" + formatLotHeadsLine(root))); err != nil || got.LotHeads != root {
		t.Errorf("lot-heads after another extension line: %+v, %v", got, err)
	}
}
