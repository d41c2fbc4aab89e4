package badgerkv

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet/harness"
)

// The release rule: after quiet, then every quiet while Badger has
// compactions due, until a release finds it settled; again after the
// next write and quiet; a fresh store counts as busy.
func TestIdleReleaseRule(t *testing.T) {
	const quiet = 10 * time.Second
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	settled, unsettled := func() bool { return true }, func() bool { return false }
	r := idleRelease{quiet: quiet, version: 7, since: t0}
	steps := []struct {
		name    string
		version uint64
		at      time.Duration
		settled func() bool
		want    bool
	}{
		{"fresh store, not quiet yet", 7, quiet - time.Millisecond, settled, false},
		{"quiet, compactions still due", 7, quiet, unsettled, true},
		{"not quiet since that release", 7, 2*quiet - time.Millisecond, unsettled, false},
		{"quiet again, still compacting", 7, 2 * quiet, unsettled, true},
		{"quiet again, settled", 7, 3 * quiet, settled, true},
		{"settled at the last release", 7, 5 * quiet, settled, false},
		{"nor when compactions come due without writes", 7, 6 * quiet, unsettled, false},
		{"a write starts a new period", 8, 7 * quiet, settled, false},
		{"writes go on", 9, 7*quiet + quiet/2, settled, false},
		{"and on", 10, 8 * quiet, settled, false},
		{"not yet quiet since the last", 10, 9*quiet - time.Millisecond, settled, false},
		{"quiet since the last write", 10, 9 * quiet, settled, true},
		{"once only when settled", 10, 12 * quiet, settled, false},
	}
	for _, s := range steps {
		if got := r.due(s.version, t0.Add(s.at), s.settled); got != s.want {
			t.Fatalf("%s: due = %v, want %v", s.name, got, s.want)
		}
	}
}

// The loop releases after writes stop, and Close stops it.
func TestReleaseWhenIdle(t *testing.T) {
	d, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	var released atomic.Int32
	d.opts.ReleaseIdle = 20 * time.Millisecond
	d.release = func() { released.Add(1) }
	d.startBackground()
	if !d.settled() {
		t.Fatal("an empty store has compactions due")
	}
	for i := range 10 {
		if err := d.Update(func(w ledger.Writer) error { return w.Set([]byte{'k', byte(i)}, []byte("v")) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := harness.Poll(context.Background(), 10*time.Second, func() bool { return released.Load() > 0 }); err != nil {
		t.Fatalf("no release after the writes stopped: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d.stopBackground == nil {
		t.Fatal("no background loop was started")
	}
}
