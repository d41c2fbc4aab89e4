package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// The lot-head map in memory (see lotheads.go for what it commits to).
//
// The map is a function of the lot heads (x/t/): one leaf per lot, its
// path the SHA-256 of the lot's name and its seq the lot's head. The store
// keeps only those heads, which Apply writes anyway; the tree over them
// lives in memory, where an update costs hashes and no reads or writes of
// the store. Keeping the tree's nodes in the store cost a harvest about
// 17 record reads and writes (1.4 KB) per lot, more than the entry itself.
//
// A lotTree is immutable: an update copies the path it changes and shares
// the rest, so a reader holds a version for as long as it likes while the
// state machine builds the next. The top levels, down to depth
// lotTreeBucketDepth, are binary nodes; below them each bucket keeps its
// leaves as one sorted slice and derives its subtree from them when
// asked. With 10⁶ lots a bucket holds about 4 leaves, and the map takes
// about 40 bytes per lot and at most 2^19 nodes of 80 bytes (85 MB in
// all), where a node per subtree would take 2·10⁶. A deeper top costs
// more nodes, a shallower one more hashes per update: an update hashes
// its path down to the bucket and the bucket's subtree anew.
//
// The depth is a property of each map (lotMapVersion.bucketDepth), so that
// tests can fill buckets with a few lots.
const lotTreeBucketDepth = 18

// lotLeaf is one lot in the map: its path and its latest entry.
type lotLeaf struct {
	path [32]byte
	seq  uint64
}

// lotTree is a subtree of the map: a binary node above
// lotTreeBucketDepth, a bucket of leaves at it. nil is the empty subtree.
type lotTree struct {
	hash   tlog.Hash // of the subtree (lotheads.go)
	count  int       // lots in the subtree
	kids   [2]*lotTree
	leaves []lotLeaf // bucket only: sorted by path, shared, never modified
}

func (t *lotTree) size() int {
	if t == nil {
		return 0
	}
	return t.count
}

func (t *lotTree) hashOf() tlog.Hash {
	if t == nil {
		return tlog.Hash{}
	}
	return t.hash
}

// comparePaths orders paths, and so leaves, as the tree does.
func comparePaths(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) }

// splitAt returns the index of the first of leaves (sorted, sharing their
// first d bits) whose bit d is 1.
func splitAt(leaves []lotLeaf, d int) int {
	return sort.Search(len(leaves), func(i int) bool { return pathBit(leaves[i].path, d) == 1 })
}

// hashLeaves is the hash of the subtree at depth d holding exactly leaves
// (sorted, sharing their first d bits), from the map's definition.
func hashLeaves(d int, leaves []lotLeaf) tlog.Hash {
	switch len(leaves) {
	case 0:
		return tlog.Hash{}
	case 1:
		return lotLeafHash(leaves[0].path, leaves[0].seq)
	}
	i := splitAt(leaves, d)
	return lotBranchHash(hashLeaves(d+1, leaves[:i]), hashLeaves(d+1, leaves[i:]))
}

// joinHash is the hash of a subtree whose children hold ln and rn lots and
// hash to lh and rh: with one lot in all, that lot's leaf hash (the
// collapse); with none, the zero hash; else a branch.
func joinHash(lh tlog.Hash, ln int, rh tlog.Hash, rn int) tlog.Hash {
	switch {
	case rn == 0 && ln <= 1:
		return lh
	case ln == 0 && rn == 1:
		return rh
	}
	return lotBranchHash(lh, rh)
}

// combine is the subtree whose children are l and r.
func combine(l, r *lotTree) *lotTree {
	n := l.size() + r.size()
	if n == 0 {
		return nil
	}
	return &lotTree{count: n, kids: [2]*lotTree{l, r}, hash: joinHash(l.hashOf(), l.size(), r.hashOf(), r.size())}
}

// with returns t (at depth d, in a tree with buckets at depth bd) with
// the leaves of ups set: a new lot is added, a known one takes the new
// seq. ups are sorted by path, unique, share their first d bits with t's,
// and are owned by the tree from now on. t itself is not changed.
func (t *lotTree) with(d, bd int, ups []lotLeaf) *lotTree {
	if len(ups) == 0 {
		return t
	}
	if d == bd {
		var merged []lotLeaf
		if t == nil {
			merged = ups[:len(ups):len(ups)]
		} else {
			merged = mergeLeaves(t.leaves, ups)
		}
		return &lotTree{hash: hashLeaves(d, merged), count: len(merged), leaves: merged}
	}
	var l, r *lotTree
	if t != nil {
		l, r = t.kids[0], t.kids[1]
	}
	i := splitAt(ups, d)
	return combine(l.with(d+1, bd, ups[:i]), r.with(d+1, bd, ups[i:]))
}

// mergeLeaves merges sorted ups into sorted old, ups winning on equal
// paths, into a new slice.
func mergeLeaves(old, ups []lotLeaf) []lotLeaf {
	out := make([]lotLeaf, 0, len(old)+len(ups))
	i, j := 0, 0
	for i < len(old) && j < len(ups) {
		switch c := comparePaths(old[i].path, ups[j].path); {
		case c < 0:
			out = append(out, old[i])
			i++
		case c > 0:
			out = append(out, ups[j])
			j++
		default:
			out = append(out, ups[j])
			i, j = i+1, j+1
		}
	}
	out = append(out, old[i:]...)
	return append(out, ups[j:]...)
}

