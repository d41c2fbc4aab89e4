package badgerkv

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet/harness"
)

var missPrefix = []byte("i/")

func missKey(i int) []byte { return fmt.Appendf(nil, "i/%08d", i) }

// filterReady waits until d's live generation has built its miss filter.
func filterReady(t *testing.T, d *DB) *missFilter {
	t.Helper()
	d.mu.RLock()
	f := d.cur.miss
	d.mu.RUnlock()
	if f == nil {
		t.Fatal("no miss filter")
	}
	harness.Wait(t, 10*time.Second, "the miss filter is built", f.ready.Load)
	return f
}

// reads checks that every key of have is found with its value and that
// no key of lack is, in one transaction.
func reads(t *testing.T, d *DB, have, lack []int) {
	t.Helper()
	if err := d.View(func(r ledger.Reader) error {
		for _, i := range have {
			v, ok, err := r.Get(missKey(i))
			if err != nil || !ok || !bytes.Equal(v, missKey(i)) {
				return fmt.Errorf("key %d: %q %v %v, want it", i, v, ok, err)
			}
		}
		for _, i := range lack {
			if _, ok, err := r.Get(missKey(i)); err != nil || ok {
				return fmt.Errorf("key %d: %v %v, want none", i, ok, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func put(t *testing.T, d *DB, keys []int) {
	t.Helper()
	for len(keys) > 0 {
		n := min(len(keys), 5000)
		if err := d.Update(func(w ledger.Writer) error {
			for _, i := range keys[:n] {
				if err := w.Set(missKey(i), missKey(i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		keys = keys[n:]
	}
}

// TestMissFilter: reads through the filter find every key written (in
// the writing transaction, after its commit, past the first segment),
// not the keys never written, nor those of a transaction that failed;
// most reads of absent keys are answered by the filter alone.
func TestMissFilter(t *testing.T) {
	d, err := Open(Options{InMemory: true, MissFilter: [][]byte{missPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f := filterReady(t, d)
	if err := d.Update(func(w ledger.Writer) error {
		if err := w.Set(missKey(-1), missKey(-1)); err != nil {
			return err
		}
		if v, ok, err := w.Get(missKey(-1)); err != nil || !ok || !bytes.Equal(v, missKey(-1)) {
			return fmt.Errorf("own write: %q %v %v", v, ok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	n := missFirstKeys + missFirstKeys/2 // into the second segment
	put(t, d, span(0, n))
	if segs := len(*f.segs.Load()); segs < 2 {
		t.Fatalf("%d keys in %d segment(s), want the filter grown", n, segs)
	}
	reads(t, d, append(span(0, n), -1), span(n, n+20000))

	boom := errors.New("boom")
	if err := d.Update(func(w ledger.Writer) error {
		if err := w.Set(missKey(-2), nil); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	reads(t, d, nil, []int{-2})

	false_ := 0
	for i := n; i < n+20000; i++ {
		if !f.absent(missKey(i)) {
			false_++
		}
	}
	if false_ > 20000/20 {
		t.Errorf("the filter holds %d of 20 000 keys never written, want under 5 %%", false_)
	}
	// Keys outside the filtered prefixes never ask it.
	if f.covers([]byte("e/1")) || !f.covers(missKey(1)) {
		t.Error("covers: wrong prefix")
	}
}

// TestMissFilterBuiltAndRestored: a store opened with the filter builds
// it from the keys already there, and a restore fills the new
// generation's from the pairs it loads.
func TestMissFilterBuiltAndRestored(t *testing.T) {
	dir := t.TempDir()
	plain, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	put(t, plain, span(0, 3000))
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := Open(Options{Dir: dir, MissFilter: [][]byte{missPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	reads(t, d, span(0, 3000), span(3000, 4000)) // built or not
	filterReady(t, d)
	reads(t, d, span(0, 3000), span(3000, 4000))

	src, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	put(t, src, span(5000, 6000))
	snap := src.Snapshot()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	if err := d.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if !d.cur.miss.ready.Load() {
		t.Fatal("the restored generation's filter is not ready")
	}
	reads(t, d, span(5000, 6000), span(0, 3000))
}
