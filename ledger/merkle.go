package ledger

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// The ledger is an RFC 6962 Merkle log: entry seq N is leaf N. The tree is
// kept as golang.org/x/mod/sumdb/tlog "stored hashes": every complete
// subtree's hash, written in the same transaction as the entry, so a root
// or a proof never needs more than O(log n) reads.
//
// The hashes record N adds (its leaf, then the subtree it completes at
// each level, tlog.StoredHashes) are one key, g/<N>: the hash at level L
// of node K is at offset 32·L of the key of record (K+1)·2^L − 1, the
// record whose leaf completes that subtree. A record adds two hashes on
// average, and one key costs the state machine less than two: Badger
// pays per key when it writes a transaction into its memtable, and the
// state machine waits for that. Ledgers written before keep one key per
// hash, h/<storage index>; a read falls back to it for a record without
// a g/ key, so such a ledger needs no migration.

// hashReader reads stored hashes through a Reader. It satisfies
// tlog.HashReader.
type hashReader struct{ r Reader }

func (h hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		level, n := tlog.SplitStoredHashIndex(idx)
		rec := (n+1)<<level - 1
		v, ok, err := h.r.Get(recordHashesKey(rec))
		if err != nil {
			return nil, err
		}
		if ok {
			if len(v) != recordHashesLen(rec) {
				return nil, errCorrupt("Merkle hashes of entry %d hold %d bytes", rec, len(v))
			}
			copy(out[i][:], v[level*tlog.HashSize:])
			continue
		}
		v, ok, err = h.r.Get(hashKey(idx))
		if err != nil {
			return nil, err
		}
		if !ok || len(v) != tlog.HashSize {
			return nil, errCorrupt("stored hash %d missing", idx)
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// HashReader reads the ledger's stored Merkle hashes through r, for a
// caller that builds trees or proofs with tlog itself.
func HashReader(r Reader) tlog.HashReader { return hashReader{r} }

// recordHashesLen is the length of record n's g/ key: its leaf and one
// hash per trailing 1 bit of n (the subtrees its leaf completes).
func recordHashesLen(n int64) int {
	return tlog.HashSize * (1 + bits.TrailingZeros64(^uint64(n)))
}

// appendLeaf stores the hashes that leaf n (hash leaf) adds to the tree.
func appendLeaf(w Writer, n int64, leaf tlog.Hash) error {
	hashes, err := tlog.StoredHashesForRecordHash(n, leaf, hashReader{w})
	if err != nil {
		return err
	}
	v := make([]byte, 0, len(hashes)*tlog.HashSize)
	for _, h := range hashes {
		v = append(v, h[:]...)
	}
	return w.Set(recordHashesKey(n), v)
}

// Head is the size of the log, its Merkle root and the root of its
// lot-head map (lotheads.go).
type Head struct {
	Size     uint64
	Root     tlog.Hash
	LotHeads tlog.Hash
}

// Checkpoint is the checkpoint of this head in the ledger of the given
// origin.
func (h Head) Checkpoint(origin string) Checkpoint {
	return Checkpoint{Origin: origin, Size: h.Size, Root: h.Root, LotHeads: h.LotHeads, HasLotHeads: true}
}

// HeadAt returns the head of the log of the given size (at most the
// current size).
func HeadAt(r Reader, size uint64) (Head, error) {
	root, err := tlog.TreeHash(int64(size), hashReader{r})
	if err != nil {
		return Head{}, err
	}
	lh, err := LotHeadsRoot(r, size)
	if err != nil {
		return Head{}, err
	}
	return Head{Size: size, Root: root, LotHeads: lh}, nil
}

// ReadHead returns the current size and root hash of the log.
func ReadHead(r Reader) (Head, error) {
	n, err := getU64(r, keySize)
	if err != nil {
		return Head{}, err
	}
	return HeadAt(r, n)
}

// ProveInclusion returns the RFC 6962 inclusion proof of entry seq in the
// tree of the given size.
func ProveInclusion(r Reader, size, seq uint64) (tlog.RecordProof, error) {
	n, err := getU64(r, keySize)
	if err != nil {
		return nil, err
	}
	if size == 0 || size > n || seq >= size {
		return nil, ErrInvalidField.Detail("need seq < size ≤ %d, got seq %d, size %d", n, seq, size)
	}
	return tlog.ProveRecord(int64(size), int64(seq), hashReader{r})
}

// ProveConsistency returns the RFC 6962 consistency proof between the trees
// of sizes old and new.
func ProveConsistency(r Reader, old, new uint64) (tlog.TreeProof, error) {
	n, err := getU64(r, keySize)
	if err != nil {
		return nil, err
	}
	if old == 0 || old > new || new > n {
		return nil, ErrInvalidField.Detail("need 0 < old ≤ new ≤ %d, got old %d, new %d", n, old, new)
	}
	return tlog.ProveTree(int64(new), int64(old), hashReader{r})
}

// CheckInclusion verifies a proof from ProveInclusion: that data is entry
// seq of the tree of the given size, whose root is root (RFC 6962 §2.1.1).
func CheckInclusion(proof tlog.RecordProof, size uint64, root Hash, seq uint64, data []byte) error {
	return tlog.CheckRecord(proof, int64(size), root, int64(seq), LeafHash(data))
}

// CheckConsistency verifies a proof from ProveConsistency: that the tree
// of size old and root oldRoot is a prefix of the tree of size new and
// root newRoot (RFC 6962 §2.1.2). Two checkpoints of one log that fail it
// are a fork (or, read the other way, a rollback).
func CheckConsistency(proof tlog.TreeProof, old uint64, oldRoot Hash, new uint64, newRoot Hash) error {
	return tlog.CheckTree(proof, int64(new), newRoot, int64(old), oldRoot)
}

// Hash is a node of the Merkle tree (SHA-256, RFC 6962): a leaf's hash, a
// root. It is tlog's, so proofs pass between the two unchanged.
type Hash = tlog.Hash

// HashSize is the size of a Hash in bytes.
const HashSize = tlog.HashSize

// TreeHashAt returns the root of the tree of the given size.
func TreeHashAt(r Reader, size uint64) (tlog.Hash, error) {
	return tlog.TreeHash(int64(size), hashReader{r})
}

func putSize(w Writer, n uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return w.Set(keySize, b[:])
}
