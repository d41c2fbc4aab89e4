package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
)

// Group commit. Every Raft log entry costs a disk sync on a quorum and a
// round of replication; the signed records are small. So the leader packs
// the envelopes of many concurrent requests into one log entry: a request
// waits only for the entry in flight before it, and under load the entries
// fill up by themselves. maxInflight bounds the entries in flight so that
// requests queue — and batch — instead of each becoming its own entry.

const (
	// maxCommandEnvelopes and maxCommandBytes bound one log entry.
	maxCommandEnvelopes = 512
	maxCommandBytes     = 1 << 20
	maxInflight         = 2
)

// piece is a contiguous part of a request's envelopes; a request larger than
// one log entry is split into pieces.
type piece struct {
	req        *request
	start, end int
	bytes      int
}

// request gathers the results of one Submit call.
type request struct {
	ctx     context.Context // the client's: once done, pieces not yet proposed never are
	envs    []*ledger.Admitted
	results []ledger.Result
	done    chan struct{}

	mu   sync.Mutex // guards left and err
	left int        // pieces not yet answered
	err  error      // first failure of any piece
}

func (r *request) finish(p piece, res []ledger.Result, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil && r.err == nil {
		r.err = err
	}
	copy(r.results[p.start:p.end], res)
	r.left--
	if r.left == 0 {
		close(r.done)
	}
}

// committer owns the group-commit goroutine. It is started by Node and
// stops when its context is cancelled; pieces still queued then are
// answered with ErrShutdown.
type committer struct {
	raft         *raft.Raft
	fsm          *FSM
	clock        func() time.Time
	applyTimeout time.Duration
	pieces       chan piece
	slots        chan struct{} // one token per log entry in flight
	stopped      chan struct{} // closed when run has returned
	wg           sync.WaitGroup
}

func newCommitter(r *raft.Raft, fsm *FSM, clock func() time.Time) *committer {
	return &committer{raft: r, fsm: fsm, clock: clock, applyTimeout: 5 * time.Second,
		pieces: make(chan piece, 4096), slots: make(chan struct{}, maxInflight), stopped: make(chan struct{})}
}

// submit queues envs and waits for their results.
func (c *committer) submit(ctx context.Context, envs []*ledger.Admitted) ([]ledger.Result, error) {
	if err := ctx.Err(); err != nil {
		// The client has gone: its write is not queued at all, so that it
		// cannot surface later as an intent nobody is waiting for.
		return nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	req := &request{ctx: ctx, envs: envs, results: make([]ledger.Result, len(envs)), done: make(chan struct{})}
	var pieces []piece
	p := piece{req: req}
	for i, e := range envs {
		sz := len(e.Canonical) + ledger.SignatureLen + 24
		if p.end > p.start && (p.end-p.start >= maxCommandEnvelopes || p.bytes+sz > maxCommandBytes) {
			pieces = append(pieces, p)
			p = piece{req: req, start: i, end: i}
		}
		p.end++
		p.bytes += sz
	}
	pieces = append(pieces, p)
	req.left = len(pieces)
	for _, p := range pieces {
		select {
		case c.pieces <- p:
		case <-c.stopped:
			return nil, ErrShutdown
		case <-ctx.Done():
			// Pieces already queued may still commit; the caller's
			// retry of the same envelopes is answered idempotently.
			return nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err())
		}
	}
	select {
	case <-req.done:
		if req.err != nil {
			return nil, req.err
		}
		return req.results, nil
	case <-c.stopped:
		// run has answered everything it took; pieces queued after
		// that will never be.
		select {
		case <-req.done:
			if req.err == nil {
				return req.results, nil
			}
		default:
		}
		return nil, ErrShutdown
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err())
	}
}

// run is the group-commit loop.
func (c *committer) run(ctx context.Context) {
	defer close(c.stopped)
	var carry *piece
	for {
		var first piece
		if carry != nil {
			first, carry = *carry, nil
		} else {
			select {
			case first = <-c.pieces:
			case <-ctx.Done():
				c.drain()
				return
			}
		}
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			first.req.finish(first, nil, ErrShutdown)
			c.drain()
			return
		}
		// Take whatever else is queued, up to one log entry.
		batch, n, size := []piece{first}, first.end-first.start, first.bytes
	fill:
		for n < maxCommandEnvelopes {
			select {
			case p := <-c.pieces:
				if n+(p.end-p.start) > maxCommandEnvelopes || size+p.bytes > maxCommandBytes {
					carry = &p
					break fill
				}
				batch = append(batch, p)
				n += p.end - p.start
				size += p.bytes
			default:
				break fill
			}
		}
		// Pieces whose client has gone while they queued are answered
		// and dropped: nobody would learn their outcome.
		live := batch[:0]
		for _, p := range batch {
			if err := p.req.ctx.Err(); err != nil {
				p.req.finish(p, nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, err))
				continue
			}
			live = append(live, p)
		}
		batch = live
		if len(batch) == 0 {
			<-c.slots
			continue
		}
		envs := make([]*ledger.Admitted, 0, n)
		for _, p := range batch {
			envs = append(envs, p.req.envs[p.start:p.end]...)
		}
		cmd := &ledger.Command{Kind: ledger.CmdRecords, Time: c.clock().UTC(), Envelopes: envs}
		c.fsm.rememberDecoded(envs)
		f := c.raft.Apply(ledger.EncodeCommand(cmd), c.applyTimeout)
		c.wg.Add(1)
		go c.await(f, batch)
	}
}

// await waits for one log entry and answers its pieces. Started by run,
// one per entry in flight; it ends when the future resolves, which
// hashicorp/raft guarantees on commit, leadership loss or shutdown.
func (c *committer) await(f raft.ApplyFuture, batch []piece) {
	defer c.wg.Done()
	err := f.Error()
	<-c.slots
	var results []ledger.Result
	if err == nil {
		results, _ = f.Response().([]ledger.Result)
		if len(results) == 0 {
			err = fmt.Errorf("%w: log entry applied without results", ErrUnknownOutcome)
		}
	} else {
		err = mapRaftError(err)
	}
	off := 0
	for _, p := range batch {
		k := p.end - p.start
		if err != nil {
			p.req.finish(p, nil, err)
		} else {
			p.req.finish(p, results[off:off+k], nil)
		}
		off += k
	}
}

func (c *committer) drain() {
	for {
		select {
		case p := <-c.pieces:
			p.req.finish(p, nil, ErrShutdown)
		default:
			c.wg.Wait()
			return
		}
	}
}

// mapRaftError turns hashicorp/raft's errors into this package's sentinels.
// ErrNotLeader means the entry was never appended: nothing happened.
// ErrLeadershipLost means it may or may not commit: the outcome is unknown
// and the client's idempotent retry settles it.
func mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrNoLeader, err)
	}
	return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
}
