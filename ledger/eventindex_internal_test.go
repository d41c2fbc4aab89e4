package ledger

import (
	"slices"
	"testing"
)

// TestScanMerged: the class walk meets every seq of both indexes once, in
// order, across chunk boundaries; a walk resumed from any key it handed
// out goes on exactly after it; fn can stop it.
func TestScanMerged(t *testing.T) {
	a, b := []byte("x/q/k/cA\x00"), []byte("x/l/B\x00")
	st := NewMemStore()
	var want []uint64
	if err := st.Update(func(w Writer) error {
		// a: every third seq below 2000; b: every second (both hold
		// multiples of 6), far more than one chunk each, and a run of b
		// alone past a's end.
		for s := uint64(0); s < 2600; s++ {
			inA, inB := s%3 == 0 && s < 2000, s%2 == 0
			if inA {
				if err := w.Set(cat(a, u64(s)), nil); err != nil {
					return err
				}
			}
			if inB {
				if err := w.Set(cat(b, u64(s)), nil); err != nil {
					return err
				}
			}
			if inA || inB {
				want = append(want, s)
			}
		}
		// Keys that are not seq keys of either prefix are skipped.
		if err := w.Set(cat(b, []byte{1, 2}), nil); err != nil {
			return err
		}
		return w.Set(cat([]byte("x/l/B\x00x"), u64(7)), nil)
	}); err != nil {
		t.Fatal(err)
	}
	walk := func(from []byte, stopAfter int) (seqs []uint64, keys [][]byte) {
		t.Helper()
		err := st.View(func(r Reader) error {
			return scanMerged(r, a, b, seqFrom(from, len(a)), func(s uint64, k []byte) bool {
				seqs, keys = append(seqs, s), append(keys, k)
				return stopAfter == 0 || len(seqs) < stopAfter
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return seqs, keys
	}
	got, keys := walk(nil, 0)
	if !slices.Equal(got, want) {
		t.Fatalf("walk met %d seqs, want %d (first difference near %v)", len(got), len(want), firstDiff(got, want))
	}
	for i, k := range keys {
		if string(k) != string(cat(a, u64(got[i]))) {
			t.Fatalf("seq %d handed out under key %q", got[i], k)
		}
	}
	// Resumed after each of a sample of keys, as a page token does.
	for _, i := range []int{0, 1, 255, 256, 257, 700, len(keys) - 2, len(keys) - 1} {
		rest, _ := walk(append(append([]byte{}, keys[i]...), 0), 0)
		if !slices.Equal(rest, want[i+1:]) {
			t.Errorf("resumed after seq %d: %d seqs, want %d", got[i], len(rest), len(want)-i-1)
		}
		if at, _ := walk(keys[i], 0); !slices.Equal(at, want[i:]) {
			t.Errorf("resumed at seq %d: %d seqs, want %d", got[i], len(at), len(want)-i)
		}
	}
	if first, _ := walk(nil, 10); !slices.Equal(first, want[:10]) {
		t.Errorf("stopped after 10: %v", first)
	}
	// A position shorter than a seq, and the prefix itself.
	if rest, _ := walk(cat(a, []byte{0, 0, 0, 0, 0, 0, 0x08}), 0); !slices.Equal(rest, want[slices.Index(want, 2048):]) {
		t.Errorf("from a short position: starts at %v", rest[:1])
	}
	if all, _ := walk(a, 0); !slices.Equal(all, want) {
		t.Errorf("from the prefix: %d seqs", len(all))
	}
	if none, _ := walk(cat(a, u64(1<<64-1), []byte{0}), 0); len(none) != 0 {
		t.Errorf("after the last seq: %v", none)
	}
}

func firstDiff(a, b []uint64) []uint64 {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return []uint64{a[i], b[i]}
		}
	}
	return nil
}

// TestClassLot: only a plain lot's class prefix is read as that lot;
// other classes, kinds and forms keep their own keys.
func TestClassLot(t *testing.T) {
	plain := LotRef{GTIN: "08936000000127", Lot: "VAI-2026.06_a"}
	if l, ok := classLot(EventKeyPrefix(EventKeyClass, LotClass(plain))); !ok || l != plain {
		t.Errorf("plain lot's class: %v %v", l, ok)
	}
	for _, p := range [][]byte{
		EventKeyPrefix(EventKeyClass, LotClass(LotRef{GTIN: "08936000000127", Lot: "VAI/2+x"})),
		EventKeyPrefix(EventKeyClass, "https://id.gs1.org/01/08936000000127"),
		EventKeyPrefix(EventKeyClass, "https://id.gs1.org/01/8936000000127/10/VAI"),
		EventKeyPrefix(EventKeyClass, "https://id.gs1.org/01/08936000000127/10/VAI/21/1"),
		EventKeyPrefix(EventKeyClass, "https://id.gs1.org/01/08936000000127/10/"),
		EventKeyPrefix(EventKeyEPC, LotClass(plain)),
		EventKeyPrefix(EventKeyClass, LotClass(plain))[:20],
	} {
		if l, ok := classLot(p); ok {
			t.Errorf("%q read as lot %v", p, l)
		}
	}
}
