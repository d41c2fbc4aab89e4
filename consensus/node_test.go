package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
)

func TestNodeStatusAndMembership(t *testing.T) {
	signer, vkey := checkpointKeys(t, "t")
	n := startNode(t, func(c *Config) {
		c.HTTPAdvertise = "http://t.example:8080"
		c.CheckpointKey, c.CheckpointVerifier = signer, vkey
	})
	if n.Resumed() || n.ID() != "t" || n.Store() == nil {
		t.Fatalf("resumed %v, id %q", n.Resumed(), n.ID())
	}
	// The leader publishes its own HTTP address and key through the log.
	pollUntil(t, "the leader's HTTP address", func() bool { m, ok := n.meta("t"); return ok && m.HTTP == "http://t.example:8080" })
	if got := n.LeaderPeerURL(); got != PeerURL(n.RaftAddr()) {
		t.Fatalf("LeaderPeerURL %q, want %q", got, PeerURL(n.RaftAddr()))
	}
	st := n.Status()
	if st.ID != "t" || st.State != "Leader" || st.Leader != "t" || st.Applied == 0 || st.Commit < st.Applied {
		t.Fatalf("status %+v", st)
	}
	want := Member{ID: "t", Raft: n.RaftAddr(), HTTP: "http://t.example:8080", Suffrage: "Voter", Leader: true, CheckpointKey: vkey}
	if len(st.Members) != 1 || st.Members[0] != want {
		t.Fatalf("members %+v, want [%+v]", st.Members, want)
	}

	if err := n.Join("", "127.0.0.1:1", "", ""); err == nil {
		t.Fatal("Join with an empty id accepted")
	}
	if err := n.Join("u", "", "", ""); err == nil {
		t.Fatal("Join with an empty raft address accepted")
	}
	// Joining again exactly as before is a no-op.
	if err := n.Join("t", n.RaftAddr(), "http://t.example:8080", vkey); err != nil {
		t.Fatalf("repeated join: %v", err)
	}
	// With another HTTP address, key or Raft address: refused until the
	// member is removed; so is another id at a member's Raft address.
	_, otherKey := checkpointKeys(t, "t")
	for _, j := range [][4]string{
		{"t", n.RaftAddr(), "http://impostor.example", vkey},
		{"t", n.RaftAddr(), "http://t.example:8080", otherKey},
		{"t", "127.0.0.1:1", "http://t.example:8080", vkey},
		{"u", n.RaftAddr(), "http://u.example", ""},
	} {
		if err := n.Join(j[0], j[1], j[2], j[3]); !errors.Is(err, ErrMemberConflict) {
			t.Errorf("join %v: %v, want ErrMemberConflict", j, err)
		}
	}
	st = n.Status()
	if len(st.Members) != 1 || st.Members[0] != want {
		t.Fatalf("members after refused joins: %+v, want [%+v]", st.Members, want)
	}
	if err := n.Remove("ghost"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("Remove of an unknown id: %v, want ErrUnknownNode", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Linearize(ctx); err != nil {
		t.Fatalf("Linearize on the leader: %v", err)
	}
	if n.Applied() < st.Commit {
		t.Fatalf("applied %d after Linearize, commit was %d", n.Applied(), st.Commit)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := n.WaitApplied(short, n.Applied()+100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied beyond the log: %v", err)
	}
}

// head returns the checkpoint of the node's whole log.
func (n *testNode) head(t *testing.T) ledger.Checkpoint {
	t.Helper()
	var c ledger.Checkpoint
	if err := n.store.View(func(r ledger.Reader) (err error) {
		if c.Origin, err = ledger.Origin(r); err != nil {
			return err
		}
		h, err := ledger.ReadHead(r)
		c = h.Checkpoint(c.Origin)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNodeCosign(t *testing.T) {
	signer, vkey := checkpointKeys(t, "t")
	n := startNode(t, func(c *Config) { c.CheckpointKey, c.CheckpointVerifier = signer, vkey })
	if n.CheckpointKey() != vkey {
		t.Fatalf("CheckpointKey() = %q", n.CheckpointKey())
	}
	n.submit(t, registrations(t, n.admin, "c", 3))
	c := n.head(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	msg, err := n.Cosign(ctx, c)
	if err != nil {
		t.Fatalf("Cosign of the node's own head: %v", err)
	}
	got, names, err := ledger.OpenCheckpoint(msg, []string{n.CheckpointKey()})
	if err != nil || got != c || len(names) != 1 {
		t.Fatalf("cosigned note: %+v by %v, %v; want %+v", got, names, err, c)
	}

	// A prefix of the log is cosigned with that prefix's root.
	var prefix ledger.Checkpoint
	n.store.View(func(r ledger.Reader) (err error) {
		prefix = ledger.Checkpoint{Origin: c.Origin, Size: 2}
		prefix.Root, err = ledger.TreeHashAt(r, 2)
		return err
	})
	if _, err := n.Cosign(ctx, prefix); err != nil {
		t.Fatalf("Cosign of a prefix: %v", err)
	}

	bad := c
	bad.Root[0] ^= 1
	if _, err := n.Cosign(ctx, bad); !errors.Is(err, ErrRootMismatch) || !errors.Is(err, ledger.ErrCheckpoint) {
		t.Fatalf("Cosign of another root: %v, want ErrRootMismatch", err)
	}
	badHeads := c
	badHeads.LotHeads[0] ^= 1
	if _, err := n.Cosign(ctx, badHeads); !errors.Is(err, ErrRootMismatch) {
		t.Fatalf("Cosign of another lot-head map root: %v, want ErrRootMismatch", err)
	}
	other := c
	other.Origin = "traceledger/0000000000000000"
	if _, err := n.Cosign(ctx, other); !errors.Is(err, ErrRootMismatch) {
		t.Fatalf("Cosign of another origin: %v, want ErrRootMismatch", err)
	}

	// Beyond the log, Cosign waits for it to grow, until its context ends…
	ahead := c
	ahead.Size += 5
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	if _, err := n.Cosign(short, ahead); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Cosign beyond the log: %v, want the context's deadline", err)
	}
	// …or until the log reaches the size, and then checks the root.
	ahead.Size = c.Size + 1
	done := make(chan error, 1)
	go func() {
		_, err := n.Cosign(ctx, ahead)
		done <- err
	}()
	n.submit(t, registrations(t, n.admin, "more", 1))
	if err := <-done; !errors.Is(err, ErrRootMismatch) {
		t.Fatalf("Cosign after the log grew: %v, want ErrRootMismatch (the root given was the old one)", err)
	}
}

func TestNodeWaitCheckpointWithoutCosigner(t *testing.T) {
	signer, vkey := checkpointKeys(t, "t")
	n := startNode(t, func(c *Config) { c.CheckpointKey, c.CheckpointVerifier = signer, vkey })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err := n.WaitCheckpoint(ctx, 1)
	if !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("WaitCheckpoint with nobody to checkpoint: %v, want ErrUnknownOutcome", err)
	}
	if _, _, ok, err := n.LatestCheckpoint(); ok || err != nil {
		t.Fatalf("a checkpoint appeared without a cosigner: %v, %v", ok, err)
	}
}

// countingCosigner is a Cosigner that is never expected to be reached.
type countingCosigner struct{ calls atomic.Int32 }

func (c *countingCosigner) Cosign(context.Context, string, ledger.Checkpoint) ([]byte, error) {
	c.calls.Add(1)
	return nil, errors.New("no peers here")
}

// A lone voter is its own majority: it checkpoints without asking anyone.
func TestNodeCheckpointsAlone(t *testing.T) {
	signer, vkey := checkpointKeys(t, "t")
	cs := &countingCosigner{}
	n := startNode(t, func(c *Config) {
		c.CheckpointKey, c.CheckpointVerifier, c.Cosigner = signer, vkey, cs
		c.HTTPAdvertise = "http://t.example"
	})
	n.submit(t, registrations(t, n.admin, "k", 2))
	want := n.head(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, msg, err := n.WaitCheckpoint(ctx, want.Size)
	if err != nil {
		t.Fatalf("WaitCheckpoint: %v", err)
	}
	if c != want {
		t.Fatalf("checkpoint %+v, want %+v", c, want)
	}
	if got, _, err := ledger.OpenCheckpoint(msg, []string{vkey}); err != nil || got != want {
		t.Fatalf("checkpoint note: %+v, %v", got, err)
	}
	if lc, lmsg, ok, err := n.LatestCheckpoint(); !ok || err != nil || lc != c || string(lmsg) != string(msg) {
		t.Fatalf("LatestCheckpoint: %+v, %v, %v", lc, ok, err)
	}
	if k := cs.calls.Load(); k != 0 {
		t.Fatalf("the lone voter asked for %d cosignatures", k)
	}
}

// A node restarted over its Raft state and its store resumes the cluster
// and skips the logs the store already holds.
func TestNodeRestartResumes(t *testing.T) {
	admin := newKey(t)
	dir, store := t.TempDir(), newStore(t)
	cfg := Config{ID: "r", Dir: dir, RaftBind: "127.0.0.1:0", Bootstrap: true,
		Admins:           []common.Address{ledger.AddressOf(admin)},
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond}
	start := func() *testNode {
		nd, err := New(cfg, store)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { nd.Shutdown() })
		n := &testNode{Node: nd, admin: admin, store: store}
		pollUntil(t, "leadership and genesis", func() bool { return n.IsLeader() && headOf(t, store).Size > 0 })
		return n
	}
	n := start()
	for i := range 3 {
		n.submit(t, registrations(t, admin, "r"+string(rune('a'+i)), 2))
	}
	head, applied := headOf(t, store), n.Applied()
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// A graceful stop leaves a snapshot of everything applied, so the
	// restart has no log to read back.
	files, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if metas, err := files.List(); err != nil || len(metas) == 0 || metas[0].Index < applied {
		t.Fatalf("snapshots after a graceful stop: %+v (%v); want one at index %d or later", metas, err, applied)
	}

	n = start()
	if !n.Resumed() {
		t.Fatal("restarted node did not find its Raft state")
	}
	pollUntil(t, "replay", func() bool { return n.Applied() >= applied })
	if got := headOf(t, store); got != head {
		t.Fatalf("head after restart %+v, want %+v", got, head)
	}
	res := n.submit(t, registrations(t, admin, "after", 1))
	if res[0].Err != nil || res[0].Seq != head.Size {
		t.Fatalf("write after restart: %+v, want seq %d", res[0], head.Size)
	}
}

// recordedLogs is a slog handler that keeps every record, at every level.
type recordedLogs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordedLogs) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordedLogs) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recordedLogs) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordedLogs) WithGroup(string) slog.Handler      { return h }

// levels returns the levels of the records whose message holds s.
func (h *recordedLogs) levels(s string) []slog.Level {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Level
	for _, r := range h.recs {
		if strings.Contains(r.Message, s) {
			out = append(out, r.Level)
		}
	}
	return out
}

// A single voter elects itself at every start: raft's "heartbeat timeout
// reached" is then a debug line, not a warning.
func TestSoleVoterElectionIsNotAWarning(t *testing.T) {
	logs := &recordedLogs{}
	startNode(t, func(c *Config) { c.Logger = slog.New(logs) })
	got := logs.levels("heartbeat timeout reached, starting election")
	if len(got) == 0 {
		t.Fatal("the election was not logged at all")
	}
	for _, l := range got {
		if l != slog.LevelDebug {
			t.Errorf("the sole voter's election logged at %v, want DEBUG", l)
		}
	}
}

// With other voters the same line stays a warning, and a handler that
// does not want debug lines gets nothing.
func TestLoneElectionFilter(t *testing.T) {
	msg := "[WARN]  raft: heartbeat timeout reached, starting election: last-leader-addr= last-leader-id="
	for _, tc := range []struct {
		alone bool
		want  []slog.Level
	}{{false, []slog.Level{slog.LevelWarn}}, {true, []slog.Level{slog.LevelDebug}}} {
		logs := &recordedLogs{}
		h := &loneElection{Handler: logs, alone: func() bool { return tc.alone }}
		h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelWarn, msg, 0))
		h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelWarn, "[WARN]  raft: failed to contact", 0))
		if got := logs.levels("heartbeat timeout"); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("alone=%v: levels %v, want %v", tc.alone, got, tc.want)
		}
		if got := logs.levels("failed to contact"); len(got) != 1 || got[0] != slog.LevelWarn {
			t.Errorf("alone=%v: another warning became %v", tc.alone, got)
		}
	}
	quiet := &loneElection{Handler: slog.NewTextHandler(io.Discard, nil), alone: func() bool { return true }}
	if err := quiet.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelWarn, msg, 0)); err != nil {
		t.Error(err)
	}
	if !soleVoter(raft.Configuration{Servers: []raft.Server{{ID: "a", Suffrage: raft.Voter}, {ID: "b", Suffrage: raft.Nonvoter}}}, "a") ||
		soleVoter(raft.Configuration{Servers: []raft.Server{{ID: "a", Suffrage: raft.Voter}, {ID: "b", Suffrage: raft.Voter}}}, "a") ||
		soleVoter(raft.Configuration{Servers: []raft.Server{{ID: "b", Suffrage: raft.Voter}}}, "a") {
		t.Error("soleVoter is wrong")
	}
}