// sortLeaves sorts leaves, whose paths are unique, by path.
func sortLeaves(leaves []lotLeaf) []lotLeaf {
	slices.SortFunc(leaves, func(a, b lotLeaf) int { return comparePaths(a.path, b.path) })
	return leaves
}

// lotMapVersion is the map as it stood at one size of the log.
type lotMapVersion struct {
	root        *lotTree
	size        uint64
	bucketDepth int

	// covers: every lot with a state (l/) has a head in the map, so a lot
	// the map lacks has no state (lotMapWriter.lotStateAbsent). It holds
	// from the first entry on in a ledger written with lot heads, because
	// every record that writes a lot's state names the lot; a ledger
	// written before lot heads has states without. buildLotMap takes it
	// from m/lotcover, which LotMapStore writes once it has checked it.
	covers bool
}

// with returns the map with the lot heads ups (sorted, unique) set, at
// the given size.
func (v *lotMapVersion) with(ups []lotLeaf, size uint64) *lotMapVersion {
	return &lotMapVersion{root: v.root.with(0, v.bucketDepth, ups), size: size, bucketDepth: v.bucketDepth, covers: v.covers}
}

// head returns the head of the lot with the given path, and false when
// the map holds no such lot.
func (v *lotMapVersion) head(path [32]byte) (uint64, bool) {
	t := v.root
	for d := 0; t != nil && d < v.bucketDepth; d++ {
		t = t.kids[pathBit(path, d)]
	}
	if t == nil {
		return 0, false
	}
	i, found := slices.BinarySearchFunc(t.leaves, path, func(l lotLeaf, p [32]byte) int { return comparePaths(l.path, p) })
	if !found {
		return 0, false
	}
	return t.leaves[i].seq, true
}

// lotHeadLeaf returns the map leaf a lot-head record (x/t/) stands for.
func lotHeadLeaf(key, val []byte) (lotLeaf, error) {
	name := key[len(prefixLotHead):]
	if len(name) < 14 || len(val) != 8 {
		return lotLeaf{}, errCorrupt("lot head %q holds %d bytes", key, len(val))
	}
	return lotLeaf{path: lotKeyPath(name), seq: binary.BigEndian.Uint64(val)}, nil
}

// lotKeyPath is the map path of the lot a key names as <gtin:14><lot>
// (lotKey, lotHeadKey after their prefix): LotPath without the LotRef.
func lotKeyPath(name []byte) [32]byte {
	h := sha256.New()
	h.Write(name[:14])
	h.Write([]byte{'/'})
	h.Write(name[14:])
	var p [32]byte
	h.Sum(p[:0])
	return p
}

// buildLotMap derives the map, with buckets at depth bd, from the lot
// heads r holds: it costs a scan of them, a sort and a few hashes per lot.
func buildLotMap(r Reader, bd int) (*lotMapVersion, error) {
	size, err := Size(r)
	if err != nil {
		return nil, err
	}
	var leaves []lotLeaf
	var bad error
	if err := r.Scan(prefixLotHead, nil, func(k, v []byte) bool {
		l, err := lotHeadLeaf(k, v)
		if err != nil {
			bad = err
			return false
		}
		leaves = append(leaves, l)
		return true
	}); err != nil {
		return nil, fmt.Errorf("read the lot heads: %w", err)
	}
	if bad != nil {
		return nil, bad
	}
	_, covers, err := r.Get(keyLotCover)
	if err != nil {
		return nil, err
	}
	return &lotMapVersion{root: buildTree(leaves, bd), size: size, bucketDepth: bd, covers: covers}, nil
}

// keyLotCover (m/lotcover), when present, says that every lot state in
// the store has a lot head (lotMapVersion.covers): LotMapStore writes it
// with the first update after it has checked that (coversLotStates), and
// every entry since keeps it true.
var keyLotCover = []byte("m/lotcover")

// coversLotStates reports whether every lot state r holds has a head in
// v: a scan of the lot states, once per store (m/lotcover).
func coversLotStates(r Reader, v *lotMapVersion) (bool, error) {
	covers := true
	err := r.Scan(prefixLot, nil, func(k, _ []byte) bool {
		if len(k) >= len(prefixLot)+14 {
			_, covers = v.head(lotKeyPath(k[len(prefixLot):]))
		} else {
			covers = false
		}
		return covers
	})
	if err != nil {
		return false, fmt.Errorf("read the lot states: %w", err)
	}
	return covers, nil
}

// buildTree builds the tree, with buckets at depth bd (at least 1), over
// leaves with unique paths in any order; it reorders them. The halves
// under the root are sorted and built on two goroutines (a node's start
// waits for this), and buildTree returns once both are done.
func buildTree(leaves []lotLeaf, bd int) *lotTree {
	// Partition by the first bit: zeros first.
	i := 0
	for j := range leaves {
		if pathBit(leaves[j].path, 0) == 0 {
			leaves[i], leaves[j] = leaves[j], leaves[i]
			i++
		}
	}
	var left *lotTree
	done := make(chan struct{})
	go func() {
		defer close(done)
		left = (*lotTree)(nil).with(1, bd, sortLeaves(leaves[:i]))
	}()
	right := (*lotTree)(nil).with(1, bd, sortLeaves(leaves[i:]))
	<-done
	return combine(left, right)
}
