package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// The lot-head map commits, at every size of the log, to the latest entry
// of every lot: what a checkpoint needs so that a bundle cannot stop a
// lot's history short of its newest entry (a recall) unnoticed.
//
// It is a sparse Merkle tree over 256-bit paths, the SHA-256 of the lot
// ("<gtin>/<lot>", LotRef.String), with single-leaf subtrees collapsed into
// their leaf (as in Diem's Jellyfish Merkle tree):
//
//	empty subtree     the zero hash (32 zero bytes)
//	one lot           SHA-256(0x00 ‖ path:32 ‖ seq:8)   seq = the lot's latest entry
//	two or more lots  SHA-256(0x01 ‖ left:32 ‖ right:32)
//
// The map's root for a log of size N covers the heads as they stood after
// entry N-1. A lot's proof is the hashes of the siblings along its path,
// from the root's children down to where its leaf sits: about log2(lots)
// hashes, since a leaf sits just below the deepest prefix it shares with
// another lot.
//
// The root is carried in the checkpoint as the extension line
//
//	lot-heads <base64 root>
//
// (c2sp.org/tlog-checkpoint allows extension lines; the nodes' signatures
// and the witnesses' cosignatures cover them like the rest of the text).
//
// Storage. Every node of the collapsed tree — every subtree holding two or
// more lots, and every single-lot subtree whose parent holds two or more —
// is one record, as it stands now:
//
//	s/c/<depth:2><prefix:32>  seq:8 ‖ record   written by entry seq
//
//	record = 0x01 ‖ hash:32          (two or more lots)
//	       | 0x02 ‖ path:32 ‖ seq:8  (one lot: its path and latest entry)
//
// prefix is the path with the bits from depth on cleared. An update of a
// lot's head reads one record and writes one per level of its path, about
// log2(lots).
//
// The map at an older size N (a checkpoint being cosigned, the checkpoint
// a bundle proves against) is not stored: it is the map now with the lots
// whose head changed since N put back as they stood at N. Entries N… name
// those lots, and each entry's Prev gives a lot's head before it, so the
// first entry from N on that names a lot gives its head at N (or none: the
// lot is newer). Every subtree holding none of those lots is as it is
// now; the others are recomputed from their children (LotHeadsAt). That
// costs reading the entries since N, which are few for the checkpoints
// asked about (the latest, or the latest witnessed), and keeps the map's
// storage to its current nodes: versioning every node on every update,
// as the map first did, cost about 2·log2(lots) records, 1.2 KB, per
// entry. Keys under s/v/ in older stores are that history; nothing reads
// them.

// ErrNoLotHead: the lot has no entry in the log of the size asked about.
var ErrNoLotHead = sentinel(KindNotFound, "unknown_lot", "the lot has no entry at that size")

const (
	lotMapBranch byte = 0x01
	lotMapLeaf   byte = 0x02
)

// lotMapNode is one stored record of the map.
type lotMapNode struct {
	leaf bool
	hash tlog.Hash // of the subtree
	path [32]byte  // leaf only
	seq  uint64    // leaf only
}

// LotPath is a lot's path in the lot-head map.
func LotPath(ref LotRef) [32]byte { return lotPathOf(ref.String()) }

// lotPathOf is the path of a lot named "<gtin>/<lot>" (LotRef.String, and
// the keys of an entry's Prev).
func lotPathOf(lot string) [32]byte { return sha256.Sum256([]byte(lot)) }

// lotLeafHash is the hash of a subtree holding one lot.
func lotLeafHash(path [32]byte, seq uint64) tlog.Hash {
	var b [1 + 32 + 8]byte
	b[0] = 0x00
	copy(b[1:], path[:])
	binary.BigEndian.PutUint64(b[33:], seq)
	return sha256.Sum256(b[:])
}

