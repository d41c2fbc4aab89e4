// Package chaos runs a chaos workload against a cluster of real
// traceledger processes and checks what it did for anomalies, in the
// manner of Jepsen: concurrent clients do custody operations while a
// nemesis injects hundreds of mixed faults, and afterwards a checker reads
// every node's log and the clients' history.
//
// The parts:
//
//   - the workload (workload.go): clients harvest, transfer, receive and
//     transform lots of one trade item and read them linearizably
//     (?consistency=linearizable), each request to a random node; a write
//     is resent, as the identical envelope, on 503, 5xx, 429 or no
//     answer, until a node answers definitely or the operation times out
//     (its outcome is then unknown). Clients contend: they act on the
//     newest dozen lots, mostly as the ledger would allow (signing as the
//     holder they last saw, naming in "after" the record they last saw),
//     sometimes not.
//   - the nemesis (nemesis.go): one fault every interval, every kind in
//     turn in a shuffled order (a kind that needs a leader waits for one
//     to be seen, and holds the others back once they are a round ahead): SIGKILL of a random node or of the leader
//     (restarted at once), SIGSTOP/SIGCONT, partitions (the leader
//     isolated, a minority split off, two sides bridged by one node) made
//     with the nodes' fault-injection endpoint, and SIGKILL of every node.
//   - the checker (check.go, model.go): once the faults end and the nodes
//     converge, every node's log is read from its C2SP tiles and checked
//     against its checkpoint; the nodes' logs must be one log; every
//     acknowledged envelope must be in it once, at the acknowledged entry,
//     and no refused one; every checkpoint a client was served must be
//     validly cosigned, of the final log, and no smaller than one the same
//     node served before; and each lot's history — its operations with
//     their call and return times — must be linearizable (porcupine)
//     against a model of custody whose state is the lot's holder and the
//     recipient in transit.
//
// Randomness comes from the seed: a run with the same seed makes the
// same choices (the participants, the order of fault kinds, which lots
// clients pick), although timing makes no two runs alike.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// Config configures a chaos run. Zero values take the defaults.
type Config struct {
	Bin      string // the traceledger binary the nodes run
	Dir      string // where the nodes keep their data, certificates and logs
	Nodes    int    // default 3
	Duration time.Duration
	Seed     uint64
	Clients  int           // concurrent clients; default 8
	Interval time.Duration // one fault per interval at most; default 50 ms
	// RaftTimeout is the nodes' --raft-timeout (default 50 ms): with the
	// leader killed hundreds of times a minute, elections must be quick
	// for the cluster to acknowledge anything between faults, and for
	// the faults that strike the leader to find one. (Measured on the
	// 2-core machine under load: 50 ms gave more faults of each kind and
	// more acknowledged writes in 60 s than 100 ms, and 100 ms more than
	// 300 ms.)
	RaftTimeout time.Duration
	// CheckTimeout bounds the linearizability check of one lot (default 30 s).
	CheckTimeout time.Duration
	// Races, when positive, races two transfers of one lot through two
	// nodes that many times once the checks are done (RaceTransfers).
	Races  int
	Logger *slog.Logger // progress; default discards
}

// actors is how many participants sign the workload's records.
const actors = 6

