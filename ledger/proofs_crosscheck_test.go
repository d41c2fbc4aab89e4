package ledger_test

// The Merkle log checked against an independent RFC 6962 implementation,
// github.com/transparency-dev/merkle: roots from its compact ranges, and the
// ledger's inclusion and consistency proofs through its verifiers.

import (
	"bytes"
	"fmt"
	"math/big"
	"math/rand"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// crossSizes are the tree sizes checked: every size up to 70, the edges
// around a power of two, and one larger tree.
func crossSizes() []uint64 {
	var out []uint64
	for n := uint64(1); n <= 70; n++ {
		out = append(out, n)
	}
	return append(out, 127, 128, 129, 1000)
}

// registrations returns a records command of n participant registrations
// signed by admin, each admitted as a node would admit it. Registrations
// need no keys of their own: the registered addresses are just numbers.
func registrations(t testing.TB, admin *key, first, n int, at time.Time) *ledger.Command {
	t.Helper()
	envs := make([]*ledger.Admitted, 0, n)
	for i := first; i < first+n; i++ {
		rec := participantRec(common.BigToAddress(big.NewInt(int64(1_000_000+i))), "producer")
		rec["id"] = fmt.Sprintf("reg-%d", i)
		rec["time"] = "2026-06-01T06:15:00+07:00"
		adm, err := ledger.Admit(signRecord(t, admin, rec), time.Time{})
		if err != nil {
			t.Fatalf("admit registration %d: %v", i, err)
		}
		envs = append(envs, adm)
	}
	return &ledger.Command{Kind: ledger.CmdRecords, Time: at, Envelopes: envs}
}

// independentTree mirrors the ledger with transparency-dev/merkle: the
// RFC 6962 leaf hash of every entry and the root after every append.
type independentTree struct {
	rng    *compact.Range
	leaves [][]byte          // leaves[seq]
	roots  map[uint64][]byte // roots[size]
}

func newIndependentTree() *independentTree {
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	return &independentTree{rng: f.NewEmptyRange(0), roots: map[uint64][]byte{}}
}

func (it *independentTree) append(t testing.TB, entry []byte) {
	t.Helper()
	leaf := rfc6962.DefaultHasher.HashLeaf(entry)
	it.leaves = append(it.leaves, leaf)
	if err := it.rng.Append(leaf, nil); err != nil {
		t.Fatal(err)
	}
	root, err := it.rng.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	it.roots[uint64(len(it.leaves))] = root
}

func proofBytes(p []tlog.Hash) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = append([]byte(nil), p[i][:]...)
	}
	return out
}

