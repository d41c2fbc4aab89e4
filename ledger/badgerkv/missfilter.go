package badgerkv

// A read of a key that is not there costs Badger more than any other: it
// searches every memtable and asks every level (each L0 table, then one
// table per level) before it can say so. The ledger makes such a read
// for every record it appends, to tell a producer's retry from a new
// record (its record-id index, where nearly every read misses), on the
// state machine's goroutine, which every write waits for.
//
// A missFilter answers those reads from memory: a Bloom filter of the
// keys under the prefixes the options name (Options.MissFilter), one per
// generation. A key is added when a transaction sets it, before the
// commit that makes it visible, so a reader that can see a key always
// finds it in the filter; a key added by a transaction that then fails is
// a false positive, which costs one read of Badger, like any other. The
// filter is built from the store by a background loop when the DB opens
// (until then every read goes to Badger), and from the pairs a restore
// loads.
//
// The filter grows by segments, each twice as large as the last, so it
// never needs rebuilding: a key is in the filter when any segment has
// all of its bits. Each segment holds its capacity at a false-positive
// rate of about 1 % (10 bits and 7 probes per key of capacity); with the
// doubling, 10⁶ keys take at most 2.5 MB.

import (
	"bytes"
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

const (
	missProbes      = 7
	missBitsPerKey  = 10
	missFirstKeys   = 1 << 16 // capacity of the first segment
	missSegmentsMax = 24      // 2^16·2^24 keys: never reached
)

type missFilter struct {
	prefixes [][]byte
	seed     maphash.Seed
	ready    atomic.Bool // built: a key it lacks is not in the store

	mu   sync.Mutex                     // guards growth (segs' replacement)
	segs atomic.Pointer[[]*missSegment] // the newest last
}

type missSegment struct {
	bits []atomic.Uint64
	m    uint64       // bits
	keys atomic.Int64 // added
	max  int64        // capacity
}

func newMissFilter(prefixes [][]byte) *missFilter {
	if len(prefixes) == 0 {
		return nil
	}
	f := &missFilter{prefixes: prefixes, seed: maphash.MakeSeed()}
	segs := []*missSegment{newMissSegment(missFirstKeys)}
	f.segs.Store(&segs)
	return f
}

func newMissSegment(keys int64) *missSegment {
	m := uint64(keys) * missBitsPerKey
	m = (m + 63) &^ 63
	return &missSegment{bits: make([]atomic.Uint64, m/64), m: m, max: keys}
}

// note adds key if it is under one of the filtered prefixes; a nil
// filter notes nothing.
func (f *missFilter) note(key []byte) {
	if f != nil && f.covers(key) {
		f.add(key)
	}
}

// rulesOut reports whether a read of key can be answered "not there"
// without the store: key is under a filtered prefix and surely absent.
// A nil filter rules nothing out.
func (f *missFilter) rulesOut(key []byte) bool {
	return f != nil && f.covers(key) && f.absent(key)
}

// covers reports whether key is under one of the filtered prefixes.
func (f *missFilter) covers(key []byte) bool {
	for _, p := range f.prefixes {
		if bytes.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// probes returns the two hashes of key that its probe positions derive
// from (double hashing: h1 + i·h2).
func (f *missFilter) probes(key []byte) (h1, h2 uint64) {
	h := maphash.Bytes(f.seed, key)
	return h, h>>29 | h<<35 | 1
}

// add notes key, growing the filter when its newest segment is full.
func (f *missFilter) add(key []byte) {
	segs := *f.segs.Load()
	s := segs[len(segs)-1]
	if s.keys.Add(1) > s.max {
		s = f.grow(s)
	}
	h1, h2 := f.probes(key)
	for i := range uint64(missProbes) {
		b := (h1 + i*h2) % s.m
		s.bits[b/64].Or(1 << (b % 64))
	}
}

// grow appends a segment twice the size of full, unless another add
// already has, and returns the newest segment.
func (f *missFilter) grow(full *missSegment) *missSegment {
	f.mu.Lock()
	defer f.mu.Unlock()
	segs := *f.segs.Load()
	last := segs[len(segs)-1]
	if last != full || len(segs) >= missSegmentsMax {
		return last
	}
	next := append(append([]*missSegment(nil), segs...), newMissSegment(full.max*2))
	f.segs.Store(&next)
	return next[len(next)-1]
}

// absent reports whether key is surely not in the store: the filter is
// built and no segment holds it.
func (f *missFilter) absent(key []byte) bool {
	if !f.ready.Load() {
		return false
	}
	h1, h2 := f.probes(key)
	for _, s := range *f.segs.Load() {
		held := true
		for i := range uint64(missProbes) {
			b := (h1 + i*h2) % s.m
			if s.bits[b/64].Load()&(1<<(b%64)) == 0 {
				held = false
				break
			}
		}
		if held {
			return false
		}
	}
	return true
}

// build adds every key of db under the filtered prefixes and marks the
// filter ready, unless ctx ends first (the filter then stays unready and
// every read goes to Badger).
func (f *missFilter) build(ctx context.Context, db *badger.DB) error {
	err := db.View(func(t *badger.Txn) error {
		for _, p := range f.prefixes {
			opts := badger.DefaultIteratorOptions
			opts.Prefix, opts.PrefetchValues = p, false
			it := t.NewIterator(opts)
			n := 0
			for it.Rewind(); it.Valid(); it.Next() {
				if n++; n%4096 == 0 && ctx.Err() != nil {
					it.Close()
					return ctx.Err()
				}
				f.add(it.Item().Key())
			}
			it.Close()
		}
		return nil
	})
	if err == nil {
		f.ready.Store(true)
	}
	return err
}
