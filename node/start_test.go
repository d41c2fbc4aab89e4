package node_test

// node.Start wiring: configuration, timeouts, restart with the same data
// directory, clean-up after a failed start, in-process submission, and mounted routes.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/node"
	"github.com/traceledger/traceledger/testnet/harness"
)

const raftTimeout = 500 * time.Millisecond

func genKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testConfig(dir string, admins ...*ecdsa.PrivateKey) node.Config {
	cfg := node.Config{ID: "n1", DataDir: dir, HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", Bootstrap: true,
		HeartbeatTimeout: raftTimeout, ElectionTimeout: raftTimeout}
	for _, a := range admins {
		cfg.Admins = append(cfg.Admins, ledger.AddressOf(a))
	}
	return cfg
}

// start starts a node and stops it when the test ends.
func startTestNode(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("node.Start: %v", err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	harness.Wait(t, 30*time.Second, what, cond)
}

func headOf(t *testing.T, n *node.Node) ledger.Head {
	t.Helper()
	var h ledger.Head
	if err := n.Store().View(func(r ledger.Reader) (err error) { h, err = ledger.ReadHead(r); return err }); err != nil {
		t.Fatal(err)
	}
	return h
}

// waitGenesis waits until n leads a ledger holding its genesis entry.
func waitGenesis(t *testing.T, n *node.Node) {
	t.Helper()
	pollUntil(t, "genesis on a leader", func() bool { return n.Raft().IsLeader() && headOf(t, n).Size >= 1 })
}

func registerEnv(t *testing.T, admin, who *ecdsa.PrivateKey, id string, roles ...string) ledger.Envelope {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"type": "participant", "id": id, "time": "2026-06-01T08:00:00+07:00",
		"signer": ledger.AddressOf(admin).Hex(), "address": ledger.AddressOf(who).Hex(), "name": "Hợp tác xã " + id, "roles": roles})
	env, err := ledger.SignEnvelope(admin, raw)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func submitIn(t *testing.T, n *node.Node, envs ...ledger.Envelope) []ledger.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.Submit(ctx, envs)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if len(res) != len(envs) {
		t.Fatalf("%d results for %d envelopes", len(res), len(envs))
	}
	return res
}

func TestStartTimeouts(t *testing.T) {
	tests := []struct {
		name                string
		heartbeat, election time.Duration
	}{
		{"consensus defaults", 0, 0},
		{"500ms", 500 * time.Millisecond, 500 * time.Millisecond},
		{"200ms (short, as in tests)", 200 * time.Millisecond, 200 * time.Millisecond},
		{"100ms heartbeat, 300ms election", 100 * time.Millisecond, 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			admin := genKey(t)
			cfg := testConfig(t.TempDir(), admin)
			cfg.HeartbeatTimeout, cfg.ElectionTimeout = tc.heartbeat, tc.election
			n := startTestNode(t, cfg)
			waitGenesis(t, n)
		})
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name   string
		modify func(*node.Config)
	}{
		{"no id", func(c *node.Config) { c.ID = "" }},
		{"no data dir", func(c *node.Config) { c.DataDir = "" }},
		{"bad HTTP address", func(c *node.Config) { c.HTTPAddr = "127.0.0.1:notaport" }},
		{"HTTP address in use", func(c *node.Config) { c.HTTPAddr = busy.Addr().String() }},
		{"Raft address in use", func(c *node.Config) { c.RaftAddr = busy.Addr().String() }},
		{"bad operator URL", func(c *node.Config) { c.Pages.OperatorURL = "javascript:alert(1)" }},
		{"bad public URL", func(c *node.Config) { c.PublicURL = "ftp://example.com" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir, genKey(t))
			tc.modify(&cfg)
			if n, err := node.Start(context.Background(), cfg); err == nil {
				n.Stop()
				t.Fatal("Start succeeded")
			}
			// A failed start releases what it opened: the same data
			// directory starts cleanly afterwards.
			n := startTestNode(t, testConfig(dir, genKey(t)))
			waitGenesis(t, n)
		})
	}
}

