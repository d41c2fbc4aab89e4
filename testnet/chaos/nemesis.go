package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/traceledger/traceledger/testnet"
)

// Fault kinds the nemesis injects, in the order reports list them.
const (
	FaultKill            = "kill"             // SIGKILL of a random node, restarted at once
	FaultKillLeader      = "kill-leader"      // SIGKILL of the leader, restarted at once
	FaultPause           = "pause"            // SIGSTOP of a random node, SIGCONT after a hold
	FaultPartitionLeader = "partition-leader" // the leader cut off from every other node
	FaultPartitionSplit  = "partition-split"  // a random minority cut off from the majority
	FaultPartitionBridge = "partition-bridge" // two sides that reach each other only through one node
	FaultRestartAll      = "restart-all"      // SIGKILL of every running node, all restarted at once
)

// FaultKinds lists every kind of fault, in report order.
var FaultKinds = []string{FaultKill, FaultKillLeader, FaultPause, FaultPartitionLeader,
	FaultPartitionSplit, FaultPartitionBridge, FaultRestartAll}

// fault is one injected fault: when, on which nodes, and when it ended
// (the killed nodes answered again, the paused node was thawed, the
// partition was lifted).
type fault struct {
	Kind   string
	Nodes  []string
	At     time.Duration
	Healed time.Duration // 0 while active
}

// nemesis injects faults into a cluster of processes.
//
// Concurrency: run's goroutine decides and injects, and never waits on
// a node: restarts run on goroutines of their own (tracked by restarts),
// and each node has a goroutine that tells it its cut links (started by
// startHelpers, tracked by helpers), always the latest ones, whenever retell
// marks it. The leader tracker runs one goroutine per node, also among
// helpers. stop ends the helpers. mu guards every field below it.
type nemesis struct {
	c        *testnet.Procs
	rng      *rand.Rand
	log      *slog.Logger
	start    time.Time
	interval time.Duration
	restarts sync.WaitGroup
	helpers  sync.WaitGroup
	stopHelp context.CancelFunc
	dirty    []chan struct{} // per node, capacity 1: its links must be told again

	mu        sync.Mutex
	up        []bool      // running and not being restarted
	pausedAt  []int       // index in faults of the pause holding the node; -1 when not paused
	resumeAt  []time.Time // when a paused node is thawed
	blocks    [][]string  // the current partition: Raft addresses each node blocks
	part      int         // index in faults of the current partition; -1 when none
	partUntil time.Time
	faults    []fault
	leader    int // node last seen as leader; -1 before any
	leaderAt  time.Time
	errs      []error // injections that failed (a node did not restart)
	// links counts the fault-injection requests that set a node's cut
	// links, and linksFailed those that got no answer (the node was
	// paused or killed meanwhile: its peers' blocks hold the partition).
	links, linksFailed int
}

// newNemesis returns a nemesis for c, whose leader is node leader.
func newNemesis(c *testnet.Procs, seed uint64, interval time.Duration, log *slog.Logger, start time.Time, leader int) *nemesis {
	n := len(c.Nodes)
	m := &nemesis{c: c, rng: rand.New(rand.NewPCG(seed, 0x6e656d65)), log: log, start: start, interval: interval,
		up: make([]bool, n), pausedAt: make([]int, n), resumeAt: make([]time.Time, n), blocks: make([][]string, n),
		part: -1, leader: leader, leaderAt: time.Now()}
	for range n {
		m.dirty = append(m.dirty, make(chan struct{}, 1))
	}
	for i := range m.up {
		m.up[i], m.pausedAt[i] = true, -1
	}
	return m
}

