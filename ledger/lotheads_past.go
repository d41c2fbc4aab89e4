package ledger

import (
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"
)

// LotHeads is the lot-head map of the log of one size, read through one
// Reader: the root, and proofs for any number of lots. At an older size
// it is the map now with the lots whose head changed since put back
// (lotheads.go). It is used by one goroutine.
type LotHeads struct {
	size    uint64
	base    *lotTree            // the map now
	bd      int                 // the depth of its buckets
	changed [][32]byte          // paths of the lots whose head changed since size, sorted
	heads   map[[32]byte]uint64 // their heads at size; absent: no head yet
	memo    map[nodeKey]subtree // subtrees above the buckets already recomputed
}

type nodeKey struct {
	depth  int
	prefix [32]byte
}

// subtree is what the map held under one prefix at its size.
type subtree struct {
	hash tlog.Hash
	n    int     // lots, counted up to 2
	leaf lotLeaf // the one lot, when n == 1
}

// LotHeadsAt returns the lot-head map of the log of the given size (at
// most the current size). At an older size it reads the entries since
// (see lotheads.go); the root and proofs then cost the recomputation of
// the subtrees that changed.
//
// The map now comes from r when r is a LotMapStore's reader; from any
// other Reader it is derived from the lot heads, which costs a scan of
// them all (tools and tests).
func LotHeadsAt(r Reader, size uint64) (*LotHeads, error) {
	v, err := lotMapOf(r)
	if err != nil {
		return nil, fmt.Errorf("lot-head map: %w", err)
	}
	now := v.size
	if size > now {
		return nil, fmt.Errorf("lot-head map at size %d: the log has %d entries", size, now)
	}
	if size == 0 {
		return &LotHeads{}, nil // empty: no entry to read back
	}
	m := &LotHeads{size: size, base: v.root, bd: v.bucketDepth, heads: map[[32]byte]uint64{}, memo: map[nodeKey]subtree{}}
	seen := map[[32]byte]bool{}
	for seq := size; seq < now; seq++ {
		e, _, err := GetEntry(r, seq)
		if err != nil {
			return nil, fmt.Errorf("lot-head map at size %d: %w", size, err)
		}
		// Prev names every lot the entry names that had a head before
		// it: that head is the lot's head at size, if this is the first
		// entry since that names it. (A partner lot whose head the entry
		// did not move is put back to the head it has anyway.)
		for lot, prev := range e.Prev {
			p := lotPathOf(lot)
			if !seen[p] {
				seen[p] = true
				m.heads[p] = prev
			}
		}
		// A lot the entry names without a Prev had no head before it.
		if e.Type == TypeGenesis {
			continue
		}
		rec, err := DecodeRecord(e.Record)
		if err != nil {
			// A record today's rules refuse moved no lot's head.
			continue
		}
		for _, l := range rec.Lots() {
			seen[LotPath(l)] = true
		}
	}
	for p := range seen {
		m.changed = append(m.changed, p)
	}
	slices.SortFunc(m.changed, comparePaths)
	return m, nil
}

// underPrefix returns the paths of sorted that share their first depth
// bits with prefix (a sub-slice: sorted order keeps them together).
func underPrefix(sorted [][32]byte, prefix [32]byte, depth int) [][32]byte {
	if len(sorted) == 0 {
		return nil
	}
	lo := pathPrefix(prefix, depth)
	i, _ := slices.BinarySearchFunc(sorted, lo, comparePaths)
	j := i
	for j < len(sorted) && pathPrefix(sorted[j], depth) == lo {
		j++
	}
	return sorted[i:j]
}

// cursor is a subtree of the map now at depth d: a node of the tree down
// to the buckets (at depth bd), the bucket's leaves under the prefix below
// them.
type cursor struct {
	d, bd  int
	t      *lotTree  // d <= bd
	leaves []lotLeaf // d >= bd
}

func (c cursor) count() int {
	if c.d < c.bd {
		return c.t.size()
	}
	return len(c.leaves)
}

// hash is the tree's (a node, or a bucket with its hash kept) down to
// the buckets, and computed from the leaves below them.
func (c cursor) hash() tlog.Hash {
	if c.t != nil || c.d < c.bd {
		return c.t.hashOf()
	}
	return hashLeaves(c.d, c.leaves)
}

func (c cursor) child(b byte) cursor {
	if c.d < c.bd {
		next := cursor{bd: c.bd, d: c.d + 1}
		if c.t != nil {
			next.t = c.t.kids[b]
		}
		if next.d == c.bd && next.t != nil {
			next.leaves = next.t.leaves
		}
		return next
	}
	i := splitAt(c.leaves, c.d)
	if b == 0 {
		return cursor{bd: c.bd, d: c.d + 1, leaves: c.leaves[:i]}
	}
	return cursor{bd: c.bd, d: c.d + 1, leaves: c.leaves[i:]}
}

