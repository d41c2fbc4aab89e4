package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
	w := &memTxn{base: map[string][]byte{}}
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
		if err := setLotMapHead(w, ref, seq); err != nil {
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
	mapRoot, err := LotHeadsRoot(w, entries)
	if err != nil {
		b.Fatal(err)
	}
	head, err := ProveLotHead(w, entries, target)
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
			if _, err := ProveLotHead(w, entries, target); err != nil {
				b.Fatal(err)
			}
		}
	})
}
