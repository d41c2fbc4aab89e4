package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// hashSlice is tlog's stored hashes in memory.
type hashSlice []tlog.Hash

func (h hashSlice) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(h)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = h[x]
	}
	return out, nil
}

// BenchmarkLotHeadsMillion measures, for a lot of 10 entries in a
// synthetic ledger of 10⁶ entries over 2·10⁵ lots, the proofs a bundle
// carries for it: the 10 RFC 6962 inclusion proofs and the lot-head proof,
// their size (base64, as in a bundle) and the time to check them.
//
//	go test -run '^$' -bench LotHeadsMillion -benchtime 2000x ./ledger/
func BenchmarkLotHeadsMillion(b *testing.B) {
	const entries, lots, lotEntries = 1_000_000, 200_000, 10
	rng := rand.New(rand.NewPCG(7, 7))
	w := &memTxn{base: map[string][]byte{}, overlay: map[string][]byte{}}
	target := LotRef{GTIN: "08936000000127", Lot: "TARGET"}
	var hashes hashSlice
	var targetSeqs []uint64
	var leaves []tlog.Hash
	for seq := uint64(0); seq < entries; seq++ {
		ref := LotRef{GTIN: "08936000000127", Lot: fmt.Sprintf("L%d", rng.IntN(lots))}
		if seq%(entries/lotEntries) == entries/lotEntries-1 {
			ref = target
			targetSeqs = append(targetSeqs, seq)
		}
		if err := w.Set(lotHeadKey(ref), u64(seq)); err != nil {
			b.Fatal(err)
		}
		var data [8]byte
		binary.BigEndian.PutUint64(data[:], seq)
		leaf := tlog.RecordHash(data[:])
		leaves = append(leaves, leaf)
		more, err := tlog.StoredHashesForRecordHash(int64(seq), leaf, hashes)
		if err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, more...)
	}
	if err := w.Set(keySize, u64(entries)); err != nil {
		b.Fatal(err)
	}
	root, err := tlog.TreeHash(entries, hashes)
	if err != nil {
		b.Fatal(err)
	}
	// The map in memory, as a node keeps it.
	st := NewMemStore()
	st.data = w.overlay
	lm := NewLotMapStore(st)
	if err := lm.Wait(); err != nil {
		b.Fatal(err)
	}
	var r Reader
	lm.View(func(rd Reader) error { r = rd; return nil }) // MemStore's reads stay valid after
	mapRoot, err := LotHeadsRoot(r, entries)
	if err != nil {
		b.Fatal(err)
	}
	head, err := ProveLotHead(r, entries, target)
	if err != nil || head.Seq != targetSeqs[len(targetSeqs)-1] {
		b.Fatalf("head %d, %v; want %d", head.Seq, err, targetSeqs[len(targetSeqs)-1])
	}
	var incl [][]string
	for _, s := range targetSeqs {
		p, err := tlog.ProveRecord(entries, int64(s), hashes)
		if err != nil {
			b.Fatal(err)
		}
		incl = append(incl, EncodeProof(p))
	}
	inclJSON, _ := json.Marshal(incl)
	headJSON, _ := json.Marshal(BundleLotHead{Seq: head.Seq, Proof: EncodeProof(head.Siblings)})
	sum := sha256.Sum256(inclJSON) // keeps the proofs alive
	_ = sum
	b.Run("inclusion-proofs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for j, s := range targetSeqs {
				p, _ := DecodeProof(incl[j])
				if err := tlog.CheckRecord(p, entries, root, int64(s), leaves[s]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(inclJSON)), "proof-bytes")
		b.ReportMetric(float64(len(incl[0])), "hashes-each")
	})
	b.Run("lot-head-proof", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var h BundleLotHead
			if err := json.Unmarshal(headJSON, &h); err != nil {
				b.Fatal(err)
			}
			sibs, _ := DecodeProof(h.Proof)
			if err := CheckLotHead(LotHeadProof{Seq: h.Seq, Siblings: sibs}, mapRoot, target); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(headJSON)), "proof-bytes")
		b.ReportMetric(float64(len(head.Siblings)), "hashes")
	})
	b.Run("prove-lot-head", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := ProveLotHead(r, entries, target); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// randomLeaves returns n lots with random paths, sorted.
func randomLeaves(rng *rand.Rand, n int, seq uint64) []lotLeaf {
	out := make([]lotLeaf, n)
	for i := range out {
		for j := 0; j < 32; j += 8 {
			binary.BigEndian.PutUint64(out[i].path[j:], rng.Uint64())
		}
		out[i].seq = seq
	}
	return sortLeaves(out)
}

// BenchmarkLotMapUpdate measures what the map in memory costs a harvest:
// 100 new lots (one state-machine transaction) entered into a map of 10⁶.
// It reports the time per lot.
//
//	go test -run '^$' -bench LotMapUpdate ./ledger/
func BenchmarkLotMapUpdate(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	tree := (*lotTree)(nil).with(0, lotTreeBucketDepth, randomLeaves(rng, 1_000_000, 1))
	const group = 100
	batches := make([][]lotLeaf, 64)
	for i := range batches {
		batches[i] = randomLeaves(rng, group, 2)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = tree.with(0, lotTreeBucketDepth, batches[i%len(batches)])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*group), "ns/lot")
}

// BenchmarkLotMapBuild measures deriving the map of 10⁶ lots from their
// heads (the sort and the hashes; a node adds the scan of x/t/), which a
// node does when it starts.
//
//	go test -run '^$' -bench LotMapBuild -benchtime 3x ./ledger/
func BenchmarkLotMapBuild(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	leaves := randomLeaves(rng, 1_000_000, 1)
	rng.Shuffle(len(leaves), func(i, j int) { leaves[i], leaves[j] = leaves[j], leaves[i] })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = buildTree(slices.Clone(leaves), lotTreeBucketDepth)
	}
}
