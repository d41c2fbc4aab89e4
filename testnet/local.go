package testnet

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/node"
	"github.com/traceledger/traceledger/testnet/harness"
)

// Local is a cluster of nodes in this process, on loopback ports, for
// tests of consensus behaviour. Each node keeps its ports and data
// directory across Stop and Restart.
type Local struct {
	t     TB
	Admin *ecdsa.PrivateKey
	// Secret is the cluster secret every node shares.
	Secret string
	Nodes  []*node.Node // nil while a node is stopped
	// CertDir holds the CA and node certificates with PeerTLS (see
	// MakePeerCerts); empty otherwise.
	CertDir string
	cfgs    []node.Config
}

// LocalOptions tune a Local cluster.
type LocalOptions struct {
	SnapshotThreshold uint64
	TrailingLogs      uint64
	Logger            *slog.Logger
	// PeerTLS runs the members' traffic over mutual TLS with certificates
	// from a CA made for the cluster (its files under CertDir).
	PeerTLS bool
	// HTTPS serves each node's public API with its peer certificate
	// (needs PeerTLS): joins then go to an https:// URL.
	HTTPS bool
	// WitnessPolicy names outside witnesses for every node.
	WitnessPolicy *ledger.WitnessPolicy
}

// TB is the part of testing.TB the in-process cluster uses. Declaring it
// here keeps the testing package out of the binary, which links testnet
// for its testnet and chaos commands.
type TB interface {
	harness.TB
	Fatal(args ...any)
	Cleanup(func())
	TempDir() string
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. Nodes need ports that survive a restart, so 127.0.0.1:0 will not do.
func freeAddr(t TB) string {
	t.Helper()
	a, err := harness.FreeAddr()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return a
}

// StartLocal starts n nodes: the first bootstraps, the others join it.
// Short Raft timeouts keep elections quick on loopback. Everything stops
// when the test ends.
func StartLocal(t TB, n int, opts LocalOptions) *Local {
	t.Helper()
	admin, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &Local{t: t, Admin: admin, Secret: fmt.Sprintf("secret-%x", crypto.FromECDSA(admin)[:8])}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	root := t.TempDir()
	if opts.PeerTLS {
		c.CertDir = filepath.Join(root, "certs")
		var ids []string
		for i := 0; i < n; i++ {
			ids = append(ids, fmt.Sprintf("n%d", i+1))
		}
		if err := MakePeerCerts(c.CertDir, ids, []string{"127.0.0.1", "localhost"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		c.cfgs = append(c.cfgs, node.Config{
			ID: fmt.Sprintf("n%d", i+1), DataDir: filepath.Join(root, fmt.Sprintf("n%d", i+1)),
			HTTPAddr: freeAddr(t), RaftAddr: freeAddr(t), Logger: opts.Logger,
			HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
			SnapshotThreshold: opts.SnapshotThreshold, TrailingLogs: opts.TrailingLogs, ClusterSecret: c.Secret,
			WitnessPolicy: opts.WitnessPolicy,
		})
		if opts.PeerTLS {
			p, err := LoadPeerTLS(c.CertDir, c.cfgs[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			c.cfgs[i].PeerTLS = p
			if opts.HTTPS {
				_, c.cfgs[i].TLSCert, c.cfgs[i].TLSKey = PeerFiles(c.CertDir, c.cfgs[i].ID)
			}
		}
	}
	c.cfgs[0].Bootstrap = true
	c.cfgs[0].Admins = []common.Address{crypto.PubkeyToAddress(admin.PublicKey)}
	c.Nodes = make([]*node.Node, n)
	t.Cleanup(c.StopAll)
	c.start(0)
	c.WaitFor("genesis on n1", 20*time.Second, func() bool { return c.Size(0) > 0 })
	for i := 1; i < n; i++ {
		c.cfgs[i].Join = c.Nodes[0].HTTPURL()
		c.start(i)
	}
	c.WaitFor("all nodes converge", 20*time.Second, func() bool { return c.SameHead() })
	return c
}

func (c *Local) start(i int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, c.cfgs[i])
	if err != nil {
		c.t.Fatalf("start %s: %v", c.cfgs[i].ID, err)
	}
	c.Nodes[i] = n
}

// Stop stops node i gracefully.
func (c *Local) Stop(i int) {
	if c.Nodes[i] != nil {
		c.Nodes[i].Stop()
		c.Nodes[i] = nil
	}
}

// Restart starts a stopped node i again with its data.
func (c *Local) Restart(i int) { c.start(i) }

// StopAll stops every running node.
func (c *Local) StopAll() {
	for i := range c.Nodes {
		c.Stop(i)
	}
}

// Config returns node i's configuration (its addresses and directory).
func (c *Local) Config(i int) node.Config { return c.cfgs[i] }

// WaitFor polls cond until it holds or the deadline passes, then fails the
// test naming what it waited for.
func (c *Local) WaitFor(what string, deadline time.Duration, cond func() bool) {
	c.t.Helper()
	if err := harness.Poll(context.Background(), deadline, cond); err != nil {
		c.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Leader returns the index of the node that is leader, waiting for one.
func (c *Local) Leader() int {
	c.t.Helper()
	idx := -1
	c.WaitFor("a leader", 20*time.Second, func() bool {
		for i, n := range c.Nodes {
			if n != nil && n.Raft().IsLeader() {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// Follower returns the index of a running node that is not the leader.
func (c *Local) Follower() int {
	l := c.Leader()
	for i, n := range c.Nodes {
		if n != nil && i != l {
			return i
		}
	}
	c.t.Fatal("no running follower")
	return -1
}

// Size returns node i's ledger size, or 0 when stopped.
func (c *Local) Size(i int) uint64 {
	if c.Nodes[i] == nil {
		return 0
	}
	h, err := HeadOf(c.Nodes[i].Store())
	if err != nil {
		return 0
	}
	return h.Size
}

// SameHead reports whether every running node has the same size and root.
func (c *Local) SameHead() bool {
	var first *string
	for _, n := range c.Nodes {
		if n == nil {
			continue
		}
		h, err := HeadOf(n.Store())
		if err != nil {
			return false
		}
		s := fmt.Sprintf("%d/%x", h.Size, h.Root)
		if first == nil {
			first = &s
		} else if *first != s {
			return false
		}
	}
	return true
}

// Partition cuts node i off from every other node, both ways.
func (c *Local) Partition(i int) {
	for j, n := range c.Nodes {
		if n == nil || j == i {
			continue
		}
		c.Nodes[i].Raft().Faults().Block(n.RaftAddr())
		n.Raft().Faults().Block(c.Nodes[i].RaftAddr())
	}
}

// Heal restores every link.
func (c *Local) Heal() {
	for _, n := range c.Nodes {
		if n != nil {
			n.Raft().Faults().Heal()
		}
	}
}

// Add starts one more node that joins the cluster through node 0 (or the
// first running node), and returns its index.
func (c *Local) Add() int {
	c.t.Helper()
	i := len(c.cfgs)
	cfg := c.cfgs[0]
	cfg.ID = fmt.Sprintf("n%d", i+1)
	cfg.DataDir = filepath.Join(filepath.Dir(cfg.DataDir), cfg.ID)
	cfg.HTTPAddr, cfg.RaftAddr = freeAddr(c.t), freeAddr(c.t)
	cfg.Bootstrap, cfg.Admins = false, nil
	for _, n := range c.Nodes {
		if n != nil {
			cfg.Join = n.HTTPURL()
			break
		}
	}
	c.cfgs = append(c.cfgs, cfg)
	c.Nodes = append(c.Nodes, nil)
	c.start(i)
	return i
}

// HeadOf reads the size and Merkle root of a store.
func HeadOf(s ledger.Store) (ledger.Head, error) {
	var h ledger.Head
	err := s.View(func(r ledger.Reader) (err error) {
		h, err = ledger.ReadHead(r)
		return err
	})
	return h, err
}
