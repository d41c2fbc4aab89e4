package consensus

import (
	"bytes"
	"crypto/ecdsa"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
)

// harvestsLog is a records log of harvests of new lots, named prefix0….
func harvestsLog(t *testing.T, index uint64, producer *ecdsa.PrivateKey, prefix string, n int) *raft.Log {
	t.Helper()
	var envs []*ledger.Admitted
	for i := range n {
		envs = append(envs, signedHarvest(t, producer, fmt.Sprintf("%s%d", prefix, i)))
	}
	return cmdLog(index, ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: t0, Envelopes: envs}))
}

func lotHeadsRootOf(t *testing.T, s ledger.Store) string {
	t.Helper()
	var root string
	if err := s.View(func(r ledger.Reader) error {
		size, err := ledger.Size(r)
		if err != nil {
			return err
		}
		h, err := ledger.LotHeadsRoot(r, size)
		root = fmt.Sprintf("%d:%x", size, h)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return root
}

// A state machine keeps the lot-head map's upper levels in memory; a
// snapshot restored over a state with other lots must not leave them
// stale, or the next entries would be mapped over the old state's lots.
func TestFSMRestoreRenewsLotMapCache(t *testing.T) {
	admin, _ := crypto.GenerateKey()
	producer, _ := crypto.GenerateKey()
	start := []*raft.Log{
		cmdLog(1, genesisData(ledger.AddressOf(admin))),
		cmdLog(2, recordsData(1, registrationOf(t, admin, producer))),
	}
	a, b := newStore(t), newStore(t)
	fa, fb := newFSM(t, a), newFSM(t, b)
	fa.ApplyBatch(append(start, harvestsLog(t, 3, producer, "A", 8)))
	fb.ApplyBatch(append(start, harvestsLog(t, 3, producer, "B", 40)))

	snap, err := fa.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if err := fb.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	next := harvestsLog(t, 4, producer, "C", 8)
	fa.ApplyBatch([]*raft.Log{next})
	fb.ApplyBatch([]*raft.Log{next})
	if ra, rb := lotHeadsRootOf(t, a), lotHeadsRootOf(t, b); ra != rb {
		t.Fatalf("after restore and one more log, lot-head roots %s and %s", rb, ra)
	}
	if fb.lotMap.Len() == 0 {
		t.Fatal("the restored state machine's cache is empty after applying")
	}
}

// registrationOf registers producer's own address as a producer.
func registrationOf(t *testing.T, admin, producer *ecdsa.PrivateKey) *ledger.Admitted {
	t.Helper()
	rec := fmt.Sprintf(`{"address":"%s","id":"p","name":"HTX","roles":["producer"],"signer":"%s","time":"2026-06-01T07:00:00+07:00","type":"participant"}`,
		ledger.AddressOf(producer).Hex(), ledger.AddressOf(admin).Hex())
	env, err := ledger.SignEnvelope(admin, []byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	adm, err := ledger.Admit(env, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return adm
}
