package testnet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// bin is the traceledger binary the multi-process tests run, built once.
var bin string

func TestMain(m *testing.M) {
	os.Exit(testnet.MainWithBinary(m, "..", func(b string) { bin = b }))
}

func startProcs(t *testing.T) *testnet.Procs {
	t.Helper()
	c, err := testnet.StartProcs(context.Background(), bin, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.StopAll)
	return c
}

// running returns the URLs of the nodes whose processes are alive.
func running(c *testnet.Procs) func() []string {
	return func() []string {
		var out []string
		for i, p := range c.Nodes {
			if c.Running(i) {
				out = append(out, p.URL())
			}
		}
		return out
	}
}

// underLoad runs a load of concurrent retrying clients while fault runs,
// then settles every envelope whose outcome was unknown and checks the
// invariants: all nodes converge to the same size and head, and the ledger
// holds every acknowledged envelope exactly once with valid signatures.
func underLoad(t *testing.T, c *testnet.Procs, name string, fault func(l *testnet.Load)) {
	t.Helper()
	ctx := context.Background()
	l, err := testnet.NewLoad(ctx, running(c), c.Admin, 4, name)
	if err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan []ledger.Envelope)
	go func() { done <- l.Run(lctx, 8) }()
	waitAcks(t, l, 30)
	fault(l)
	waitAcks(t, l, len(l.Acked())+30)
	stop()
	unsettled := <-done
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := l.Settle(sctx, unsettled); err != nil {
		t.Fatalf("settle %d envelopes: %v", len(unsettled), err)
	}
	var heads string
	if err := harness.Poll(ctx, 30*time.Second, func() bool {
		var same bool
		same, heads = c.SameHead()
		return same
	}); err != nil {
		t.Fatalf("nodes do not converge: %s", heads)
	}
	t.Logf("%s: %d acknowledged, answers %v, heads %s", name, len(l.Acked()), l.Statuses(), heads)
	checkSameCheckpoint(t, c)
	for i, p := range c.Nodes {
		if !c.Running(i) {
			continue
		}
		if err := testnet.CheckLedger(ctx, p.URL(), l.Acked()); err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
	}
}

func waitAcks(t *testing.T, l *testnet.Load, n int) {
	t.Helper()
	if err := harness.Poll(context.Background(), 60*time.Second, func() bool { return len(l.Acked()) >= n }); err != nil {
		t.Fatalf("load stalled at %d of %d acknowledged (answers %v)", len(l.Acked()), n, l.Statuses())
	}
}

func leader(t *testing.T, c *testnet.Procs) int {
	t.Helper()
	i, err := c.Leader(context.Background(), 30*time.Second)
	if err != nil {
		t.Fatalf("no leader: %v", err)
	}
	return i
}

func TestKillLeaderUnderLoad(t *testing.T) {
	c := startProcs(t)
	underLoad(t, c, "kill", func(l *testnet.Load) {
		old := leader(t, c)
		before := len(l.Acked())
		start := time.Now()
		if err := c.Kill(old); err != nil {
			t.Fatal(err)
		}
		waitAcks(t, l, before+1)
		t.Logf("SIGKILL of leader %s → next acknowledged write after %v", c.Nodes[old].ID, time.Since(start))
		if next := leader(t, c); next == old {
			t.Fatal("killed node is leader")
		}
		if err := c.Start(old); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPartitionedLeaderUnderLoad(t *testing.T) {
	c := startProcs(t)
	underLoad(t, c, "part", func(l *testnet.Load) {
		old := leader(t, c)
		if err := c.Partition(old); err != nil {
			t.Fatal(err)
		}
		// The minority side must refuse writes with 503, never accept silently.
		env, err := demo.SignRecord(c.Admin, map[string]any{"type": "participant", "id": "minority-write",
			"time": "2026-06-01T07:00:00+07:00", "signer": c.AdminAddress(),
			"address": c.AdminAddress(), "name": "Quản trị", "roles": []string{"admin"}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(env)
		resp, err := http.Post(c.Nodes[old].URL()+"/v1/records", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("write to the partitioned leader: %d, want 503", resp.StatusCode)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		// The majority elects a leader and keeps acknowledging writes.
		waitAcks(t, l, len(l.Acked())+30)
		if err := c.Heal(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestKillAllAndRestartUnderLoad(t *testing.T) {
	c := startProcs(t)
	underLoad(t, c, "all", func(l *testnet.Load) {
		for i := range c.Nodes {
			go c.Kill(i)
		}
		for i := range c.Nodes {
			harness.Poll(context.Background(), 30*time.Second, func() bool { return !c.Running(i) })
		}
		for i := range c.Nodes {
			if err := c.Start(i); err != nil {
				t.Fatal(err)
			}
		}
		leader(t, c)
	})
}

func TestPausedFollowerCatchesUp(t *testing.T) {
	c := startProcs(t)
	underLoad(t, c, "pause", func(l *testnet.Load) {
		l0 := leader(t, c)
		f := (l0 + 1) % len(c.Nodes)
		if err := c.Pause(f); err != nil {
			t.Fatal(err)
		}
		waitAcks(t, l, len(l.Acked())+50)
		if err := c.Resume(f); err != nil {
			t.Fatal(err)
		}
	})
}

// checkSameCheckpoint waits until every running node serves the same
// cosigned checkpoint, covering the whole converged log and signed by a
// majority of the cluster's node keys.
func checkSameCheckpoint(t *testing.T, c *testnet.Procs) {
	t.Helper()
	var last string
	err := harness.Poll(context.Background(), 15*time.Second, func() bool {
		var first []byte
		for i := range c.Nodes {
			if !c.Running(i) {
				continue
			}
			cp, err := c.Checkpoint(i)
			if err != nil {
				last = err.Error()
				return false
			}
			if first == nil {
				first = cp
			} else if !bytes.Equal(first, cp) {
				last = "nodes serve different checkpoints"
				return false
			}
		}
		keys, err := c.NodeKeys(0)
		if err != nil {
			last = err.Error()
			return false
		}
		cp, _, err := ledger.OpenCheckpoint(first, keys)
		if err != nil {
			last = err.Error()
			return false
		}
		v, err := c.View(0)
		if err != nil || cp.Size != v.Size || ledger.HashHex(cp.Root) != v.Head {
			last = fmt.Sprintf("checkpoint size %d, log size %d", cp.Size, v.Size)
			return false
		}
		return true
	})
	if err != nil {
		t.Fatalf("checkpoints: %v (%s)", err, last)
	}
}
