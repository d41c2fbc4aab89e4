package badgerkv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	if segs := f.keys.Segments(); segs < 2 {
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

// TestMissFilterKept: Close keeps a built filter and the next Open takes
// it, unless anything was committed since (by a tool's Open without the
// filter, too) or the file is damaged; then it builds one. Either way the
// reads answer what the store holds.
func TestMissFilterKept(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, MissFilter: [][]byte{missPrefix}}
	open := func(o Options) *DB {
		t.Helper()
		d, err := Open(o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	shut := func(d *DB) {
		t.Helper()
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var file string // in the live generation's directory
	kept := func() bool {
		_, err := os.Stat(file)
		return err == nil
	}
	// reopen opens the store with the filter and reports whether it took
	// the kept one (the seed is random per filter, kept with it).
	reopen := func(seed uint64) (*DB, bool) {
		t.Helper()
		d := open(opts)
		if kept() {
			t.Error("the kept filter's file is still there after Open")
		}
		return d, d.cur.miss.seed == seed
	}

	d := open(opts)
	file = filepath.Join(d.cur.dir, missFilterFile)
	put(t, d, span(0, 3000))
	seed := filterReady(t, d).seed
	shut(d)
	if !kept() {
		t.Fatalf("no %s after Close", file)
	}

	d, took := reopen(seed)
	if !took || !d.cur.miss.ready.Load() {
		t.Fatal("the kept filter was not taken")
	}
	reads(t, d, span(0, 3000), span(3000, 4000))
	ruledOut := 0
	for i := 3000; i < 4000; i++ {
		if d.cur.miss.absent(missKey(i)) {
			ruledOut++
		}
	}
	if ruledOut < 950 {
		t.Errorf("the kept filter rules out %d of 1 000 absent keys", ruledOut)
	}
	put(t, d, span(3000, 3100))
	shut(d)

	// A tool's Open that commits nothing leaves the kept filter good; one
	// that commits makes it stale.
	shut(open(Options{Dir: dir}))
	d, took = reopen(seed)
	if !took {
		t.Fatal("the kept filter was not taken after an Open that wrote nothing")
	}
	reads(t, d, span(0, 3100), span(3100, 3200))
	shut(d)
	tool := open(Options{Dir: dir})
	put(t, tool, span(4000, 4100))
	shut(tool)
	d, took = reopen(seed)
	if took {
		t.Fatal("a filter kept before a commit was taken")
	}
	filterReady(t, d)
	reads(t, d, append(span(0, 3100), span(4000, 4100)...), span(3100, 3200))
	seed = d.cur.miss.seed
	shut(d)

	// A damaged file is not taken.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d, took = reopen(seed)
	if took {
		t.Fatal("a damaged filter was taken")
	}
	filterReady(t, d)
	reads(t, d, append(span(0, 3100), span(4000, 4100)...), span(3100, 3200))
	shut(d)
}

// TestMissFilterDecodeRefuses: a kept filter is refused when it is cut
// short, describes other prefixes or another version, or has a bad sum.
func TestMissFilterDecodeRefuses(t *testing.T) {
	f := newMissFilter([][]byte{missPrefix})
	for i := range 1000 {
		f.add(missKey(i))
	}
	f.ready.Store(true)
	dir := t.TempDir()
	if err := f.save(dir, 42); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, missFilterFile))
	if err != nil {
		t.Fatal(err)
	}
	if g, err := decodeMissFilter(b, [][]byte{missPrefix}, 42); err != nil || g.seed != f.seed || !g.ready.Load() {
		t.Fatalf("the file as saved: %v", err)
	} else if g.absent(missKey(7)) {
		t.Fatal("a decoded filter lacks a key it held")
	}
	for name, c := range map[string]struct {
		b        []byte
		prefixes [][]byte
		version  uint64
	}{
		"another version":  {b, [][]byte{missPrefix}, 43},
		"other prefixes":   {b, [][]byte{[]byte("x/")}, 42},
		"more prefixes":    {b, [][]byte{missPrefix, []byte("x/")}, 42},
		"cut short":        {b[:len(b)-40], [][]byte{missPrefix}, 42},
		"empty":            {nil, [][]byte{missPrefix}, 42},
		"a bit flipped":    {flip(b, len(b)-100), [][]byte{missPrefix}, 42},
		"another magic":    {flip(b, 0), [][]byte{missPrefix}, 42},
		"the sum replaced": {flip(b, len(b)-1), [][]byte{missPrefix}, 42},
	} {
		if _, err := decodeMissFilter(c.b, c.prefixes, c.version); err == nil {
			t.Errorf("%s: taken", name)
		}
	}
	// An unbuilt filter is not saved.
	u := newMissFilter([][]byte{missPrefix})
	if err := u.save(dir, 1); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(filepath.Join(dir, missFilterFile)); !bytes.Equal(b2, b) {
		t.Error("an unbuilt filter replaced the kept one")
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x10
	return c
}

// TestCloseTwice: a second Close, with or without a filter, neither
// panics nor touches the kept filter.
func TestCloseTwice(t *testing.T) {
	for _, filter := range [][][]byte{nil, {missPrefix}} {
		d, err := Open(Options{Dir: t.TempDir(), MissFilter: filter})
		if err != nil {
			t.Fatal(err)
		}
		put(t, d, span(0, 10))
		if filter != nil {
			filterReady(t, d)
		}
		file := filepath.Join(d.cur.dir, missFilterFile)
		d.Close()
		before, _ := os.ReadFile(file)
		d.Close()
		if after, _ := os.ReadFile(file); !bytes.Equal(before, after) || (filter != nil) != (len(after) > 0) {
			t.Errorf("filter %q: kept %d bytes, then %d", filter, len(before), len(after))
		}
	}
}
