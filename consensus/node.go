// Package consensus replicates the ledger with hashicorp/raft.
//
// A Node owns one Raft member: its log and stable store (raft-boltdb/v2
// behind a LogCache), its snapshot store, its TCP transport and the FSM that
// applies committed entries to the ledger state. On the leader a group
// committer packs many admitted envelopes into each log entry. Membership
// (bootstrap, join, removal, leadership transfer) and the mapping from node
// ids to HTTP addresses, used to forward writes, live here too.
//
// See DESIGN.md in this directory for the choices and their reasons.
package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/ledger"
)

// Errors callers branch on.
var (
	// ErrNotLeader: this node is not the leader; nothing was done. Forward.
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrNoLeader: the cluster has no leader right now; retry later.
	ErrNoLeader = errors.New("consensus: no leader")
	// ErrUnknownOutcome: the write may or may not have committed (leadership
	// lost mid-flight, or the caller gave up). Retrying the same envelopes
	// is safe: the ledger answers an identical envelope with its entry.
	ErrUnknownOutcome = errors.New("consensus: outcome unknown")
	// ErrShutdown: the node is stopping.
	ErrShutdown = errors.New("consensus: node is shutting down")
)

// Config configures a Node. Zero durations take the defaults noted.
type Config struct {
	ID            string // unique, stable node id
	Dir           string // raft.db and snapshots/ live here
	RaftBind      string // host:port to listen on for Raft
	RaftAdvertise string // host:port peers dial; default: the bound address
	HTTPAdvertise string // base URL peers forward writes to, e.g. http://10.0.0.1:8080
	Bootstrap     bool   // start a new cluster with this node as sole voter
	Admins        []common.Address

	Logger *slog.Logger
	Clock  func() time.Time

	// CheckpointKey signs this node's cosignatures of checkpoints, and
	// CheckpointVerifier is its public note verifier key, published to the
	// cluster. Cosigner reaches peers for their cosignatures. Without them
	// the node neither proposes nor cosigns checkpoints.
	// Stream is the listening stream layer (NewStreamLayer) when the
	// caller needs its Client before the node starts; nil: New makes one
	// from RaftBind, RaftAdvertise and PeerTLS. Shutdown closes it.
	Stream *StreamLayer
	// PeerTLS authenticates members to each other (mutual TLS on Raft and
	// node-to-node HTTP); nil leaves the Raft port in plaintext, fit only
	// for a loopback cluster.
	PeerTLS *PeerTLS

	CheckpointKey      note.Signer
	CheckpointVerifier string
	Cosigner           Cosigner
	// WitnessPolicy names the outside witnesses the leader sends each
	// checkpoint to (witness.go); nil: none. WitnessClient reaches them
	// (default: a client with the witness timeout).
	WitnessPolicy *ledger.WitnessPolicy
	WitnessClient *http.Client

	HeartbeatTimeout   time.Duration // default 1 s
	ElectionTimeout    time.Duration // default 1 s
	LeaderLeaseTimeout time.Duration // default 500 ms
	// Snapshots of a store that keeps its state on disk are references
	// (snapshots.go) and cost one sync, so they are taken often: the
	// log stays short, and a start reads back only what follows the
	// latest snapshot. TrailingLogs lets a follower that was briefly away
	// catch up from the log instead of receiving the whole state.
	// Unless TrailingLogs is set, both counts follow the size of the logs
	// applied, keeping about 64 MB of log (retention.go).
	SnapshotThreshold uint64        // logs between snapshots; default 1024, then retuned
	SnapshotInterval  time.Duration // how often to check; default 30 s
	TrailingLogs      uint64        // logs kept after a snapshot; default 2048, then retuned
}