// TestMerkleCrossCheck grows one ledger to every size in crossSizes, in
// commands of one or many envelopes, and at each size compares the head
// with the independent root; then it checks TreeHashAt for every size and
// inclusion and consistency proofs with the independent verifiers.
func TestMerkleCrossCheck(t *testing.T) {
	admin := newKey(t)
	l := newLedger(t, admin.addr)
	it := newIndependentTree()
	h := rfc6962.DefaultHasher

	// mirror copies the entries from seq on into the independent tree.
	mirror := func(from, to uint64) {
		l.view(func(r ledger.Reader) error {
			for seq := from; seq < to; seq++ {
				e, data, err := ledger.GetEntry(r, seq)
				if err != nil {
					return err
				}
				if e.Seq != seq {
					t.Errorf("entry %d says seq %d", seq, e.Seq)
				}
				if got := ledger.LeafHash(data); !bytes.Equal(got[:], h.HashLeaf(data)) {
					t.Errorf("LeafHash of entry %d = %x, RFC 6962 leaf %x", seq, got, h.HashLeaf(data))
				}
				it.append(t, data)
			}
			return nil
		})
	}

	mirror(0, 1)
	clock := genesisTime
	next := 0
	for _, size := range crossSizes() {
		cur := l.size()
		if size > cur {
			clock = clock.Add(time.Second)
			n := int(size - cur)
			for _, res := range l.apply(registrations(t, admin, next, n, clock)) {
				if res.Err != nil {
					t.Fatalf("registration refused: %v", res.Err)
				}
			}
			next += n
			mirror(cur, size)
		}
		head := l.head()
		if head.Size != size {
			t.Fatalf("head size %d, want %d", head.Size, size)
		}
		if !bytes.Equal(head.Root[:], it.roots[size]) {
			t.Errorf("size %d: ReadHead root %x, independent root %x", size, head.Root, it.roots[size])
		}
	}
	final := l.size()

	rnd := rand.New(rand.NewSource(6962))
	l.view(func(r ledger.Reader) error {
		for _, size := range crossSizes() {
			root, err := ledger.TreeHashAt(r, size)
			if err != nil {
				t.Fatalf("TreeHashAt(%d): %v", size, err)
			}
			if !bytes.Equal(root[:], it.roots[size]) {
				t.Errorf("TreeHashAt(%d) = %x, independent root %x", size, root, it.roots[size])
			}
		}

		// Inclusion: every seq in the small trees; edges and a random
		// sample in the large ones.
		checkIncl := func(seq, size uint64) {
			p, err := ledger.ProveInclusion(r, size, seq)
			if err != nil {
				t.Fatalf("ProveInclusion(size %d, seq %d): %v", size, seq, err)
			}
			pb := proofBytes(p)
			if err := proof.VerifyInclusion(h, seq, size, it.leaves[seq], pb, it.roots[size]); err != nil {
				t.Errorf("inclusion of %d in %d rejected by the independent verifier: %v", seq, size, err)
			}
			if size > 1 {
				other := (seq + 1) % size
				if proof.VerifyInclusion(h, seq, size, it.leaves[other], pb, it.roots[size]) == nil {
					t.Errorf("inclusion proof of %d in %d also proves leaf %d", seq, size, other)
				}
			}
		}
		for _, size := range crossSizes() {
			if size <= 70 {
				for seq := uint64(0); seq < size; seq++ {
					checkIncl(seq, size)
				}
				continue
			}
			seqs := []uint64{0, 1, size / 2, size - 2, size - 1}
			for i := 0; i < 40; i++ {
				seqs = append(seqs, uint64(rnd.Int63n(int64(size))))
			}
			for _, seq := range seqs {
				checkIncl(seq, size)
			}
		}

		// Consistency: every pair among the small sizes; edges and a
		// random sample among the large ones.
		checkCons := func(old, new uint64) {
			p, err := ledger.ProveConsistency(r, old, new)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", old, new, err)
			}
			pb := proofBytes(p)
			if err := proof.VerifyConsistency(h, old, new, pb, it.roots[old], it.roots[new]); err != nil {
				t.Errorf("consistency %d → %d rejected by the independent verifier: %v", old, new, err)
			}
			if old < new && proof.VerifyConsistency(h, old, new, pb, it.roots[new], it.roots[new]) == nil {
				t.Errorf("consistency proof %d → %d accepts a wrong old root", old, new)
			}
		}
		for new := uint64(1); new <= 70; new++ {
			for old := uint64(1); old <= new; old++ {
				checkCons(old, new)
			}
		}
		pairs := [][2]uint64{{1, 1000}, {63, 64}, {64, 65}, {64, 128}, {127, 128}, {128, 129},
			{127, 129}, {70, 127}, {129, 1000}, {128, 1000}, {999, 1000}, {1000, 1000}, {500, 1000}}
		for i := 0; i < 30; i++ {
			a, b := uint64(1+rnd.Int63n(int64(final))), uint64(1+rnd.Int63n(int64(final)))
			if a > b {
				a, b = b, a
			}
			if it.roots[a] != nil && it.roots[b] != nil {
				pairs = append(pairs, [2]uint64{a, b})
			}
		}
		for _, pr := range pairs {
			checkCons(pr[0], pr[1])
		}
		return nil
	})
}

// TestMerkleCrossCheckSingleCommand appends one large command and checks
// the head against the independent root: every leaf of a command lands in
// one transaction, so each append must read the hashes the previous ones
// wrote inside it.
func TestMerkleCrossCheckSingleCommand(t *testing.T) {
	admin := newKey(t)
	l := newLedger(t, admin.addr)
	const n = 300
	for _, res := range l.apply(registrations(t, admin, 0, n, genesisTime.Add(time.Second))) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	it := newIndependentTree()
	l.view(func(r ledger.Reader) error {
		for seq := uint64(0); seq <= n; seq++ {
			_, data, err := ledger.GetEntry(r, seq)
			if err != nil {
				return err
			}
			it.append(t, data)
		}
		for size := uint64(1); size <= n+1; size++ {
			root, err := ledger.TreeHashAt(r, size)
			if err != nil || !bytes.Equal(root[:], it.roots[size]) {
				t.Errorf("TreeHashAt(%d) = %x, %v; independent root %x", size, root, err, it.roots[size])
			}
		}
		return nil
	})
	if head := l.head(); head.Size != n+1 || !bytes.Equal(head.Root[:], it.roots[n+1]) {
		t.Errorf("head %d %x, independent root %x", head.Size, head.Root, it.roots[n+1])
	}
}