func (c *Config) defaults() error {
	if c.Bin == "" || c.Dir == "" {
		return errors.New("chaos: a binary and a directory are required")
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Nodes < 3 || c.Nodes > 9 {
		return fmt.Errorf("chaos: %d nodes; partitions need 3 to 9", c.Nodes)
	}
	if c.Duration <= 0 || c.Clients < 0 || c.Interval < 0 || c.RaftTimeout < 0 || c.Races < 0 {
		return errors.New("chaos: the duration must be positive, and clients, interval, raft timeout and races not negative")
	}
	if c.Clients == 0 {
		c.Clients = 8
	}
	if c.Interval == 0 {
		c.Interval = 50 * time.Millisecond
	}
	if c.RaftTimeout == 0 {
		c.RaftTimeout = 50 * time.Millisecond
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// convergeWithin bounds the wait for the nodes to agree after the faults.
const convergeWithin = 2 * time.Minute

// Run starts a cluster of cfg.Nodes processes with peer TLS, runs the
// workload and the nemesis for cfg.Duration, heals every fault, waits for
// the nodes to converge and checks everything. It returns an error only
// when the run could not be made; anomalies are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	log.Info("starting cluster", "nodes", cfg.Nodes, "dir", cfg.Dir)
	c, err := testnet.StartProcs(ctx, cfg.Bin, cfg.Dir, cfg.Nodes, "--raft-timeout", cfg.RaftTimeout.String())
	if err != nil {
		return nil, err
	}
	defer c.StopAll()
	keys, err := actorKeys(cfg.Seed, actors)
	if err != nil {
		return nil, err
	}
	w := newWorkload(nodeURLs(c), keys)
	joined, err := c.View(0)
	if err != nil {
		return nil, err
	}
	if err := w.register(ctx, c.Admin); err != nil {
		return nil, err
	}

	leader, err := c.Leader(ctx, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("no leader before the faults: %w", err)
	}

	log.Info("workload and faults", "duration", cfg.Duration, "clients", cfg.Clients, "interval", cfg.Interval, "seed", cfg.Seed)
	w.start = time.Now()
	wctx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	nem := newNemesis(c, cfg.Seed, cfg.Interval, log, w.start, leader)
	nem.startHelpers()
	defer nem.stop()
	watch := &watcher{c: c, start: w.start, rng: rand.New(rand.NewPCG(cfg.Seed, 0x77617463))}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); watch.run(wctx) }()
	for i := 0; i < cfg.Clients; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(wctx, i, rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))) }()
	}
	nem.run(wctx)
	wg.Wait()

	log.Info("healing every fault")
	healStart := time.Now()
	errs := nem.healAll()
	nodeKeys, converged := converge(ctx, c)
	r := &Report{Seed: cfg.Seed, Nodes: cfg.Nodes, PeerTLS: c.CertDir != "", Seconds: cfg.Duration.Seconds(),
		IntervalMS: ms(cfg.Interval), RaftTimeout: cfg.RaftTimeout.String(),
		ConvergeSeconds: time.Since(healStart).Seconds(), Converged: converged}
	for _, err := range errs {
		r.Errors = append(r.Errors, err.Error())
	}

	log.Info("checking", "converged", converged)
	history := w.snapshot()
	hc := &http.Client{}
	var logs []*nodeLog
	for _, p := range c.Nodes {
		logs = append(logs, fetchLog(ctx, hc, p.ID, p.URL(), nodeKeys))
	}
	ref := r.checkDivergence(logs)
	if ref != nil {
		r.LogSize = ref.Size
		ix, err := indexLog(ref)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("%s's log: %v", ref.ID, err))
		} else {
			r.checkEnvelopes(history, ix)
		}
	}
	r.checkCheckpoints(watch.seen(), nodeKeys, joined.Size, ref)
	r.checkLinearizable(history, cfg.CheckTimeout)
	r.countOps(history)
	faults, links, failed := nem.record()
	r.countFaults(faults, history)
	r.LinkRequests, r.LinkRequestsFailed = links, failed
	if cfg.Races > 0 {
		log.Info("racing transfers", "rounds", cfg.Races)
		res, err := RaceTransfers(ctx, c, cfg.Races, cfg.Seed+1)
		r.Races, r.RaceLosers = res.Rounds, res.Losers
		if err != nil {
			r.RaceFailures = append(r.RaceFailures, err.Error())
		}
	}
	return r, nil
}

// nodeURLs lists the nodes' base URLs.
func nodeURLs(c *testnet.Procs) []string {
	var urls []string
	for _, p := range c.Nodes {
		urls = append(urls, p.URL())
	}
	return urls
}

// converge waits until every node holds the same log and serves a
// checkpoint of all of it, and returns the cluster's checkpoint keys.
func converge(ctx context.Context, c *testnet.Procs) ([]string, bool) {
	var keys []string
	err := harness.Poll(ctx, convergeWithin, func() bool {
		var size uint64
		var head string
		for i := range c.Nodes {
			v, err := c.View(i)
			if err != nil || (i > 0 && (v.Size != size || v.Head != head)) {
				return false
			}
			size, head = v.Size, v.Head
		}
		k, err := c.NodeKeys(0)
		if err != nil {
			return false
		}
		for i := range c.Nodes {
			msg, err := c.Checkpoint(i)
			if err != nil {
				return false
			}
			cp, _, err := ledger.OpenCheckpoint(msg, k)
			if err != nil || cp.Size != size || ledger.HashHex(cp.Root) != head {
				return false
			}
		}
		keys = k
		return true
	})
	if err != nil {
		keys, _ = c.NodeKeys(0)
		return keys, false
	}
	return keys, true
}

// seenCheckpoint is a checkpoint a node served to a client.
type seenCheckpoint struct {
	Node  string
	Index int
	At    time.Duration
	Note  []byte
}

// watcher plays the clients that keep the checkpoints they are served, as
// `traceledger verify` does: every 50 ms it asks a random node for its
// checkpoint and keeps each new one. Its goroutine is run's; mu guards
// notes.
type watcher struct {
	c     *testnet.Procs
	start time.Time
	rng   *rand.Rand

	mu    sync.Mutex
	notes []seenCheckpoint
}

func (w *watcher) run(ctx context.Context) {
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	last := map[int]string{}
	every(ctx, 50*time.Millisecond, func() {
		i := w.rng.IntN(len(w.c.Nodes))
		resp, err := hc.Get(w.c.Nodes[i].URL() + "/v1/checkpoint")
		if err != nil {
			return
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || last[i] == string(b) {
			return
		}
		last[i] = string(b)
		w.mu.Lock()
		w.notes = append(w.notes, seenCheckpoint{Node: w.c.Nodes[i].ID, Index: i, At: time.Since(w.start), Note: b})
		w.mu.Unlock()
	})
}

func (w *watcher) seen() []seenCheckpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]seenCheckpoint(nil), w.notes...)
}