func (c *Config) setDefaults() error {
	if c.ID == "" {
		return errors.New("consensus: node id is required")
	}
	if c.Dir == "" {
		return errors.New("consensus: data dir is required")
	}
	if c.RaftBind == "" {
		return errors.New("consensus: raft bind address is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatTimeout, time.Second)
	def(&c.ElectionTimeout, time.Second)
	def(&c.LeaderLeaseTimeout, 500*time.Millisecond)
	// hashicorp/raft requires the lease to fit in the heartbeat timeout.
	c.LeaderLeaseTimeout = min(c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	def(&c.SnapshotInterval, 30*time.Second)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 1024
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 2048
	}
	return nil
}

// Node is one member of the Raft cluster.
type Node struct {
	cfg    Config
	logger *slog.Logger
	raft   *raft.Raft
	fsm    *FSM
	store  ledger.SnapshotStore
	bolt   *raftboltdb.BoltStore
	logs   raft.LogStore // bolt behind its cache
	stream *StreamLayer
	trans  *raft.NetworkTransport
	commit *committer

	// raftReady is raft, for the stream layer's dials, which may start
	// before New has stored n.raft.
	raftReady atomic.Pointer[raft.Raft]

	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines: committer, leader watcher

	resumed bool          // Raft state existed when the node started
	kick    chan struct{} // asks the checkpointer for a round now

	cpSummary   checkpointSummary // CheckpointSummary's cache
	witnesses   []*witness        // the policy's witnesses (witness.go)
	witnessHTTP *http.Client

	closeOnce sync.Once
	closeErr  error
}

// New starts a Raft member over store. With cfg.Bootstrap and no existing
// Raft state it bootstraps a one-voter cluster; with existing state it
// resumes whatever cluster the state describes.
func New(cfg Config, store ledger.SnapshotStore) (*Node, error) {
	retune := cfg.TrailingLogs == 0 // the counts follow log sizes (retention.go)
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft dir: %w", err)
	}
	n := &Node{cfg: cfg, logger: cfg.Logger, store: store, kick: make(chan struct{}, 1), witnessHTTP: cfg.WitnessClient}
	ws, err := newWitnesses(cfg.WitnessPolicy)
	if err != nil {
		return nil, err
	}
	n.witnesses = ws
	if n.witnessHTTP == nil {
		n.witnessHTTP = &http.Client{Timeout: witnessTimeout}
	}
	var started atomic.Pointer[raft.Raft] // for the log handler, which runs on Raft's goroutines
	quiet := &loneElection{Handler: cfg.Logger.Handler(), alone: func() bool {
		r := started.Load()
		return r != nil && soleVoter(r.GetConfiguration().Configuration(), raft.ServerID(cfg.ID))
	}}
	hlog := hclog.FromStandardLogger(slog.NewLogLogger(quiet, slog.LevelWarn),
		&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn})

	if n.fsm, err = NewFSM(store, cfg.Logger); err != nil {
		return nil, err
	}
	n.bolt, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	// Logs under load hold ~100 records each: 128 of them (one
	// replication round, MaxAppendEntries) is 6 MB; 1 024 was 46 MB.
	logs, err := raft.NewLogCache(128, n.bolt)
	if err != nil {
		n.bolt.Close()
		return nil, err
	}
	n.logs = logs
	snaps, err := newSnapshotStore(cfg.Dir, store, hlog, cfg.Logger)
	if err != nil {
		n.bolt.Close()
		return nil, err
	}
	if n.stream = cfg.Stream; n.stream == nil {
		if n.stream, err = NewStreamLayer(cfg.RaftBind, cfg.RaftAdvertise, cfg.ID, cfg.PeerTLS); err != nil {
			n.bolt.Close()
			return nil, err
		}
	} else if n.stream.id != cfg.ID {
		n.bolt.Close()
		return nil, fmt.Errorf("consensus: stream layer of node %q given to node %q", n.stream.id, cfg.ID)
	}
	n.stream.resolve = n.memberAt
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: n.stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.MaxAppendEntries = 128
	// BatchApplyCh stays off: with it, a future still queued when Raft
	// shuts down is never answered (hashicorp/raft#498), and a shutdown
	// under load would hang. Group commit already batches envelopes.
	rc.BatchApplyCh = false
	// Skip restoring the latest snapshot on start when the store already
	// holds at least its state (m/applied ≥ snapshot index): restoring a
	// large Badger state on every restart would cost minutes for nothing.
	// When the store is behind (it lost unsynced writes), restore.
	// A reference to the store's own state (snapshots.go) is never
	// restored: the store holds it, or it lost writes it had synced and
	// the node cannot rebuild them from the log, which Raft has dropped.
	if metas, err := snaps.List(); err == nil && len(metas) > 0 {
		applied, _ := n.fsm.Applied()
		named, isRef, err := snaps.reference(metas[0])
		switch {
		case err != nil:
			n.closeTransport()
			n.bolt.Close()
			return nil, fmt.Errorf("read snapshot: %w", err)
		case isRef && named > applied:
			n.closeTransport()
			n.bolt.Close()
			return nil, fmt.Errorf("%w: the store's applied index is %d, the latest snapshot (%s) says %d is on disk; "+
				"remove this node's data directory and join it to the cluster again", ErrStateBehind, applied, metas[0].ID, named)
		}
		rc.NoSnapshotRestoreOnStart = isRef || applied >= metas[0].Index || onlyRaftEntries(logs, applied+1, metas[0].Index)
	}

	existing, err := raft.HasExistingState(logs, n.bolt, snaps)
	if err != nil {
		n.closeTransport()
		n.bolt.Close()
		return nil, fmt.Errorf("inspect raft state: %w", err)
	}
	n.resumed = existing
	if cfg.Bootstrap && !existing {
		conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: n.trans.LocalAddr(), Suffrage: raft.Voter}}}
		if err := raft.BootstrapCluster(rc, logs, n.bolt, snaps, n.trans, conf); err != nil {
			n.closeTransport()
			n.bolt.Close()
			return nil, fmt.Errorf("bootstrap cluster: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, n.fsm, logs, n.bolt, snaps, n.trans)
	if err != nil {
		n.closeTransport()
		n.bolt.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	started.Store(r)
	n.raftReady.Store(r)

	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.commit = newCommitter(n.raft, n.fsm, cfg.Clock)
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.commit.run(ctx) }()
	go func() { defer n.wg.Done(); n.watchLeadership(ctx) }()
	go func() { defer n.wg.Done(); n.runCheckpointer(ctx) }()
	if retune {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.retuneRetention(ctx) }()
	}
	return n, nil
}