// startHelpers starts the helpers: for each node, a tracker that polls its
// view of itself, so that the nemesis knows the leader without asking
// when it strikes, and the goroutine that tells it its cut links.
func (m *nemesis) startHelpers() {
	ctx, cancel := context.WithCancel(context.Background())
	m.stopHelp = cancel
	for i := range m.c.Nodes {
		m.helpers.Add(2)
		go func() {
			defer m.helpers.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-m.dirty[i]:
				}
				m.mu.Lock()
				ok := m.up[i] && m.pausedAt[i] < 0
				blocks := m.blocks[i]
				m.mu.Unlock()
				if ok {
					m.setLinks(ctx, i, blocks)
				}
			}
		}()
		go func() {
			defer m.helpers.Done()
			every(ctx, 50*time.Millisecond, func() {
				m.mu.Lock()
				ok := m.up[i] && m.pausedAt[i] < 0
				m.mu.Unlock()
				if !ok {
					return
				}
				// A node names the leader it hears from (a follower stops
				// naming it after a heartbeat timeout without it), or
				// itself.
				v, err := m.c.View(i)
				if err != nil || v.Leader == "" {
					return
				}
				for j, p := range m.c.Nodes {
					if p.ID == v.Leader {
						m.mu.Lock()
						m.leader, m.leaderAt = j, time.Now()
						m.mu.Unlock()
					}
				}
			})
		}()
	}
}

// stop ends the helpers and waits for them.
func (m *nemesis) stop() {
	m.stopHelp()
	m.helpers.Wait()
}

// retell marks nodes (none: every node) to be told their cut links.
func (m *nemesis) retell(nodes ...int) {
	if len(nodes) == 0 {
		for i := range m.dirty {
			nodes = append(nodes, i)
		}
	}
	for _, i := range nodes {
		select {
		case m.dirty[i] <- struct{}{}:
		default: // already marked
		}
	}
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}

// run injects one fault every interval until ctx ends, cycling through
// every kind in a shuffled order so that each kind gets its share, and
// ends faults whose hold has passed. The schedule is fixed: when an
// injection takes longer than an interval (a partition waits for the
// nodes to answer), the next ones follow at once until it is caught up,
// so a run of d makes d/interval faults however loaded the machine.
func (m *nemesis) run(ctx context.Context) {
	var bag []string
	next := time.Now()
	for {
		next = next.Add(m.interval)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		if ctx.Err() != nil {
			return
		}
		m.expire()
		// The first kind in the bag that can strike now; one that cannot
		// (no leader known, a node still restarting) stays in the bag,
		// ahead of the next round of kinds, for a later tick. Kinds that
		// wait hold back the next round once they are a round's worth:
		// a cluster too busy electing to show a leader then gets ticks
		// without a fault, and the kinds stay within a few of each other.
		for tried := 0; tried < 2; tried++ {
			if tried > 0 && len(bag) >= len(FaultKinds) {
				break
			}
			if tried > 0 || len(bag) == 0 {
				round := append([]string(nil), FaultKinds...)
				m.rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
				bag = append(bag, round...)
			}
			struck := false
			for k, kind := range bag {
				if struck = m.inject(kind); struck {
					bag = append(bag[:k], bag[k+1:]...)
					break
				}
			}
			if struck {
				break
			}
		}
	}
}

// hold is how long a pause or a partition lasts: one to four intervals.
func (m *nemesis) hold() time.Duration {
	return m.interval + time.Duration(m.rng.Int64N(int64(3*m.interval)+1))
}

func (m *nemesis) since() time.Duration { return time.Since(m.start) }

// record adds a fault; the caller holds mu.
func (m *nemesis) recordLocked(kind string, nodes ...int) int {
	f := fault{Kind: kind, At: m.since()}
	for _, i := range nodes {
		f.Nodes = append(f.Nodes, m.c.Nodes[i].ID)
	}
	m.faults = append(m.faults, f)
	m.log.Debug("fault", "kind", kind, "nodes", f.Nodes, "at", f.At.Round(time.Millisecond))
	return len(m.faults) - 1
}