// only returns the lot of a subtree that holds exactly one.
func (c cursor) only() lotLeaf {
	for c.d < c.bd {
		b := byte(0)
		if c.t.kids[0] == nil {
			b = 1
		}
		c = c.child(b)
	}
	return c.leaves[0]
}

// now is the subtree at c as it is now.
func (c cursor) now() subtree {
	s := subtree{hash: c.hash(), n: min(c.count(), 2)}
	if s.n == 1 {
		s.leaf = c.only()
	}
	return s
}

// node returns the subtree at c (whose prefix is prefix) as it stood at
// the map's size; changed are the changed lots' paths under prefix. A
// subtree with none is as it is now. Above the buckets the rest is
// recomputed from the children; in a bucket, from its leaves with the
// changed lots put back as they stood.
func (m *LotHeads) node(c cursor, prefix [32]byte, changed [][32]byte) subtree {
	if len(changed) == 0 {
		return c.now()
	}
	if c.d >= c.bd {
		return cursor{d: c.d, bd: c.bd, leaves: m.leavesThen(c.leaves, changed)}.now()
	}
	id := nodeKey{c.d, prefix}
	if v, hit := m.memo[id]; hit {
		return v
	}
	left := prefix // bit d is already clear
	right := siblingPrefix(prefix, c.d)
	l := m.node(c.child(0), left, underPrefix(changed, left, c.d+1))
	r := m.node(c.child(1), right, underPrefix(changed, right, c.d+1))
	out := subtree{hash: joinHash(l.hash, l.n, r.hash, r.n), n: min(l.n+r.n, 2)}
	if out.n == 1 {
		out.leaf = l.leaf
		if r.n == 1 {
			out.leaf = r.leaf
		}
	}
	m.memo[id] = out
	return out
}

// leavesThen returns the leaves now with the changed lots (sorted paths)
// as they stood at the map's size: at their head then, or gone.
func (m *LotHeads) leavesThen(now []lotLeaf, changed [][32]byte) []lotLeaf {
	var then []lotLeaf
	for _, p := range changed {
		if seq, ok := m.heads[p]; ok {
			then = append(then, lotLeaf{path: p, seq: seq})
		}
	}
	kept := make([]lotLeaf, 0, len(now))
	j := 0
	for _, l := range now {
		for j < len(changed) && comparePaths(changed[j], l.path) < 0 {
			j++
		}
		if j < len(changed) && changed[j] == l.path {
			continue
		}
		kept = append(kept, l)
	}
	return mergeLeaves(kept, then)
}

// Root returns the map's root: the zero hash when no lot has an entry.
func (h *LotHeads) Root() (tlog.Hash, error) {
	if h.size == 0 {
		return tlog.Hash{}, nil
	}
	return h.node(cursor{bd: h.bd, t: h.base}, [32]byte{}, h.changed).hash, nil
}

// Prove returns the latest entry of ref and the proof of it against Root.
// ErrNoLotHead: the lot has no entry below the map's size.
func (h *LotHeads) Prove(ref LotRef) (LotHeadProof, error) {
	if h.size == 0 {
		return LotHeadProof{}, ErrNoLotHead.Detail("%s", ref)
	}
	path := LotPath(ref)
	changed := h.changed
	c := cursor{bd: h.bd, t: h.base}
	var p LotHeadProof
	for d := 0; d <= 256; d++ {
		changed = underPrefix(changed, path, d)
		var n subtree
		if len(changed) == 0 {
			// As it is now; its hash is not needed.
			if n.n = min(c.count(), 2); n.n == 1 {
				n.leaf = c.only()
			}
		} else {
			n = h.node(c, pathPrefix(path, d), changed)
		}
		if n.n == 0 || (n.n == 1 && n.leaf.path != path) {
			return LotHeadProof{}, ErrNoLotHead.Detail("%s at size %d", ref, h.size)
		}
		if n.n == 1 {
			p.Seq = n.leaf.seq
			return p, nil
		}
		b := pathBit(path, d)
		sib := siblingPrefix(path, d)
		p.Siblings = append(p.Siblings, h.node(c.child(1-b), sib, underPrefix(changed, sib, d+1)).hash)
		c = c.child(b)
	}
	return LotHeadProof{}, errCorrupt("lot-head map path of %s is deeper than 256", ref)
}
