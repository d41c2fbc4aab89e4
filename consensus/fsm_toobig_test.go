package consensus

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// budgetStore refuses any transaction that writes more than limit bytes,
// as Badger refuses one larger than its transaction limit.
type budgetStore struct {
	*badgerkv.DB
	limit int
}

type budgetWriter struct {
	ledger.Writer
	left *int
}

func (w budgetWriter) Set(k, v []byte) error {
	*w.left -= len(k) + len(v)
	if *w.left < 0 {
		return ledger.ErrTxnTooBig
	}
	return w.Writer.Set(k, v)
}

func (s budgetStore) Update(fn func(ledger.Writer) error) error {
	left := s.limit
	return s.DB.Update(func(w ledger.Writer) error { return fn(budgetWriter{w, &left}) })
}

var _ ledger.SnapshotStore = budgetStore{}

// producerRegistration is admin's registration of producer's own address
// as a producer.
func producerRegistration(t *testing.T, admin, producer *ecdsa.PrivateKey) *ledger.Admitted {
	t.Helper()
	return admitted(t, admin, fmt.Sprintf(`{"address":"%s","id":"p","name":"HTX","roles":["producer"],"signer":"%s","time":"2026-06-01T07:00:00+07:00","type":"participant"}`,
		ledger.AddressOf(producer).Hex(), ledger.AddressOf(admin).Hex()))
}

func signedHarvest(t *testing.T, k *ecdsa.PrivateKey, lot string) *ledger.Admitted {
	t.Helper()
	return admitted(t, k, fmt.Sprintf(`{"id":"h-%s","lot":{"gtin":"08936000000127","lot":"%s"},"place":{"name":"Lục Ngạn"},"product":{"name":"Vải thiều"},"quantity":{"amount":5,"unit":"KGM"},"signer":"%s","time":"2026-06-01T08:00:00+07:00","type":"harvest"}`,
		lot, lot, ledger.AddressOf(k).Hex()))
}

// admitted signs rec with k and admits it.
func admitted(t *testing.T, k *ecdsa.PrivateKey, rec string) *ledger.Admitted {
	t.Helper()
	env, err := ledger.SignEnvelope(k, []byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	a, err := ledger.Admit(env, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A batch of logs whose writes exceed one transaction is applied log by
// log, and a log too large alone envelope by envelope: every envelope is
// applied exactly once and m/applied reaches the last log.
func TestApplyBatchSplitsTransactionsTooLarge(t *testing.T) {
	db, err := badgerkv.Open(badgerkv.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := budgetStore{DB: db, limit: 12 << 10} // about five harvests per transaction
	f, err := NewFSM(st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := crypto.GenerateKey()
	producer, _ := crypto.GenerateKey()
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	genesis := ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdGenesis, Time: t0, Admins: []common.Address{ledger.AddressOf(admin)}})
	reg := producerRegistration(t, admin, producer)
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: genesis},
		{Index: 2, Type: raft.LogCommand, Data: ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: t0, Envelopes: []*ledger.Admitted{reg}})},
	}
	var big []*ledger.Admitted
	for i := 0; i < 20; i++ {
		big = append(big, signedHarvest(t, producer, fmt.Sprintf("B%d", i)))
	}
	logs = append(logs, &raft.Log{Index: 3, Type: raft.LogCommand, Data: ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: t0, Envelopes: big})})
	out := f.ApplyBatch(logs)
	res, ok := out[2].([]ledger.Result)
	if !ok || len(res) != 20 {
		t.Fatalf("big log answered %#v", out[2])
	}
	for i, r := range res {
		if r.Err != nil || r.Seq != uint64(2+i) {
			t.Fatalf("envelope %d: %+v", i, r)
		}
	}
	var size, applied uint64
	db.View(func(r ledger.Reader) (err error) {
		if size, err = ledger.Size(r); err != nil {
			return err
		}
		applied, err = ledger.AppliedIndex(r)
		return err
	})
	if size != 22 || applied != 3 {
		t.Fatalf("size %d applied %d, want 22 and 3", size, applied)
	}
	// Replaying the same logs (as after a restart) changes nothing.
	f.ApplyBatch(logs)
	db.View(func(r ledger.Reader) (err error) { size, err = ledger.Size(r); return err })
	if size != 22 {
		t.Fatalf("replay grew the ledger to %d", size)
	}
	// The piecewise apply left m/piece behind, empty: audit expects it.
	db.View(func(r ledger.Reader) error {
		if v, ok, err := r.Get([]byte("m/piece")); err != nil || !ok || len(v) != 0 {
			t.Errorf("m/piece after a piecewise apply: %x, %v, %v", v, ok, err)
		}
		return nil
	})
	auditClean(t, db)
	// An envelope too large even alone is refused, not a crash.
	st.limit = 100
	f2, _ := NewFSM(st, slog.New(slog.DiscardHandler))
	one := &raft.Log{Index: 4, Type: raft.LogCommand, Data: ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: t0,
		Envelopes: []*ledger.Admitted{signedHarvest(t, producer, "HUGE")}})}
	out = f2.ApplyBatch([]*raft.Log{one})
	res, _ = out[0].([]ledger.Result)
	if len(res) != 1 || !errors.Is(res[0].Err, ledger.ErrWriteTooLarge) {
		t.Fatalf("oversized envelope: %#v", out[0])
	}
}

// A crash in the middle of a log applied piecewise: the replay resumes
// after the last envelope done. Re-judging an envelope refused earlier
// against the state that has moved on since could accept it, and this
// node would diverge from the others.
func TestPiecewiseReplayResumesWhereItStopped(t *testing.T) {
	db, err := badgerkv.Open(badgerkv.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := budgetStore{DB: db, limit: 12 << 10}
	admin, _ := crypto.GenerateKey()
	late, _ := crypto.GenerateKey() // registered only after its first harvest
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	reg := producerRegistration(t, admin, late)
	envs := []*ledger.Admitted{signedHarvest(t, late, "EARLY"), reg}
	for i := 0; i < 10; i++ {
		envs = append(envs, signedHarvest(t, late, fmt.Sprintf("F%d", i)))
	}
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdGenesis, Time: t0, Admins: []common.Address{ledger.AddressOf(admin)}})},
		{Index: 2, Type: raft.LogCommand, Data: ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: t0, Envelopes: envs})},
	}
	f, _ := NewFSM(st, slog.New(slog.DiscardHandler))
	out := f.ApplyBatch(logs)
	res := out[1].([]ledger.Result)
	if !errors.Is(res[0].Err, ledger.ErrNotRegistered) || res[1].Err != nil {
		t.Fatalf("first pass: %+v", res[:2])
	}
	want := headOf(t, db)

	// Pretend the node crashed right after the registration (envelope 1):
	// m/applied still names the genesis log, the progress marker envelope 1.
	db.Update(func(w ledger.Writer) error {
		if err := ledger.SetAppliedIndex(w, 1); err != nil {
			return err
		}
		return w.Set([]byte("m/piece"), []byte{0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1})
	})
	f2, _ := NewFSM(st, slog.New(slog.DiscardHandler))
	f2.ApplyBatch(logs)
	if got := headOf(t, db); got != want {
		t.Fatalf("replay after a crash changed the ledger: %+v, want %+v", got, want)
	}
	var lot *ledger.Lot
	db.View(func(r ledger.Reader) (err error) {
		lot, err = ledger.GetLot(r, ledger.LotRef{GTIN: "08936000000127", Lot: "EARLY"})
		return err
	})
	if lot != nil {
		t.Fatal("the harvest refused before the registration was accepted on replay")
	}
}