// inject strikes with a fault of kind, if it can now.
func (m *nemesis) inject(kind string) bool {
	m.mu.Lock()
	var live []int // nodes whose process runs
	for i, up := range m.up {
		if up {
			live = append(live, i)
		}
	}
	// The leader is the node last named leader, to the tracker (which
	// polls every 50 ms), in the last second, and was neither killed
	// nor paused since.
	leader := m.leader
	if leader >= 0 && (!m.up[leader] || m.pausedAt[leader] >= 0 || time.Since(m.leaderAt) > time.Second) {
		leader = -1
	}
	m.mu.Unlock()
	switch kind {
	case FaultKill:
		if len(live) == 0 {
			return false
		}
		m.kill(kind, live[m.rng.IntN(len(live))])
	case FaultKillLeader:
		if leader < 0 {
			return false
		}
		m.kill(kind, leader)
	case FaultRestartAll:
		// Only a whole cluster: striking while nodes are still restarting
		// from the last one would keep the cluster down for good on a
		// loaded machine, where a restart takes longer than an interval.
		if len(live) < len(m.c.Nodes) {
			return false
		}
		m.kill(kind, live...)
	case FaultPause:
		m.mu.Lock()
		defer m.mu.Unlock()
		var cand []int
		for _, i := range live {
			if m.pausedAt[i] < 0 {
				cand = append(cand, i)
			}
		}
		if len(cand) == 0 {
			return false
		}
		i := cand[m.rng.IntN(len(cand))]
		if err := m.c.Pause(i); err != nil {
			return false
		}
		m.pausedAt[i] = m.recordLocked(kind, i)
		m.resumeAt[i] = time.Now().Add(m.hold())
	case FaultPartitionLeader:
		if leader < 0 {
			return false
		}
		m.partition(kind, []int{leader}, -1)
	case FaultPartitionSplit:
		perm := m.rng.Perm(len(m.c.Nodes))
		m.partition(kind, perm[:(len(perm)-1)/2], -1)
	case FaultPartitionBridge:
		perm := m.rng.Perm(len(m.c.Nodes))
		// perm[0] is the bridge; the others split in two sides.
		m.partition(kind, perm[1:1+(len(perm)-1)/2], perm[0])
	}
	return true
}

// kill sends SIGKILL to the nodes and restarts them in the background.
func (m *nemesis) kill(kind string, nodes ...int) {
	if len(nodes) == 0 {
		return
	}
	m.mu.Lock()
	idx := m.recordLocked(kind, nodes...)
	for _, i := range nodes {
		m.up[i] = false
		m.pausedAt[i] = -1 // a killed process is no longer paused; its pause ends with it
		if m.leader == i {
			m.leader = -1 // restarted, it will be a follower until seen leading again
		}
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, i := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); m.c.Kill(i) }()
	}
	wg.Wait()
	m.healPausesOf(nodes)
	pending := len(nodes)
	for _, i := range nodes {
		m.restarts.Add(1)
		go func() {
			defer m.restarts.Done()
			err := m.c.Start(i)
			for try := 1; err != nil && try < 3; try++ {
				m.c.Kill(i)
				err = m.c.Start(i)
			}
			m.mu.Lock()
			if err != nil {
				m.errs = append(m.errs, fmt.Errorf("restart %s: %w", m.c.Nodes[i].ID, err))
			}
			m.up[i] = err == nil
			if pending--; pending == 0 {
				m.faults[idx].Healed = m.since()
			}
			if m.leader == i {
				m.leader = -1 // named by a follower that had not noticed; a node just started leads nothing
			}
			m.mu.Unlock()
			// A restarted process has forgotten its cut links; the
			// network it rejoins has not.
			m.retell(i)
		}()
	}
}

// healPausesOf ends the pause faults of killed nodes.
func (m *nemesis) healPausesOf(nodes []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, i := range nodes {
		for j := len(m.faults) - 1; j >= 0; j-- {
			if f := &m.faults[j]; f.Kind == FaultPause && f.Healed == 0 && f.Nodes[0] == m.c.Nodes[i].ID {
				f.Healed = m.since()
			}
		}
	}
}

