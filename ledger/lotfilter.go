package ledger

import (
	"encoding/binary"
	"math/bits"
)

// A lotFilter is a Bloom filter of the lots in a lot-head map: it says
// for certain that the map lacks a lot, or that it may hold it.
//
// Nearly every lot the state machine looks up is new: a harvest's, the
// outputs of a transformation. For each, a transaction asks the map for
// the lot's head twice (lotStateAbsent, and the head the entry chains
// to), and a walk down the map's tree to a bucket is about 18 loads from
// places no recent walk touched, a few microseconds a record. The filter
// answers the same question from a few bits.
//
// A lot's path is already a SHA-256 (LotPath), so its bytes serve as the
// hashes of the probes. A lot whose name was chosen to collide costs a
// walk of the tree, as any false positive does, and nothing else.
//
// The filter grows by segments, each twice the capacity of the last, so
// it never needs rebuilding; a lot is in the filter when any segment has
// all of its bits. Each segment holds its capacity at a false-positive
// rate of about 1 % (10 bits and 7 probes per lot): 10⁶ lots take at
// most 2.5 MB.
type lotFilter struct {
	segs []lotFilterSegment
}

type lotFilterSegment struct {
	bits []uint64
	m    uint64 // bits
	keys int    // added
	max  int    // capacity
}

const (
	lotFilterProbes     = 7
	lotFilterBitsPerKey = 10
	lotFilterFirstKeys  = 1 << 16
)

// newLotFilter returns an empty filter sized for about n lots.
func newLotFilter(n int) *lotFilter {
	f := &lotFilter{}
	f.grow(max(2*n, lotFilterFirstKeys))
	return f
}

func (f *lotFilter) grow(keys int) {
	m := uint64(keys*lotFilterBitsPerKey+63) / 64 * 64
	f.segs = append(f.segs, lotFilterSegment{bits: make([]uint64, m/64), m: m, max: keys})
}

// probe returns the position of path's first probe in a segment of m
// bits, and the step to the next (double hashing over two words of the
// path); probe i is at (h1 + i·h2) mapped onto [0, m).
func probe(path *[32]byte) (h1, h2 uint64) {
	return binary.LittleEndian.Uint64(path[0:8]), binary.LittleEndian.Uint64(path[8:16]) | 1
}

// at maps h onto [0, m) without a division.
func at(h, m uint64) uint64 {
	hi, _ := bits.Mul64(h, m)
	return hi
}

// add puts a lot's path in the filter.
func (f *lotFilter) add(path [32]byte) {
	s := &f.segs[len(f.segs)-1]
	if s.keys >= s.max {
		f.grow(2 * s.max)
		s = &f.segs[len(f.segs)-1]
	}
	h, step := probe(&path)
	for range lotFilterProbes {
		b := at(h, s.m)
		s.bits[b/64] |= 1 << (b % 64)
		h += step
	}
	s.keys++
}

// mayContain reports whether path may have been added; false is certain.
func (f *lotFilter) mayContain(path [32]byte) bool {
	h0, step := probe(&path)
	for i := range f.segs {
		s := &f.segs[i]
		all, h := s.keys > 0, h0
		for k := 0; all && k < lotFilterProbes; k++ {
			b := at(h, s.m)
			all = s.bits[b/64]&(1<<(b%64)) != 0
			h += step
		}
		if all {
			return true
		}
	}
	return false
}

// eachLeaf calls fn for every lot in the subtree.
func (t *lotTree) eachLeaf(fn func(lotLeaf)) {
	if t == nil {
		return
	}
	for _, l := range t.leaves {
		fn(l)
	}
	t.kids[0].eachLeaf(fn)
	t.kids[1].eachLeaf(fn)
}
