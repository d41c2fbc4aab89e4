package chaos_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/chaos"
)

// bin is the traceledger binary the nodes run, built once.
var bin string

func TestMain(m *testing.M) {
	os.Exit(testnet.MainWithBinary(m, "../..", func(b string) { bin = b }))
}

// TestChaos20s runs the chaos workload for 20 s on 3 nodes with peer TLS
// and fails on any anomaly the checker finds, or on a run too disrupted
// to have tested anything.
func TestChaos20s(t *testing.T) {
	// A fault every 100 ms, not 70: about 200 faults, with room between
	// them for the cluster to acknowledge more, so more is checked.
	r, err := chaos.Run(context.Background(), chaos.Config{Bin: bin, Dir: t.TempDir(), Nodes: 3, Duration: 20 * time.Second,
		Seed: 20, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	r.WriteTable(&table)
	t.Logf("\n%s", table.String())
	if a := r.Anomalies(); len(a) > 0 {
		t.Fatalf("anomalies: %v", a)
	}
	if !r.PeerTLS {
		t.Error("the nodes ran without peer TLS")
	}
	for _, f := range r.Faults {
		if f.Count == 0 {
			t.Errorf("no %s fault injected", f.Kind)
		}
	}
	// Not a measure of availability (a loaded machine starves the
	// nodes): a sign that the workload ran at all.
	if all, reads := r.Operations["all"], r.Operations["read"]; all.Acknowledged-reads.Acknowledged == 0 {
		t.Errorf("no write acknowledged: %+v", *all)
	}
	if r.LinkRequests == 0 {
		t.Error("no partition was set")
	}
	if r.LotsChecked == 0 || r.CheckpointsSeen == 0 {
		t.Errorf("%d lots checked, %d checkpoints seen", r.LotsChecked, r.CheckpointsSeen)
	}
}

// TestRacingTransfers races two transfers of one lot through two
// different nodes, many times: exactly one wins each time.
func TestRacingTransfers(t *testing.T) {
	ctx := context.Background()
	c, err := testnet.StartProcs(ctx, bin, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.StopAll)
	res, err := chaos.RaceTransfers(ctx, c, 40, 7)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rounds != 40 {
		t.Fatalf("%d rounds", res.Rounds)
	}
	if res.Losers["double_transfer"] != 40 {
		t.Errorf("losers refused with %v, want double_transfer every round", res.Losers)
	}
}
