package node_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/node"
	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// post sends an envelope (or any JSON) and returns status and body.
func post(t *testing.T, url string, v any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/v1/records", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func signed(t *testing.T, key *ecdsa.PrivateKey, rec map[string]any) ledger.Envelope {
	t.Helper()
	rec["signer"] = ledger.AddressOf(key).Hex()
	env, err := demo.SignRecord(key, rec)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// registration returns an envelope by which admin registers a producer.
func registration(t *testing.T, admin, who *ecdsa.PrivateKey, id string) ledger.Envelope {
	return signed(t, admin, map[string]any{"type": "participant", "id": id, "time": "2026-06-01T08:00:00+07:00",
		"address": ledger.AddressOf(who).Hex(), "name": "HTX " + id, "roles": []string{"producer"}})
}

func harvest(t *testing.T, key *ecdsa.PrivateKey, lot string) ledger.Envelope {
	return signed(t, key, map[string]any{"type": "harvest", "id": "h-" + lot, "time": "2026-06-01T08:00:00+07:00",
		"lot": map[string]string{"gtin": "08936000000127", "lot": lot}, "product": map[string]string{"name": "Vải thiều"},
		"quantity": map[string]any{"amount": 10, "unit": "KGM"}, "place": map[string]string{"name": "Lục Ngạn"}})
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestClusterForwardsWritesAndReplicates(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	producer := newKey(t)
	f := c.Nodes[c.Follower()]
	if st, body := post(t, f.HTTPURL(), registration(t, c.Admin, producer, "p1")); st != http.StatusCreated {
		t.Fatalf("registration through a follower: %d %s", st, body)
	}
	batch := map[string]any{"records": []ledger.Envelope{harvest(t, producer, "A1"), harvest(t, producer, "A2")}}
	st, body := post(t, f.HTTPURL(), batch)
	if st != http.StatusOK {
		t.Fatalf("batch through a follower: %d %s", st, body)
	}
	var ans struct {
		Results []struct{ Status int }
	}
	json.Unmarshal(body, &ans)
	if len(ans.Results) != 2 || ans.Results[0].Status != 201 || ans.Results[1].Status != 201 {
		t.Fatalf("forwarding lost the per-envelope answers: %s", body)
	}
	c.WaitFor("replication", 10*time.Second, c.SameHead)
	for i, n := range c.Nodes {
		if st, body := get(t, n.HTTPURL()+"/v1/lots/08936000000127/A2"); st != http.StatusOK {
			t.Errorf("node %d cannot read the lot: %d %s", i, st, body)
		}
	}
}

func TestLinearizableReadThroughFollower(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	producer := newKey(t)
	leader := c.Nodes[c.Leader()]
	post(t, leader.HTTPURL(), registration(t, c.Admin, producer, "p1"))
	if st, body := post(t, leader.HTTPURL(), harvest(t, producer, "L1")); st != http.StatusCreated {
		t.Fatalf("harvest: %d %s", st, body)
	}
	// Immediately after the write, a linearizable read on a follower must
	// see it (it is forwarded to the leader, which confirms its leadership).
	f := c.Nodes[c.Follower()]
	if st, body := get(t, f.HTTPURL()+"/v1/lots/08936000000127/L1?consistency=linearizable"); st != http.StatusOK {
		t.Fatalf("linearizable read on a follower: %d %s", st, body)
	}
	// The provenance bundle too; the leader's ETag comes back, and
	// presenting it through the follower answers 304.
	bundle := f.HTTPURL() + "/v1/lots/08936000000127/L1/provenance?consistency=linearizable"
	resp, err := http.Get(bundle)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || !strings.Contains(resp.Header.Get("Content-Disposition"), "provenance-") {
		t.Fatalf("linearizable bundle on a follower: %d, ETag %q, Content-Disposition %q", resp.StatusCode, etag, resp.Header.Get("Content-Disposition"))
	}
	req, _ := http.NewRequest(http.MethodGet, bundle, nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidated linearizable bundle on a follower: %d, want 304", resp.StatusCode)
	}
}

func TestLeaderStopHandsOverAndRestartCatchesUp(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	producer := newKey(t)
	old := c.Leader()
	post(t, c.Nodes[old].HTTPURL(), registration(t, c.Admin, producer, "p1"))
	c.Stop(old) // graceful: transfers leadership first
	start := time.Now()
	next := c.Leader()
	if next == old {
		t.Fatal("stopped node still leader")
	}
	t.Logf("new leader %s after %v", c.Config(next).ID, time.Since(start))
	for i := 0; i < 20; i++ {
		if st, body := post(t, c.Nodes[next].HTTPURL(), harvest(t, producer, fmt.Sprintf("F%d", i))); st != http.StatusCreated {
			t.Fatalf("write after failover: %d %s", st, body)
		}
	}
	c.Restart(old)
	c.WaitFor("restarted node catches up", 20*time.Second, c.SameHead)
}

func TestPartitionedLeaderRefusesWritesAndConverges(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	producer := newKey(t)
	old := c.Leader()
	oldURL := c.Nodes[old].HTTPURL()
	post(t, oldURL, registration(t, c.Admin, producer, "p1"))
	c.WaitFor("replication", 10*time.Second, c.SameHead)
	sizeBefore := c.Size(old)

	c.Partition(old)
	// The cut-off leader cannot commit: it must answer 503, never 201.
	st, body := post(t, oldURL, harvest(t, producer, "MINORITY"))
	if st != http.StatusServiceUnavailable {
		t.Fatalf("write to a partitioned leader: %d %s, want 503", st, body)
	}
	// The majority elects a new leader and takes writes.
	var majority int
	c.WaitFor("a new leader in the majority", 20*time.Second, func() bool {
		for i, n := range c.Nodes {
			if i != old && n.Raft().IsLeader() {
				majority = i
				return true
			}
		}
		return false
	})
	if st, body := post(t, c.Nodes[majority].HTTPURL(), harvest(t, producer, "MAJORITY")); st != http.StatusCreated {
		t.Fatalf("write to the majority: %d %s", st, body)
	}
	if c.Size(old) != sizeBefore {
		t.Fatalf("the partitioned node grew from %d to %d", sizeBefore, c.Size(old))
	}
	c.Heal()
	c.WaitFor("convergence after heal", 20*time.Second, c.SameHead)
	// The minority's write either committed (its outcome was unknown to the
	// client, and it was answered 503) or not; the client's retry settles it
	// idempotently and it appears exactly once.
	st, body = post(t, c.Nodes[c.Leader()].HTTPURL(), harvest(t, producer, "MINORITY"))
	if st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("retry of the minority write: %d %s", st, body)
	}
	st, body = get(t, c.Nodes[c.Leader()].HTTPURL()+"/v1/lots/08936000000127/MINORITY")
	var lot struct{ Entries []json.RawMessage }
	json.Unmarshal(body, &lot)
	if st != http.StatusOK || len(lot.Entries) != 1 {
		t.Fatalf("minority lot after retry: %d, %d entries", st, len(lot.Entries))
	}
}

func TestRemoveNodeThroughFollower(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	f := c.Follower()
	victim := c.Config(f).ID
	other := -1
	for i := range c.Nodes {
		if i != f && !c.Nodes[i].Raft().IsLeader() {
			other = i
		}
	}
	if other < 0 {
		other = c.Leader()
	}
	// Without the cluster secret, membership cannot change.
	req, _ := http.NewRequest(http.MethodDelete, c.Nodes[other].HTTPURL()+"/v1/cluster/nodes/"+victim, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("remove without the secret: %d, want 401", resp.StatusCode)
	}
	b, _ := json.Marshal(map[string]string{"id": "intruder", "raft": "127.0.0.1:1"})
	req, _ = http.NewRequest(http.MethodPost, c.Nodes[other].HTTPURL()+"/v1/cluster/nodes", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(c.Nodes[c.Leader()].Raft().Status().Members) != 3 {
		t.Fatalf("join without the secret: %d, want 401 and 3 members", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodDelete, c.Nodes[other].HTTPURL()+"/v1/cluster/nodes/"+victim, nil)
	req.Header.Set("Authorization", "Bearer "+c.Secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("remove %s: %d", victim, resp.StatusCode)
	}
	c.WaitFor("membership without the removed node", 10*time.Second, func() bool {
		return len(c.Nodes[c.Leader()].Raft().Status().Members) == 2
	})
	// Removing an unknown node is a 404.
	req, _ = http.NewRequest(http.MethodDelete, c.Nodes[c.Leader()].HTTPURL()+"/v1/cluster/nodes/nobody", nil)
	req.Header.Set("Authorization", "Bearer "+c.Secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("remove unknown node: %d, want 404", resp.StatusCode)
	}
}

func TestLeadershipTransfer(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	old := c.Leader()
	if err := c.Nodes[old].Raft().TransferLeadership(); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	c.WaitFor("another leader", 10*time.Second, func() bool {
		l := c.Leader()
		return l != old
	})
}

func TestLateJoinerInstallsSnapshot(t *testing.T) {
	c := testnet.StartLocal(t, 1, testnet.LocalOptions{SnapshotThreshold: 64, TrailingLogs: 64})
	producer := newKey(t)
	leader := c.Nodes[0]
	ctx := context.Background()
	if _, err := leader.Submit(ctx, []ledger.Envelope{registration(t, c.Admin, producer, "p1")}); err != nil {
		t.Fatal(err)
	}
	// Many small log entries, so that the log is truncated behind the snapshot.
	for i := 0; i < 300; i++ {
		if _, err := leader.Submit(ctx, []ledger.Envelope{harvest(t, producer, fmt.Sprintf("S%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader.Raft().Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	j := c.Add()
	c.WaitFor("late joiner converges", 30*time.Second, c.SameHead)
	if c.Nodes[j].Raft().Restores() == 0 {
		t.Fatal("the late joiner caught up without installing a snapshot")
	}
	if c.Size(j) != c.Size(0) || c.Size(j) < 300 {
		t.Fatalf("sizes %d and %d", c.Size(j), c.Size(0))
	}
	// After a restart the node does not restore the snapshot it already
	// holds. (It first applies entries past the snapshot: restarted with
	// nothing but the installed snapshot, it is sometimes sent it again.)
	if _, err := leader.Submit(ctx, []ledger.Envelope{harvest(t, producer, "AFTER")}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("the joiner applies an entry past the snapshot", 20*time.Second, c.SameHead)
	c.Stop(j)
	c.Restart(j)
	c.WaitFor("restarted joiner converges", 20*time.Second, c.SameHead)
	if got := c.Nodes[j].Raft().Restores(); got != 0 {
		t.Fatalf("restart restored %d snapshots; the store already held them", got)
	}
}

func TestCheckpointsAreCosignedAndCoverWrites(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	producer := newKey(t)
	leader := c.Nodes[c.Leader()]
	post(t, leader.HTTPURL(), registration(t, c.Admin, producer, "p1"))

	// A write with ?wait=checkpoint comes back with a checkpoint that covers
	// it and the inclusion proof of its entry.
	b, _ := json.Marshal(harvest(t, producer, "CP1"))
	resp, err := http.Post(c.Nodes[c.Follower()].HTTPURL()+"/v1/records?wait=checkpoint", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("wait=checkpoint: %d %s", resp.StatusCode, body)
	}
	var acc struct {
		Seq        uint64   `json:"seq"`
		Hash       string   `json:"hash"`
		Proof      []string `json:"inclusion_proof"`
		Checkpoint string   `json:"checkpoint"`
	}
	if err := json.Unmarshal(body, &acc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range leader.Raft().Status().Members {
		if m.CheckpointKey == "" {
			t.Fatalf("node %s publishes no checkpoint key", m.ID)
		}
		keys = append(keys, m.CheckpointKey)
	}
	cp, signers, err := ledger.OpenCheckpoint([]byte(acc.Checkpoint), keys)
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v", err)
	}
	if len(signers) < 2 || cp.Size <= acc.Seq {
		t.Fatalf("checkpoint size %d signed by %v does not cover entry %d", cp.Size, signers, acc.Seq)
	}
	proof, err := ledger.DecodeProof(acc.Proof)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ledger.ParseHashHex(acc.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(proof, int64(cp.Size), cp.Root, int64(acc.Seq), leaf); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	// Every node serves a checkpoint signed by all three once they agree.
	c.WaitFor("a checkpoint signed by every node on every node", 10*time.Second, func() bool {
		for _, n := range c.Nodes {
			st, body := get(t, n.HTTPURL()+"/v1/checkpoint")
			if st != http.StatusOK {
				return false
			}
			if _, signers, err := ledger.OpenCheckpoint(body, keys); err != nil || len(signers) != 3 {
				return false
			}
		}
		return true
	})
}

func TestPartitionedLeaderCannotCheckpoint(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	old := c.Leader()
	c.WaitFor("first checkpoint", 10*time.Second, func() bool {
		_, _, ok, _ := c.Nodes[old].Raft().LatestCheckpoint()
		return ok
	})
	before, _, _, _ := c.Nodes[old].Raft().LatestCheckpoint()
	c.Partition(old)
	// The cut-off node's own state cannot move, so neither can its checkpoint.
	producer := newKey(t)
	post(t, c.Nodes[old].HTTPURL(), registration(t, c.Admin, producer, "p-minority"))
	after, _, _, _ := c.Nodes[old].Raft().LatestCheckpoint()
	if after.Size != before.Size {
		t.Fatalf("a partitioned node's checkpoint moved from %d to %d", before.Size, after.Size)
	}
	c.Heal()
	c.WaitFor("convergence", 20*time.Second, c.SameHead)
}

// TestJoinAfter50000EntriesCatchesUpBySnapshot grows a two-node ledger to
// 50 000 entries, snapshots it, and adds a node: the newcomer installs the
// snapshot instead of replaying the log. (Raft thresholds count log
// entries, and group commit puts up to 512 ledger entries in one, so the
// test keeps only 64 trailing logs: otherwise 50 000 entries still fit in
// the retained log and the newcomer rightly replays it.) Then the newcomer is stopped, the
// ledger grows, and on restart it catches up from the log alone. The
// catch-up rates are logged (go test -v), not asserted.
func TestJoinAfter50000EntriesCatchesUpBySnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("50 000 signed entries")
	}
	c := testnet.StartLocal(t, 2, testnet.LocalOptions{SnapshotThreshold: 64, TrailingLogs: 64})
	leader := c.Nodes[c.Leader()]
	ctx := context.Background()
	producers := make([]*ecdsa.PrivateKey, 4)
	var regs []ledger.Envelope
	for i := range producers {
		producers[i] = newKey(t)
		regs = append(regs, registration(t, c.Admin, producers[i], fmt.Sprintf("p%d", i)))
	}
	if _, err := leader.Submit(ctx, regs); err != nil {
		t.Fatal(err)
	}
	write := func(from, to int) {
		t.Helper()
		const batch = 1000
		for i := from; i < to; i += batch {
			envs := make([]ledger.Envelope, 0, batch)
			for j := i; j < min(i+batch, to); j++ {
				envs = append(envs, harvest(t, producers[j%len(producers)], fmt.Sprintf("J%d", j)))
			}
			// On a loaded machine leadership may move between batches;
			// the batch is then resent, identical, to the new leader
			// (a resend of an accepted envelope is answered, not doubled).
			var res []ledger.Result
			var err error
			for range 10 {
				if res, err = leader.Submit(ctx, envs); err == nil || !(errors.Is(err, consensus.ErrNotLeader) || errors.Is(err, consensus.ErrUnknownOutcome)) {
					break
				}
				leader = c.Nodes[c.Leader()]
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
		}
	}
	write(0, 50_000)
	if err := leader.Raft().Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	start := time.Now()
	j := c.Add()
	c.WaitFor("the newcomer converges", 2*time.Minute, c.SameHead)
	t.Logf("join after %d entries: caught up by snapshot in %v (%.0f entries/s)",
		c.Size(0), time.Since(start), float64(c.Size(0))/time.Since(start).Seconds())
	if c.Nodes[j].Raft().Restores() != 1 {
		t.Fatalf("the newcomer installed %d snapshots, want 1", c.Nodes[j].Raft().Restores())
	}
	// Some entries after the snapshot, so that the newcomer holds log
	// entries of its own. (Restarted with nothing but the installed
	// snapshot, it is sometimes sent the snapshot again.)
	write(50_000, 50_100)
	c.WaitFor("the newcomer applies entries past the snapshot", 20*time.Second, c.SameHead)
	c.Stop(j)
	write(50_100, 52_100) // fewer logs than are kept: the log suffices
	start = time.Now()
	c.Restart(j)
	c.WaitFor("the restarted node catches up", 2*time.Minute, c.SameHead)
	t.Logf("restart 2 000 entries behind: caught up from the log in %v (%.0f entries/s)",
		time.Since(start), 2_000/time.Since(start).Seconds())
	if c.Nodes[j].Raft().Restores() != 0 {
		t.Fatal("the restarted node installed a snapshot; it should have replayed the log")
	}
}

func TestWriteLimitAnswers429(t *testing.T) {
	admin := newKey(t)
	n, err := node.Start(context.Background(), node.Config{ID: "rl", DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		Bootstrap: true, Admins: []common.Address{ledger.AddressOf(admin)}, WriteLimit: 1,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if err := harness.Poll(context.Background(), 10*time.Second, func() bool { h, _ := testnet.HeadOf(n.Store()); return h.Size > 0 }); err != nil {
		t.Fatal(err)
	}
	limited := 0
	for i := 0; i < 20; i++ {
		b, _ := json.Marshal(registration(t, admin, newKey(t), fmt.Sprintf("rl-%d", i)))
		resp, err := http.Post(n.HTTPURL()+"/v1/records", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			var e struct{ Error struct{ Code string } }
			json.Unmarshal(body, &e)
			if e.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without its code or Retry-After: %s", body)
			}
		}
	}
	h, _ := testnet.HeadOf(n.Store())
	if limited == 0 || h.Size != uint64(1+20-limited) {
		t.Fatalf("%d of 20 limited, ledger size %d", limited, h.Size)
	}
}

// After an election the new leader's first log entry is Raft's own no-op,
// which never reaches the state machine: a linearizable read must not wait
// for a write to come along.
func TestLinearizableReadRightAfterElection(t *testing.T) {
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{})
	old := c.Leader()
	if err := c.Nodes[old].Raft().TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	var leader int
	c.WaitFor("a new leader", 10*time.Second, func() bool { leader = c.Leader(); return leader != old })
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(c.Nodes[leader].HTTPURL() + "/v1/entries/0?consistency=linearizable")
	if err != nil {
		t.Fatalf("linearizable read after an election, with no write since: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("linearizable read: %d", resp.StatusCode)
	}
}