func lotBranchHash(l, r tlog.Hash) tlog.Hash {
	var b [1 + 64]byte
	b[0] = 0x01
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// pathBit is bit d (0 = most significant) of a path.
func pathBit(p [32]byte, d int) byte { return p[d/8] >> (7 - d%8) & 1 }

// pathPrefix keeps the first d bits of p.
func pathPrefix(p [32]byte, d int) [32]byte {
	var out [32]byte
	copy(out[:d/8], p[:d/8])
	if d%8 != 0 {
		out[d/8] = p[d/8] & (0xff << (8 - d%8))
	}
	return out
}

// siblingPrefix is the prefix of depth d+1 that shares p's first d bits
// and differs in bit d.
func siblingPrefix(p [32]byte, d int) [32]byte {
	s := pathPrefix(p, d+1)
	s[d/8] ^= 1 << (7 - d%8)
	return s
}

var (
	prefixLotMapNow = []byte("s/c/")
	// prefixLotMapVersion holds the node history older stores kept; it is
	// neither written nor read.
	prefixLotMapVersion = []byte("s/v/")
)

func lotMapID(depth int, prefix [32]byte) []byte {
	return append([]byte{byte(depth >> 8), byte(depth)}, prefix[:]...)
}

// lotMapNow reads the node at depth and prefix as it stands now; ok is
// false for an empty subtree.
func lotMapNow(r Reader, depth int, prefix [32]byte) (n lotMapNode, ok bool, err error) {
	id := lotMapID(depth, prefix)
	v, ok, err := r.Get(cat(prefixLotMapNow, id))
	if err != nil || !ok {
		return n, false, err
	}
	if len(v) < 8 {
		return n, false, errCorrupt("lot-head map record s/c/%x holds %d bytes", id, len(v))
	}
	n, err = decodeLotMapNode(v[8:])
	return n, err == nil, err
}

func decodeLotMapNode(v []byte) (lotMapNode, error) {
	switch {
	case len(v) == 33 && v[0] == lotMapBranch:
		var n lotMapNode
		copy(n.hash[:], v[1:])
		return n, nil
	case len(v) == 41 && v[0] == lotMapLeaf:
		n := lotMapNode{leaf: true}
		copy(n.path[:], v[1:33])
		n.seq = binary.BigEndian.Uint64(v[33:])
		n.hash = lotLeafHash(n.path, n.seq)
		return n, nil
	}
	return lotMapNode{}, errCorrupt("lot-head map record of %d bytes", len(v))
}

// putLotMapNode writes a node as entry version leaves it.
func putLotMapNode(w Writer, depth int, prefix [32]byte, rec []byte, version uint64) error {
	return w.Set(cat(prefixLotMapNow, lotMapID(depth, prefix)), cat(u64(version), rec))
}

func putLotMapLeaf(w Writer, depth int, path [32]byte, seq, version uint64) error {
	return putLotMapNode(w, depth, pathPrefix(path, depth), cat([]byte{lotMapLeaf}, path[:], u64(seq)), version)
}

func putLotMapBranch(w Writer, depth int, prefix [32]byte, h tlog.Hash, version uint64) error {
	return putLotMapNode(w, depth, prefix, cat([]byte{lotMapBranch}, h[:]), version)
}

// setLotMapHead records that entry seq is now the latest of ref: it
// rewrites the records along ref's path. Apply calls it
// for every lot an entry names, in the entry's transaction.
func setLotMapHead(w Writer, ref LotRef, seq uint64) error {
	path := LotPath(ref)
	// Walk down to where the lot's leaf goes.
	depth := 0
	for ; ; depth++ {
		n, ok, err := lotMapNow(w, depth, pathPrefix(path, depth))
		if err != nil {
			return err
		}
		if ok && !n.leaf {
			continue
		}
		if ok && n.path != path {
			// Another lot sits here alone: both go below the first bit
			// where their paths differ, and everything between becomes
			// a branch (recomputed below).
			j := depth
			for pathBit(path, j) == pathBit(n.path, j) {
				j++
			}
			if err := putLotMapLeaf(w, j+1, n.path, n.seq, seq); err != nil {
				return err
			}
			depth = j + 1
		}
		if err := putLotMapLeaf(w, depth, path, seq, seq); err != nil {
			return err
		}
		break
	}
	h := lotLeafHash(path, seq)
	for d := depth - 1; d >= 0; d-- {
		sib, ok, err := lotMapNow(w, d+1, siblingPrefix(path, d))
		if err != nil {
			return err
		}
		var sh tlog.Hash
		if ok {
			sh = sib.hash
		}
		if pathBit(path, d) == 0 {
			h = lotBranchHash(h, sh)
		} else {
			h = lotBranchHash(sh, h)
		}
		if err := putLotMapBranch(w, d, pathPrefix(path, d), h, seq); err != nil {
			return err
		}
	}
	return nil
}

// LotHeadsRoot returns the root of the lot-head map of the log of the
// given size (at most the current size): the zero hash when no lot has an
// entry yet.
func LotHeadsRoot(r Reader, size uint64) (tlog.Hash, error) {
	h, err := LotHeadsAt(r, size)
	if err != nil {
		return tlog.Hash{}, err
	}
	return h.Root()
}

// LotHeadProof proves that Seq is the latest entry of a lot in a log of
// some size: Siblings are the hashes beside the lot's path, from the
// root's children down to the lot's leaf.
type LotHeadProof struct {
	Seq      uint64      `json:"seq"`
	Siblings []tlog.Hash `json:"-"`
}

// ProveLotHead returns the latest entry of ref in the log of the given size
// (at most the current size) and the proof of it against
// LotHeadsRoot(r, size). To prove several lots at one size, LotHeadsAt
// reads the entries since that size once. ErrNoLotHead: the lot has no
// entry below size.
func ProveLotHead(r Reader, size uint64, ref LotRef) (LotHeadProof, error) {
	h, err := LotHeadsAt(r, size)
	if err != nil {
		return LotHeadProof{}, err
	}
	return h.Prove(ref)
}

// ErrLotHead: a lot-head proof does not lead to the root it is checked
// against.
var ErrLotHead = errors.New("lot-head proof does not match the checkpoint's lot heads")

// CheckLotHead verifies that p proves entry p.Seq to be the latest of ref
// in the lot-head map with the given root. It is the counterpart of
// ProveLotHead and costs one hash per sibling.
func CheckLotHead(p LotHeadProof, root tlog.Hash, ref LotRef) error {
	if len(p.Siblings) > 256 {
		return fmt.Errorf("%w: %d siblings, at most 256", ErrLotHead, len(p.Siblings))
	}
	path := LotPath(ref)
	h := lotLeafHash(path, p.Seq)
	for d := len(p.Siblings) - 1; d >= 0; d-- {
		if pathBit(path, d) == 0 {
			h = lotBranchHash(h, p.Siblings[d])
		} else {
			h = lotBranchHash(p.Siblings[d], h)
		}
	}
	if h != root {
		return ErrLotHead
	}
	return nil
}

// The checkpoint extension line that carries the lot-head map's root.
const lotHeadsLine = "lot-heads "

// formatLotHeadsLine returns the extension line for root.
func formatLotHeadsLine(root tlog.Hash) string {
	return lotHeadsLine + base64.StdEncoding.EncodeToString(root[:]) + "\n"
}

// parseLotHeadsExtension finds the lot-heads line among a checkpoint's
// extension lines (each ending in a newline).
func parseLotHeadsExtension(ext string) (root tlog.Hash, found bool, err error) {
	for line := range strings.Lines(ext) {
		v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), lotHeadsLine)
		if !ok {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != tlog.HashSize || found {
			return tlog.Hash{}, false, ErrCheckpoint.Detail("malformed or repeated lot-heads line %q", strings.TrimSpace(line))
		}
		copy(root[:], b)
		found = true
	}
	return root, found, nil
}

// lotMapKeyName prints a lot-head map key readably, or "" for another key.
func lotMapKeyName(k []byte) string {
	switch {
	case bytes.HasPrefix(k, prefixLotMapNow) && len(k) == 4+2+32:
		return fmt.Sprintf("s/c/%d/%x (lot-head map)", int(k[4])<<8|int(k[5]), k[6:])
	case bytes.HasPrefix(k, prefixLotMapVersion) && len(k) == 4+2+32+8:
		return fmt.Sprintf("s/v/%d/%x@%d (lot-head map)", int(k[4])<<8|int(k[5]), k[6:38], ^binary.BigEndian.Uint64(k[38:]))
	}
	return ""
}