// partition cuts every link between side and the other nodes, except
// those of bridge (≥ 0), which keeps its links to both sides. It
// replaces the current partition.
func (m *nemesis) partition(kind string, side []int, bridge int) {
	n := len(m.c.Nodes)
	in := make([]bool, n)
	for _, i := range side {
		in[i] = true
	}
	blocks := make([][]string, n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j && i != bridge && j != bridge && in[i] != in[j] {
				blocks[i] = append(blocks[i], m.c.Nodes[j].RaftAddr)
			}
		}
	}
	m.mu.Lock()
	if m.part >= 0 {
		m.faults[m.part].Healed = m.since()
	}
	nodes := append([]int(nil), side...)
	if bridge >= 0 {
		nodes = append([]int{bridge}, nodes...)
	}
	m.part = m.recordLocked(kind, nodes...)
	m.partUntil = time.Now().Add(m.hold())
	m.blocks = blocks
	m.mu.Unlock()
	// One side's block cuts a link, so a node that cannot be told
	// (paused, restarting) is covered by its peers, and told when it is
	// back.
	m.retell()
}

// tellLinks tells every running, unpaused node the links it must cut, and
// waits for the answers.
func (m *nemesis) tellLinks(ctx context.Context) {
	m.mu.Lock()
	var targets []int
	for i := range m.c.Nodes {
		if m.up[i] && m.pausedAt[i] < 0 {
			targets = append(targets, i)
		}
	}
	blocks := append([][]string(nil), m.blocks...)
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, i := range targets {
		wg.Add(1)
		go func() { defer wg.Done(); m.setLinks(ctx, i, blocks[i]) }()
	}
	wg.Wait()
}

// setLinks sets node i's cut links, waiting a second at most, and counts
// the request.
func (m *nemesis) setLinks(ctx context.Context, i int, blocked []string) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := m.c.SetLinks(ctx, i, blocked)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links++
	if err != nil {
		m.linksFailed++
	}
}

// expire thaws paused nodes and lifts the partition whose hold has passed.
func (m *nemesis) expire() {
	now := time.Now()
	m.mu.Lock()
	var thawed []int
	for i, f := range m.pausedAt {
		if f >= 0 && !now.Before(m.resumeAt[i]) {
			m.c.Resume(i)
			m.faults[f].Healed = m.since()
			m.pausedAt[i] = -1
			thawed = append(thawed, i)
		}
	}
	lift := m.part >= 0 && !now.Before(m.partUntil)
	if lift {
		m.faults[m.part].Healed = m.since()
		m.part = -1
		m.blocks = make([][]string, len(m.c.Nodes))
	}
	m.mu.Unlock()
	if lift {
		m.retell()
	} else if len(thawed) > 0 {
		// A thawed node may hold links of a partition since lifted or
		// miss those of a newer one.
		m.retell(thawed...)
	}
}

// healAll ends every fault: it stops the helpers, waits for restarts,
// thaws every node, restarts any that is down and restores every link.
// It returns the errors of restarts that failed.
func (m *nemesis) healAll() []error {
	m.stop()
	m.restarts.Wait()
	m.mu.Lock()
	m.resumeAt = make([]time.Time, len(m.c.Nodes))
	m.partUntil = time.Time{}
	m.mu.Unlock()
	m.expire()
	m.mu.Lock()
	var down []int
	for i, up := range m.up {
		if up && !m.c.Running(i) {
			m.errs = append(m.errs, fmt.Errorf("%s exited by itself", m.c.Nodes[i].ID))
		}
		if !up || !m.c.Running(i) {
			down = append(down, i)
		}
	}
	m.mu.Unlock()
	for _, i := range down {
		if err := m.c.Start(i); err != nil {
			m.mu.Lock()
			m.errs = append(m.errs, fmt.Errorf("final restart of %s: %w", m.c.Nodes[i].ID, err))
			m.mu.Unlock()
			continue
		}
		m.mu.Lock()
		m.up[i] = true
		m.mu.Unlock()
	}
	m.tellLinks(context.Background())
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]error(nil), m.errs...)
}

// record returns the faults injected and the counts of link requests.
func (m *nemesis) record() (faults []fault, links, linksFailed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]fault(nil), m.faults...), m.links, m.linksFailed
}
