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
// Storage. The store keeps no node of the map: the map is a function of
// the lot heads (x/t/, one record per lot, written by Apply anyway), and
// a LotMapStore keeps the tree over them in memory (lotmap.go). Older
// stores hold the map's nodes under s/c/ (as they stood) and s/v/ (their
// history); nothing writes or reads them now.
//
// The map at an older size N (a checkpoint being cosigned, the checkpoint
// a bundle proves against) is the map now with the lots whose head
// changed since N put back as they stood at N. Entries N… name those
// lots, and each entry's Prev gives a lot's head before it, so the first
// entry from N on that names a lot gives its head at N (or none: the lot
// is newer). Every subtree holding none of those lots is as it is now;
// the others are recomputed from their children (LotHeadsAt). That costs
// reading the entries since N, which are few for the checkpoints asked
// about (the latest, or the latest witnessed).

// ErrNoLotHead: the lot has no entry in the log of the size asked about.
var ErrNoLotHead = sentinel(KindNotFound, "unknown_lot", "the lot has no entry at that size")

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

// Keys of the map's nodes in older stores, which kept them (see above).
var (
	prefixLotMapNow     = []byte("s/c/")
	prefixLotMapVersion = []byte("s/v/")
)

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