// onlyRaftEntries reports whether the logs from..to are all Raft's own
// (the no-op of a new leader, configuration changes): a snapshot taken at
// such an index holds no state beyond what the store's m/applied covers.
// A missing log, or more than a few, counts as "no".
func onlyRaftEntries(logs raft.LogStore, from, to uint64) bool {
	if to < from || to-from > 1024 {
		return false
	}
	for i := from; i <= to; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil || l.Type == raft.LogCommand {
			return false
		}
	}
	return true
}

// memberAt names the member at a Raft address, as the configuration says.
func (n *Node) memberAt(addr string) (string, bool) {
	r := n.raftReady.Load()
	if r == nil {
		return "", false
	}
	cf := r.GetConfiguration()
	if cf.Error() != nil {
		return "", false
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.Address) == addr {
			return string(s.ID), true
		}
	}
	return "", false
}

// PeerClient makes node-to-node HTTP requests: to URLs from PeerURL, over
// the members' authenticated channel on their Raft port.
func (n *Node) PeerClient() *http.Client { return n.stream.Client() }

// PeerListener accepts the node-to-node HTTP connections that arrive on
// this node's Raft port; PeerOf names the member behind each.
func (n *Node) PeerListener() net.Listener { return n.stream.PeerListener() }

// PeerURL is the base URL of a member's node-to-node HTTP, for PeerClient.
func PeerURL(raftAddr string) string { return "http://" + raftAddr }

// Resumed reports whether the node found existing Raft state when it
// started: --bootstrap and --join do nothing then.
func (n *Node) Resumed() bool { return n.resumed }

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// RaftAddr returns the address peers reach this node's Raft transport at.
func (n *Node) RaftAddr() string { return string(n.trans.LocalAddr()) }

// Store returns the state store, for reads.
func (n *Node) Store() ledger.Store { return n.store }

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Submit commits admitted envelopes through Raft and returns one result per
// envelope. Only the leader accepts: elsewhere it returns ErrNotLeader at
// once, and the caller forwards.
func (n *Node) Submit(ctx context.Context, envs []*ledger.Admitted) ([]ledger.Result, error) {
	if len(envs) == 0 {
		return nil, nil
	}
	if n.raft.State() != raft.Leader {
		return nil, ErrNotLeader
	}
	return n.commit.submit(ctx, envs)
}

