package ledger_test

// The Merkle log: roots against an independent RFC 6962 computation,
// inclusion and consistency proofs, and the entries themselves.

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// mth is the RFC 6962 Merkle Tree Hash of a list of leaf hashes.
func mth(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// leafHash is the RFC 6962 leaf hash, SHA-256(0x00 ‖ data).
func leafHash(data []byte) [32]byte { return sha256.Sum256(append([]byte{0}, data...)) }

func TestMerkleHeadAndProofs(t *testing.T) {
	const n = 40
	admin := newKey(t)
	l := newLedger(t, admin.addr)
	var leaves [][32]byte
	roots := map[int]tlog.Hash{}
	for size := 1; size <= n; size++ {
		if size > 1 {
			res := l.must(admin, participantRec(newKey(t).addr, "producer"))
			if res.Seq != uint64(size-1) {
				t.Fatalf("entry %d got seq %d", size-1, res.Seq)
			}
		}
		var data []byte
		l.view(func(r ledger.Reader) error {
			e, d, err := ledger.GetEntry(r, uint64(size-1))
			if err == nil && e.Seq != uint64(size-1) {
				t.Errorf("entry %d has seq %d", size-1, e.Seq)
			}
			data = d
			return err
		})
		leaves = append(leaves, leafHash(data))
		roots[size] = mth(leaves)
		if h := l.head(); h.Size != uint64(size) || h.Root != roots[size] {
			t.Errorf("after %d entries: head %d %x, want root %x", size, h.Size, h.Root, roots[size])
		}
		if got := ledger.LeafHash(data); got != leaves[size-1] {
			t.Errorf("LeafHash of entry %d = %x, want %x", size-1, got, leaves[size-1])
		}
	}

	l.view(func(r ledger.Reader) error {
		for size := 1; size <= n; size++ {
			if root, err := ledger.TreeHashAt(r, uint64(size)); err != nil || root != roots[size] {
				t.Errorf("TreeHashAt(%d) = %x, %v; want %x", size, root, err, roots[size])
			}
			for seq := 0; seq < size; seq++ {
				p, err := ledger.ProveInclusion(r, uint64(size), uint64(seq))
				if err != nil {
					t.Fatalf("ProveInclusion(%d, %d): %v", size, seq, err)
				}
				if err := tlog.CheckRecord(p, int64(size), roots[size], int64(seq), leaves[seq]); err != nil {
					t.Errorf("inclusion of %d in %d: %v", seq, size, err)
				}
				other := leaves[(seq+1)%size]
				if size > 1 && tlog.CheckRecord(p, int64(size), roots[size], int64(seq), other) == nil {
					t.Errorf("inclusion proof of %d in %d verifies another leaf", seq, size)
				}
			}
			for old := 1; old <= size; old++ {
				p, err := ledger.ProveConsistency(r, uint64(old), uint64(size))
				if err != nil {
					t.Fatalf("ProveConsistency(%d, %d): %v", old, size, err)
				}
				if err := tlog.CheckTree(p, int64(size), roots[size], int64(old), roots[old]); err != nil {
					t.Errorf("consistency %d → %d: %v", old, size, err)
				}
				if old < size && tlog.CheckTree(p, int64(size), roots[size], int64(old), roots[size]) == nil {
					t.Errorf("consistency proof %d → %d verifies a wrong old root", old, size)
				}
			}
		}

		bad := []struct {
			name string
			err  error
		}{
			{"inclusion size 0", second(ledger.ProveInclusion(r, 0, 0))},
			{"inclusion seq = size", second(ledger.ProveInclusion(r, 5, 5))},
			{"inclusion beyond the log", second(ledger.ProveInclusion(r, n+1, 0))},
			{"consistency old 0", second(ledger.ProveConsistency(r, 0, 5))},
			{"consistency old > new", second(ledger.ProveConsistency(r, 6, 5))},
			{"consistency beyond the log", second(ledger.ProveConsistency(r, 1, n+1))},
		}
		for _, b := range bad {
			if !errors.Is(b.err, ledger.ErrInvalidField) {
				t.Errorf("%s: %v, want ErrInvalidField", b.name, b.err)
			}
		}
		if _, _, err := ledger.GetEntry(r, n); !errors.Is(err, ledger.ErrUnknownEntry) {
			t.Errorf("GetEntry past the end: %v, want ErrUnknownEntry", err)
		}
		return nil
	})
}

func second[T any](_ T, err error) error { return err }

func TestEntries(t *testing.T) {
	f := newFixture(t)
	res := f.must(f.producer, harvestRec("E1", "5", "KGM"))
	f.view(func(r ledger.Reader) error {
		g, gdata, err := ledger.GetEntry(r, 0)
		if err != nil {
			return err
		}
		if g.Type != ledger.TypeGenesis || g.Signer != "" || g.Signature != "" || g.Time() != genesisTime {
			t.Errorf("genesis entry %+v", g)
		}
		if want := `{"admins":["` + f.admin.hex() + `"],"type":"genesis"}`; string(g.Record) != want {
			t.Errorf("genesis record %s, want %s", g.Record, want)
		}
		if _, err := ledger.ParseEntry(gdata); err != nil {
			t.Errorf("ParseEntry(genesis): %v", err)
		}

		e, data, err := ledger.GetEntry(r, res.Seq)
		if err != nil {
			return err
		}
		if e.Seq != res.Seq || e.Type != ledger.TypeHarvest || e.Signer != f.producer.hex() || e.Time().IsZero() {
			t.Errorf("entry %+v", e)
		}
		// An auditor re-checks the signature from the entry alone.
		sig, err := ledger.ParseSignature(e.Signature)
		if err != nil {
			return err
		}
		if a, err := ledger.Recover(e.Record, sig); err != nil || a.Hex() != e.Signer {
			t.Errorf("entry signature recovers %s, %v; want %s", a.Hex(), err, e.Signer)
		}
		if canon, err := ledger.Canonicalize(data); err != nil || string(canon) != string(data) {
			t.Errorf("entry bytes are not canonical: %s", data)
		}
		again, err := ledger.MarshalEntry(e)
		if err != nil || string(again) != string(data) {
			t.Errorf("MarshalEntry(ParseEntry(data)) = %s, %v", again, err)
		}
		if _, err := ledger.ParseEntry([]byte(` ` + string(data))); !errors.Is(err, ledger.ErrCorrupt) {
			t.Errorf("ParseEntry of non-canonical bytes: %v, want ErrCorrupt", err)
		}
		if _, err := ledger.ParseEntry([]byte(`{`)); !errors.Is(err, ledger.ErrCorrupt) {
			t.Errorf("ParseEntry of broken bytes: %v, want ErrCorrupt", err)
		}
		seqs, err := ledger.ParticipantSeqs(r, f.producer.addr, 0, 0)
		if err != nil {
			return err
		}
		// Registered by the admin (an entry naming the producer), then the harvest.
		if len(seqs) != 2 || seqs[1] != res.Seq {
			t.Errorf("ParticipantSeqs(producer) = %v", seqs)
		}
		if s, _ := ledger.ParticipantSeqs(r, f.producer.addr, seqs[1], 0); len(s) != 1 || s[0] != res.Seq {
			t.Errorf("ParticipantSeqs from %d = %v", seqs[1], s)
		}
		if s, _ := ledger.ParticipantSeqs(r, f.admin.addr, 0, 3); len(s) != 3 || s[0] != 0 {
			t.Errorf("ParticipantSeqs(admin, limit 3) = %v", s)
		}
		return nil
	})
}

func TestGenesisOnce(t *testing.T) {
	a, b := newKey(t), newKey(t)
	l := newLedger(t, a.addr)
	before := l.head()
	l.apply(&ledger.Command{Kind: ledger.CmdGenesis, Time: genesisTime, Admins: nil})
	l.apply(&ledger.Command{Kind: ledger.CmdGenesis, Time: genesisTime, Admins: []common.Address{b.addr}})
	if after := l.head(); after != before || after.Size != 1 {
		t.Errorf("a second genesis changed the head from %+v to %+v", before, after)
	}
	if l.participant(b.addr) != nil {
		t.Error("a second genesis registered an admin")
	}
	err := l.db.Update(func(w ledger.Writer) error {
		_, err := ledger.Apply(w, &ledger.Command{Kind: 9, Time: genesisTime})
		return err
	})
	if err == nil {
		t.Error("Apply accepted an unknown command kind")
	}
}

// ParseHashHex must read back what HashHex prints (the "hash" of API answers).
func TestHashHexRoundTrip(t *testing.T) {
	h := tlog.Hash(leafHash([]byte("entry")))
	hex := ledger.HashHex(h)
	if len(hex) != 66 || hex[:2] != "0x" {
		t.Fatalf("HashHex = %q", hex)
	}
	if got, err := ledger.ParseHashHex(hex); err != nil || got != h {
		t.Errorf("ParseHashHex(HashHex(h)) = %x, %v; want %x", got[:], err, h[:])
	}
	for _, s := range []string{"", hex[2:], "0x" + hex[3:], hex[:65] + "g", hex + "0"} {
		if _, err := ledger.ParseHashHex(s); !errors.Is(err, ledger.ErrInvalidField) {
			t.Errorf("ParseHashHex(%q) = %v, want ErrInvalidField", s, err)
		}
	}
}
