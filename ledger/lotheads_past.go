package ledger

import (
	"bytes"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/tlog"
)

// LotHeads is the lot-head map of the log of one size, read through one
// Reader: the root, and proofs for any number of lots. At an older size
// it is the stored map (now) with the lots whose head changed since put
// back (lotheads.go); the Reader makes the map now and the entries since
// one consistent state. It is used by one goroutine.
type LotHeads struct {
	r       Reader
	size    uint64
	changed [][32]byte           // paths of the lots whose head changed since size, sorted
	heads   map[[32]byte]uint64  // their heads at size; absent: no head yet
	memo    map[nodeKey]memoNode // subtrees already recomputed
}

type nodeKey struct {
	depth  int
	prefix [32]byte
}

type memoNode struct {
	n  lotMapNode
	ok bool
}

// LotHeadsAt returns the lot-head map of the log of the given size (at
// most the current size). At an older size it reads the entries since
// (see lotheads.go); the root and proofs then cost two reads per level of
// a lot's path, and the recomputation of the subtrees that changed.
func LotHeadsAt(r Reader, size uint64) (*LotHeads, error) {
	now, err := Size(r)
	if err != nil {
		return nil, err
	}
	if size > now {
		return nil, fmt.Errorf("lot-head map at size %d: the log has %d entries", size, now)
	}
	if size == 0 {
		return &LotHeads{}, nil // empty: no entry to read back
	}
	m := &LotHeads{r: r, size: size, heads: map[[32]byte]uint64{}, memo: map[nodeKey]memoNode{}}
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
			// A record today's rules refuse: a replay maps none of its
			// lots either (UpgradeLotHeads, Audit).
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

func comparePaths(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) }

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

// node returns the node at depth and prefix as it stood at the map's
// size; changed are the changed lots' paths under prefix. A subtree with
// none is as it is now. Lots never leave the map, so a subtree empty now
// was empty then, and one holding a single lot now held that lot or
// nothing. A branch now is recomputed from its children, collapsing to a
// leaf when one lot is left in it, as the stored map does.
func (m *LotHeads) node(depth int, prefix [32]byte, changed [][32]byte) (lotMapNode, bool, error) {
	n, ok, err := lotMapNow(m.r, depth, prefix)
	if err != nil || !ok || len(changed) == 0 {
		return n, ok, err
	}
	if n.leaf {
		seq, had := m.heads[n.path]
		if !had {
			return lotMapNode{}, false, nil
		}
		return lotMapNode{leaf: true, path: n.path, seq: seq, hash: lotLeafHash(n.path, seq)}, true, nil
	}
	if depth >= 256 {
		return n, false, errCorrupt("lot-head map branch at depth %d", depth)
	}
	id := nodeKey{depth, prefix}
	if v, hit := m.memo[id]; hit {
		return v.n, v.ok, nil
	}
	left := prefix // bit depth is already clear
	right := siblingPrefix(prefix, depth)
	l, lok, err := m.node(depth+1, left, underPrefix(changed, left, depth+1))
	if err != nil {
		return n, false, err
	}
	r, rok, err := m.node(depth+1, right, underPrefix(changed, right, depth+1))
	if err != nil {
		return n, false, err
	}
	var out memoNode
	switch {
	case !lok && !rok:
	case lok && !rok && l.leaf:
		out = memoNode{l, true}
	case rok && !lok && r.leaf:
		out = memoNode{r, true}
	default:
		var lh, rh tlog.Hash
		if lok {
			lh = l.hash
		}
		if rok {
			rh = r.hash
		}
		out = memoNode{lotMapNode{hash: lotBranchHash(lh, rh)}, true}
	}
	m.memo[id] = out
	return out.n, out.ok, nil
}

// Root returns the map's root: the zero hash when no lot has an entry.
func (h *LotHeads) Root() (tlog.Hash, error) {
	if h.size == 0 {
		return tlog.Hash{}, nil
	}
	n, ok, err := h.node(0, [32]byte{}, h.changed)
	if err != nil || !ok {
		return tlog.Hash{}, err
	}
	return n.hash, nil
}

// Prove returns the latest entry of ref and the proof of it against Root.
// ErrNoLotHead: the lot has no entry below the map's size.
func (h *LotHeads) Prove(ref LotRef) (LotHeadProof, error) {
	if h.size == 0 {
		return LotHeadProof{}, ErrNoLotHead.Detail("%s", ref)
	}
	path := LotPath(ref)
	changed := h.changed
	var p LotHeadProof
	for d := 0; d <= 256; d++ {
		changed = underPrefix(changed, path, d)
		n, ok, err := h.node(d, pathPrefix(path, d), changed)
		if err != nil {
			return LotHeadProof{}, err
		}
		if !ok || (n.leaf && n.path != path) {
			return LotHeadProof{}, ErrNoLotHead.Detail("%s at size %d", ref, h.size)
		}
		if n.leaf {
			p.Seq = n.seq
			return p, nil
		}
		sib := siblingPrefix(path, d)
		sn, ok, err := h.node(d+1, sib, underPrefix(changed, sib, d+1))
		if err != nil {
			return LotHeadProof{}, err
		}
		var sh tlog.Hash
		if ok {
			sh = sn.hash
		}
		p.Siblings = append(p.Siblings, sh)
	}
	return LotHeadProof{}, errCorrupt("lot-head map path of %s is deeper than 256", ref)
}