func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	admin, other, producer := genKey(t), genKey(t), genKey(t)
	n := startTestNode(t, testConfig(dir, admin))
	waitGenesis(t, n)
	if n.Raft().Resumed() {
		t.Error("a fresh data directory reports resumed state")
	}
	reg := registerEnv(t, admin, producer, "p-1", "producer")
	res := submitIn(t, n, reg)
	if res[0].Err != nil || res[0].Existing {
		t.Fatalf("register: %+v", res[0])
	}
	before := headOf(t, n)
	var genesis []byte
	n.Store().View(func(r ledger.Reader) error { _, genesis, _ = ledger.GetEntry(r, 0); return nil })
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := n.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	// Stop keeps the record-id filter for the next start, which takes it
	// (the resubmission below is answered through it) and removes it.
	kept := func() []string {
		files, err := filepath.Glob(filepath.Join(node.StateDir(dir), "*", "missfilter"))
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	if len(kept()) != 1 {
		t.Errorf("Stop kept no record-id filter: %v", kept())
	}

	// Same data directory, new ports, --bootstrap again and other admins:
	// the node resumes, and neither bootstrap nor the admins change anything.
	n2 := startTestNode(t, testConfig(dir, other))
	pollUntil(t, "leadership after restart", n2.Raft().IsLeader)
	if !n2.Raft().Resumed() {
		t.Error("restarted node does not report resumed state")
	}
	if files := kept(); len(files) != 0 {
		t.Errorf("the kept record-id filter is still there after the start: %v", files)
	}
	if after := headOf(t, n2); after != before {
		t.Errorf("head after restart %d/%x, want %d/%x", after.Size, after.Root, before.Size, before.Root)
	}
	var genesis2 []byte
	n2.Store().View(func(r ledger.Reader) error { _, genesis2, _ = ledger.GetEntry(r, 0); return nil })
	if !bytes.Equal(genesis, genesis2) {
		t.Errorf("genesis changed across restart:\n%s\n%s", genesis, genesis2)
	}
	again := submitIn(t, n2, reg)
	if again[0].Err != nil || !again[0].Existing || again[0].Seq != res[0].Seq || again[0].Hash != res[0].Hash {
		t.Errorf("resubmission after restart: %+v, want existing seq %d", again[0], res[0].Seq)
	}
	// The admins given at the restart are not admins.
	out := submitIn(t, n2, registerEnv(t, other, genKey(t), "p-2", "producer"), registerEnv(t, admin, genKey(t), "p-3", "retailer"))
	if kind, _, ok := ledger.Describe(out[0].Err); !ok || kind != ledger.KindForbidden {
		t.Errorf("registration by the restart-time admin: %+v, want forbidden", out[0])
	}
	if out[1].Err != nil {
		t.Errorf("registration by the genesis admin: %v", out[1].Err)
	}

	// Neither --bootstrap nor --join is needed to resume, and a --join URL
	// where nothing listens is not even tried when the state exists.
	before = headOf(t, n2)
	if err := n2.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	cfg := testConfig(dir)
	cfg.Bootstrap, cfg.Join = false, "http://127.0.0.1:1"
	n3 := startTestNode(t, cfg)
	pollUntil(t, "leadership after a restart with --join", n3.Raft().IsLeader)
	if after := headOf(t, n3); after != before {
		t.Errorf("head after restart with --join %d, want %d", after.Size, before.Size)
	}
}

func TestSubmitInProcess(t *testing.T) {
	admin, producer := genKey(t), genKey(t)
	n := startTestNode(t, testConfig(t.TempDir(), admin))
	waitGenesis(t, n)
	good := registerEnv(t, admin, producer, "p-1", "producer")
	forged := ledger.Envelope{Record: good.Record, Signature: registerEnv(t, producer, producer, "p-1", "producer").Signature}
	before := headOf(t, n)

	res := submitIn(t, n, forged, good, ledger.Envelope{}, good)
	wantKinds := []ledger.Kind{ledger.KindSignature, 0, ledger.KindInvalid, 0}
	for i, w := range wantKinds {
		kind, _, _ := ledger.Describe(res[i].Err)
		if kind != w {
			t.Errorf("result %d: %+v, want kind %d", i, res[i], w)
		}
	}
	if res[1].Existing || !res[3].Existing || res[3].Seq != res[1].Seq {
		t.Errorf("good envelope twice: %+v then %+v, want new then existing with the same seq", res[1], res[3])
	}
	if after := headOf(t, n); after.Size != before.Size+1 {
		t.Errorf("size %d, want %d", after.Size, before.Size+1)
	}
	// Only refused envelopes: nothing reaches Raft, every one is answered.
	res = submitIn(t, n, forged, ledger.Envelope{})
	for i, r := range res {
		if r.Err == nil {
			t.Errorf("refused envelope %d accepted: %+v", i, r)
		}
	}
}

// Every node serves the consumer pages and the resolver beside the API,
// with its public URL in their links.
func TestNodeServesConsumerPages(t *testing.T) {
	cfg := testConfig(t.TempDir(), genKey(t))
	cfg.PublicURL = "https://trace.example.vn/"
	cfg.Pages.OperatorName = "Sở Công Thương Bắc Giang"
	n := startTestNode(t, cfg)
	waitGenesis(t, n)
	resp, err := http.Get(n.HTTPURL() + "/01/08936000100025/10/NOSUCHLOT")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "Sở Công Thương Bắc Giang") {
		t.Errorf("resolver on a node: %d %s", resp.StatusCode, b)
	}
}