// WaitApplied blocks until the local state includes log index i.
func (n *Node) WaitApplied(ctx context.Context, i uint64) error {
	for {
		applied, ch := n.fsm.Applied()
		if applied >= i {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Linearize makes the next local read linearizable: it notes the commit
// index, confirms with a quorum that this node is still the leader, and
// waits until that index is applied locally (the read-index protocol of the
// Raft thesis §6.4). Followers get ErrNotLeader and forward the read.
//
// The wait is on the state machine's own applied index. Raft's own entries
// (the no-op a new leader commits) never reach the state machine, so when
// only such entries lie between, Raft's applied index — which moves when
// entries are handed to the state machine — is enough; otherwise a read
// after an election would wait for the next write.
func (n *Node) Linearize(ctx context.Context) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	idx := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return mapRaftError(err)
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		applied, ch := n.fsm.Applied()
		if applied >= idx || (n.raft.AppliedIndex() >= idx && onlyRaftEntries(n.logs, applied+1, idx)) {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
		}
	}
}

// Applied returns the last log index applied to the local state.
func (n *Node) Applied() uint64 {
	a, _ := n.fsm.Applied()
	return a
}

// LastIndex is the index of the last entry in this node's Raft log,
// configuration changes included: with Applied, a cheap sign that nothing
// about the cluster or its state changed.
func (n *Node) LastIndex() uint64 { return n.raft.LastIndex() }

// Shutdown stops the node. A leader with peers first hands leadership to
// another voter, so that the cluster does not wait out an election timeout.
// Then the node takes a snapshot of what it has applied (a reference to
// the store, one sync: snapshots.go), so that its next start reads back
// no log: after a bulk ingest the logs since the last periodic snapshot
// were up to half the trailing logs, and decoding them at the start could
// leave hundreds of MB of garbage in a node that then sat idle (bench
// storage, consensus/DESIGN.md).
func (n *Node) Shutdown() error {
	n.closeOnce.Do(func() {
		if n.raft.State() == raft.Leader && n.voters() > 1 {
			if err := n.raft.LeadershipTransfer().Error(); err != nil {
				n.logger.Warn("leadership transfer on shutdown failed", "err", err)
			}
		}
		if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			n.logger.Warn("snapshot on shutdown failed", "err", err)
		}
		n.cancel()
		if err := n.raft.Shutdown().Error(); err != nil {
			n.closeErr = fmt.Errorf("raft shutdown: %w", err)
		}
		n.wg.Wait()
		n.closeTransport()
		if err := n.bolt.Close(); err != nil && n.closeErr == nil {
			n.closeErr = fmt.Errorf("close raft log: %w", err)
		}
	})
	return n.closeErr
}

func (n *Node) closeTransport() { n.trans.Close() }

// Faults returns the stream layer, whose Block and Heal partition this node
// from chosen peers (fault tests only).
func (n *Node) Faults() *StreamLayer { return n.stream }

// Restores counts the snapshots this node has installed since it started:
// a node that joins late or falls too far behind catches up by snapshot.
func (n *Node) Restores() int64 { return n.fsm.restores.Load() }

// RefusedLogs counts committed log entries this node refused to apply
// since it started because they do not decode (see FSM.RefusedLogs).
func (n *Node) RefusedLogs() int64 { return n.fsm.RefusedLogs() }

// UnverifiedRecords counts logged envelopes this node refused since it
// started because their record or signature did not verify.
func (n *Node) UnverifiedRecords() int64 { return n.fsm.UnverifiedRecords() }

// Snapshot forces a Raft snapshot now (tests and operators).
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// watchLeadership runs while the node runs; it stops with ctx. Each time the
// node becomes leader it publishes its own HTTP address through the log and,
// on a ledger without entries, proposes the genesis entry with the
// configured admins (ledger.Apply ignores a second genesis).
func (n *Node) watchLeadership(ctx context.Context) {
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-ch:
			if !isLeader {
				continue
			}
			if err := n.onLeader(); err != nil {
				n.logger.Warn("leader setup", "err", err)
			}
		}
	}
}

func (n *Node) onLeader() error {
	if n.cfg.HTTPAdvertise != "" {
		if err := n.publishMeta(nodeMeta{ID: n.cfg.ID, HTTP: n.cfg.HTTPAdvertise, Key: n.cfg.CheckpointVerifier}); err != nil {
			return err
		}
	}
	var size uint64
	if err := n.store.View(func(r ledger.Reader) (err error) { size, err = ledger.Size(r); return err }); err != nil {
		return err
	}
	if size > 0 || len(n.cfg.Admins) == 0 {
		return nil
	}
	cmd := &ledger.Command{Kind: ledger.CmdGenesis, Time: n.cfg.Clock().UTC(), Admins: n.cfg.Admins}
	return n.raft.Apply(ledger.EncodeCommand(cmd), 5*time.Second).Error()
}

// WaitLeader blocks until the cluster has a leader that this node knows of.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// loneElection passes raft's log on, except that it turns "heartbeat
// timeout reached, starting election" into a debug line while this node is
// the cluster's only voter: a single node elects itself that way at every
// start, and a warning would alarm its operator for nothing. With other
// voters the same line means a leader went quiet, and stays a warning.
type loneElection struct {
	slog.Handler
	alone func() bool
}

func (h *loneElection) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && strings.Contains(r.Message, "heartbeat timeout reached, starting election") && h.alone() {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

// soleVoter reports whether id is the only voter of conf.
func soleVoter(conf raft.Configuration, id raft.ServerID) bool {
	voters := 0
	me := false
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			voters++
			me = me || s.ID == id
		}
	}
	return voters == 1 && me
}
