package consensus

// Shared helpers of the consensus tests: keys, signed and admitted
// envelopes, in-memory stores, single-node clusters and polling.

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// waitTimeout bounds every poll and every call a test waits on.
const waitTimeout = 10 * time.Second

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// registration returns the admitted envelope by which signer registers a
// producer whose address is derived from id. Signed by an admin it is
// accepted; signed by anyone unregistered it is refused with
// ledger.ErrNotRegistered.
func registration(t testing.TB, signer *ecdsa.PrivateKey, id string) *ledger.Admitted {
	t.Helper()
	who := common.BytesToAddress(crypto.Keccak256([]byte(id))[12:])
	raw, err := json.Marshal(map[string]any{"type": "participant", "id": id, "time": "2026-06-01T08:00:00+07:00",
		"signer": ledger.AddressOf(signer).Hex(), "address": who.Hex(), "name": "Producer " + id, "roles": []string{"producer"}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := ledger.SignEnvelope(signer, raw)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := ledger.Admit(env, time.Time{})
	if err != nil {
		t.Fatalf("admit %s: %v", id, err)
	}
	return adm
}

// newStore returns an in-memory Badger store closed at the end of the test.
func newStore(t testing.TB) *badgerkv.DB {
	t.Helper()
	db, err := badgerkv.Open(badgerkv.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func headOf(t testing.TB, s ledger.Store) ledger.Head {
	t.Helper()
	var h ledger.Head
	if err := s.View(func(r ledger.Reader) (err error) { h, err = ledger.ReadHead(r); return err }); err != nil {
		t.Fatal(err)
	}
	return h
}

func storedApplied(t testing.TB, s ledger.Store) uint64 {
	t.Helper()
	var a uint64
	if err := s.View(func(r ledger.Reader) (err error) { a, err = ledger.AppliedIndex(r); return err }); err != nil {
		t.Fatal(err)
	}
	return a
}

// entryRecord returns the signed record stored at seq.
func entryRecord(t testing.TB, s ledger.Store, seq uint64) []byte {
	t.Helper()
	var rec []byte
	if err := s.View(func(r ledger.Reader) error {
		e, _, err := ledger.GetEntry(r, seq)
		if err == nil {
			rec = append([]byte(nil), e.Record...)
		}
		return err
	}); err != nil {
		t.Fatalf("entry %d: %v", seq, err)
	}
	return rec
}

// pollUntil polls cond until it holds or waitTimeout passes.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// checkpointKeys returns a note signer and its verifier key for node id.
func checkpointKeys(t testing.TB, id string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := NewCheckpointKey(rand.Reader, id)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// testNode is a single-node cluster over an in-memory store.
type testNode struct {
	*Node
	admin *ecdsa.PrivateKey
	store *badgerkv.DB
}

// startNode starts a bootstrapped single-node cluster with fast timeouts,
// lets edit adjust the config first, and waits until the node leads a
// ledger holding its genesis entry. It shuts the node down at the end of
// the test.
func startNode(t testing.TB, edit func(*Config)) *testNode {
	t.Helper()
	admin := newKey(t)
	cfg := Config{ID: "t", Dir: t.TempDir(), RaftBind: "127.0.0.1:0", Bootstrap: true,
		Admins:           []common.Address{ledger.AddressOf(admin)},
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	store := newStore(t)
	n, err := New(cfg, store)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { n.Shutdown() })
	tn := &testNode{Node: n, admin: admin, store: store}
	if cfg.Bootstrap {
		pollUntil(t, "leadership and genesis", func() bool { return n.IsLeader() && headOf(t, store).Size > 0 })
	}
	return tn
}

// submit submits envs on n under waitTimeout and fails the test on error.
func (n *testNode) submit(t testing.TB, envs []*ledger.Admitted) []ledger.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := n.Submit(ctx, envs)
	if err != nil {
		t.Fatalf("submit %d envelopes: %v", len(envs), err)
	}
	if len(res) != len(envs) {
		t.Fatalf("submit %d envelopes: %d results", len(envs), len(res))
	}
	return res
}

// registrations returns count admitted registrations by signer, ids
// prefix-0, prefix-1, …
func registrations(t testing.TB, signer *ecdsa.PrivateKey, prefix string, count int) []*ledger.Admitted {
	t.Helper()
	out := make([]*ledger.Admitted, count)
	for i := range out {
		out[i] = registration(t, signer, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}
