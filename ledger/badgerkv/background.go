package badgerkv

// Background work of an open DB. Each loop (and the build of the miss
// filter, missfilter.go) is started by newDB when its option asks for it,
// runs in a goroutine of its own under one context,
// and returns when Close cancels that context; Close waits for them all
// (DB.background) before it closes Badger.

import (
	"context"
	"runtime"
	"time"
)

// startBackground starts the loops the options ask for, and the build of
// the live generation's miss filter.
func (d *DB) startBackground() {
	if d.opts.GCInterval <= 0 && d.opts.ReleaseIdle <= 0 && d.cur.miss == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stopBackground = cancel
	run := func(loop func(context.Context)) {
		d.background.Add(1)
		go func() {
			defer d.background.Done()
			loop(ctx)
		}()
	}
	if d.opts.GCInterval > 0 {
		run(d.collectGarbage)
	}
	if d.opts.ReleaseIdle > 0 {
		run(d.releaseWhenIdle)
	}
	if g := d.cur; g.miss != nil && !g.miss.ready.Load() { // else kept by the last Close
		g.acquire() // a restore may retire g meanwhile; it stays open until built
		run(func(ctx context.Context) {
			defer g.release()
			if err := g.miss.build(ctx, g.db); err != nil && ctx.Err() == nil {
				d.opts.Logger.Warn("build the filter of keys reads miss; every such read goes to the store", "err", err)
			}
		})
	}
}

// every calls fn at each tick of interval until ctx is done.
func every(ctx context.Context, interval time.Duration, fn func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fn(now)
		}
	}
}

// collectGarbage runs RunGC every Options.GCInterval until ctx is done.
func (d *DB) collectGarbage(ctx context.Context) {
	every(ctx, d.opts.GCInterval, func(time.Time) { d.RunGC() })
}

// releaseWhenIdle returns the process's free heap memory to the operating
// system once writes have stopped, until ctx is done.
//
// Why: a burst of writes leaves Badger with compactions to finish, even
// across a restart, and those hold hundreds of MB while they run (table
// builders' buffers, blocks read back). The Go collector then sets its next
// goal at twice what was live, and an idle process collects only every two
// minutes, so a node of 10⁶ entries that had just compacted kept 1.2 GB
// resident for minutes, and 870 MB of it was heap that nothing used
// (bench storage, BENCHMARKS.md). So once no update has been committed for
// Options.ReleaseIdle, the loop calls debug.FreeOSMemory: one forced
// collection, never while writes go on. While Badger still has
// compactions due it calls it again every Options.ReleaseIdle, since
// each compaction leaves garbage of its own, and stops at the first call
// that finds Badger settled, until the next write. Waiting for Badger to
// settle before the first call, as it did, left a node restarted after
// 10⁶ entries at 580 MiB a minute later (290 MiB of it anonymous), its
// compactions not yet done.
func (d *DB) releaseWhenIdle(ctx context.Context) {
	r := idleRelease{quiet: d.opts.ReleaseIdle, version: d.Version(), since: time.Now()}
	every(ctx, min(d.opts.ReleaseIdle/2, 5*time.Second), func(now time.Time) {
		if !r.due(d.Version(), now, d.settled) {
			return
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d.release()
		runtime.ReadMemStats(&after)
		d.opts.Logger.Debug("returned idle memory to the OS",
			"released_mib", (int64(after.HeapReleased)-int64(before.HeapReleased))>>20, "heap_in_use_mib", after.HeapInuse>>20)
	})
}

// idleRelease decides when releaseWhenIdle releases: when the store's
// Version has not moved for quiet since it last moved or since the last
// release, until a release finds Badger settled. A fresh store counts as
// busy, for Badger may be compacting what the process before it left.
type idleRelease struct {
	quiet   time.Duration
	version uint64    // the store's Version last seen
	since   time.Time // when it last changed, or the last release
	done    bool      // the last release found Badger settled: none until a write
}

// due takes one observation and reports whether to release now.
func (r *idleRelease) due(version uint64, now time.Time, settled func() bool) bool {
	if version != r.version {
		r.version, r.since, r.done = version, now, false
		return false
	}
	if r.done || now.Sub(r.since) < r.quiet {
		return false
	}
	r.since, r.done = now, settled()
	return true
}

// settled reports whether Badger has no compaction due: no level scores 1
// or more (L0 by its table count against NumLevelZeroTables, the others by
// size against their targets), the rule Badger's compactors pick work by.
func (d *DB) settled() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, l := range d.cur.db.Levels() {
		if l.Score >= 1 {
			return false
		}
	}
	return true
}
