package ledger

import (
	"encoding/binary"

	"github.com/traceledger/traceledger/ledger/bloom"
)

// A lotFilter is a Bloom filter of the lots in a lot-head map: it says
// for certain that the map lacks a lot, or that it may hold it.
//
// Nearly every lot the state machine looks up is new: a harvest's, the
// outputs of a transformation. For each, a transaction asks the map for
// the lot's head twice (lotStateAbsent, and the head the entry chains
// to), and a walk down the map's tree to a bucket is about 18 loads from
// places no recent walk touched, a few microseconds a record. The filter
// answers the same question from a few bits (10 a lot).
//
// A lot's path is already a SHA-256 (LotPath), so two of its words serve
// as the probes' hashes. A lot whose name was chosen to collide costs a
// walk of the tree, as any false positive does, and nothing else.
type lotFilter struct{ lots *bloom.Filter }

// newLotFilter returns an empty filter sized for about n lots.
func newLotFilter(n int) *lotFilter { return &lotFilter{bloom.New(int64(max(2*n, 1<<16)))} }

func lotProbes(path [32]byte) (h1, h2 uint64) {
	return binary.LittleEndian.Uint64(path[0:8]), binary.LittleEndian.Uint64(path[8:16]) | 1
}

// add puts a lot's path in the filter.
func (f *lotFilter) add(path [32]byte) { f.lots.Add(lotProbes(path)) }

// mayContain reports whether path may have been added; false is certain.
func (f *lotFilter) mayContain(path [32]byte) bool { return f.lots.MayContain(lotProbes(path)) }

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
