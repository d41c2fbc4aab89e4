// Package bloom is a Bloom filter that grows without rebuilding, for sets
// that are only ever added to: a key was added, or surely was not.
//
// The filter grows by segments, each twice the capacity of the last
// (Bloom filters cannot be resized, and rebuilding one needs every key
// again); a key is held when any segment has all of its bits. Each
// segment holds its capacity at a false-positive rate of about 1 % (10
// bits and 7 probes per key of capacity), so a filter of n keys takes at
// most about 2.5·n bytes and answers wrongly for at most about 1 % of
// absent keys per segment it has.
//
// The caller hashes: a key is given as two 64-bit hashes, h1 and h2, and
// probe i is bit (h1 + i·h2) mod m of a segment of m bits (double
// hashing, Kirsch and Mitzenmacher). Keys that are hashes already (a
// SHA-256) can be used as they are.
//
// Add and MayContain may be called concurrently: bits are set and read
// atomically, and a segment is appended under a lock.
package bloom

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
)

const (
	probes     = 7
	bitsPerKey = 10
	// maxSegments bounds a decoded filter: 2^24 times the first
	// segment's capacity is never reached.
	maxSegments = 24
)

// Filter is a growing Bloom filter. Its zero value is not usable: call New.
type Filter struct {
	mu   sync.Mutex                 // guards growth (segs' replacement)
	segs atomic.Pointer[[]*segment] // the newest last
}

type segment struct {
	bits []atomic.Uint64
	m    uint64       // bits
	keys atomic.Int64 // added
	max  int64        // capacity
}

// New returns an empty filter whose first segment holds first keys.
func New(first int64) *Filter {
	f := &Filter{}
	segs := []*segment{newSegment(max(first, 1))}
	f.segs.Store(&segs)
	return f
}

func newSegment(keys int64) *segment {
	m := (uint64(keys)*bitsPerKey + 63) &^ 63
	return &segment{bits: make([]atomic.Uint64, m/64), m: m, max: keys}
}

// Add adds the key with hashes h1, h2, growing the filter when its newest
// segment is full.
func (f *Filter) Add(h1, h2 uint64) {
	segs := *f.segs.Load()
	s := segs[len(segs)-1]
	if s.keys.Add(1) > s.max {
		s = f.grow(s)
	}
	for i := range uint64(probes) {
		b := (h1 + i*h2) % s.m
		s.bits[b/64].Or(1 << (b % 64))
	}
}

// grow appends a segment twice the size of full, unless another Add
// already has, and returns the newest segment.
func (f *Filter) grow(full *segment) *segment {
	f.mu.Lock()
	defer f.mu.Unlock()
	segs := *f.segs.Load()
	last := segs[len(segs)-1]
	if last != full || len(segs) >= maxSegments {
		return last
	}
	next := append(append([]*segment(nil), segs...), newSegment(full.max*2))
	f.segs.Store(&next)
	return next[len(next)-1]
}

// MayContain reports whether the key with hashes h1, h2 may have been
// added; false is certain.
func (f *Filter) MayContain(h1, h2 uint64) bool {
	for _, s := range *f.segs.Load() {
		if s.keys.Load() == 0 {
			continue
		}
		held := true
		for i := range uint64(probes) {
			b := (h1 + i*h2) % s.m
			if s.bits[b/64].Load()&(1<<(b%64)) == 0 {
				held = false
				break
			}
		}
		if held {
			return true
		}
	}
	return false
}

// Segments is how many segments the filter has grown to.
func (f *Filter) Segments() int { return len(*f.segs.Load()) }

// AppendBinary appends the filter to b: the number of segments (uint32),
// then for each its bits, keys and capacity (uint64 each) and its bits,
// all little-endian. Adds that run meanwhile may be kept or not.
func (f *Filter) AppendBinary(b []byte) []byte {
	segs := *f.segs.Load()
	b = binary.LittleEndian.AppendUint32(b, uint32(len(segs)))
	for _, s := range segs {
		b = binary.LittleEndian.AppendUint64(b, s.m)
		b = binary.LittleEndian.AppendUint64(b, uint64(s.keys.Load()))
		b = binary.LittleEndian.AppendUint64(b, uint64(s.max))
		for i := range s.bits {
			b = binary.LittleEndian.AppendUint64(b, s.bits[i].Load())
		}
	}
	return b
}

// ErrCorrupt: Decode was given bytes AppendBinary did not write.
var ErrCorrupt = errors.New("bloom: corrupt filter")

// Decode reads a filter that AppendBinary wrote at the start of b, and
// returns it with the bytes after it.
func Decode(b []byte) (*Filter, []byte, error) {
	if len(b) < 4 {
		return nil, nil, ErrCorrupt
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if n < 1 || n > maxSegments {
		return nil, nil, ErrCorrupt
	}
	segs := make([]*segment, n)
	for i := range segs {
		if len(b) < 24 {
			return nil, nil, ErrCorrupt
		}
		m, keys, capacity := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])
		b = b[24:]
		if m == 0 || m%64 != 0 || capacity < 1 || capacity > 1<<62 || keys > 1<<62 || m/64 > uint64(len(b)/8) {
			return nil, nil, ErrCorrupt
		}
		s := &segment{bits: make([]atomic.Uint64, m/64), m: m, max: int64(capacity)}
		s.keys.Store(int64(keys))
		for j := range s.bits {
			s.bits[j].Store(binary.LittleEndian.Uint64(b[8*j:]))
		}
		b = b[8*len(s.bits):]
		segs[i] = s
	}
	f := &Filter{}
	f.segs.Store(&segs)
	return f, b, nil
}
