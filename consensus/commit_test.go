package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
)

// fakeEnvs returns envelopes whose canonical bytes have the given sizes;
// the committer only looks at their sizes.
func fakeEnvs(sizes ...int) []*ledger.Admitted {
	out := make([]*ledger.Admitted, len(sizes))
	for i, n := range sizes {
		out[i] = &ledger.Admitted{Canonical: make([]byte, n), Signature: make([]byte, ledger.SignatureLen)}
	}
	return out
}

func repeat(n, size int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = size
	}
	return out
}

// splitBySubmit runs committer.submit on envs with no commit loop and
// returns the pieces it queued, in queue order, and the channel its
// answer arrives on.
func splitBySubmit(t *testing.T, envs []*ledger.Admitted) ([]piece, <-chan submitAnswer) {
	t.Helper()
	c := &committer{pieces: make(chan piece, 4096)}
	ans := make(chan submitAnswer, 1)
	go func() {
		res, err := c.submit(context.Background(), envs)
		ans <- submitAnswer{res, err}
	}()
	var pieces []piece
	for covered := 0; covered < len(envs); {
		select {
		case p := <-c.pieces:
			pieces = append(pieces, p)
			covered += p.end - p.start
		case <-time.After(waitTimeout):
			t.Fatalf("submit queued %d pieces covering %d of %d envelopes", len(pieces), covered, len(envs))
		}
	}
	return pieces, ans
}

type submitAnswer struct {
	res []ledger.Result
	err error
}

func answer(t *testing.T, ch <-chan submitAnswer) submitAnswer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(waitTimeout):
		t.Fatal("submit did not return")
	}
	return submitAnswer{}
}

func TestCommitterSplitsRequests(t *testing.T) {
	huge := maxCommandBytes + 1
	for _, tc := range []struct {
		name  string
		sizes []int
		want  [][2]int // piece bounds
	}{
		{"one", []int{100}, [][2]int{{0, 1}}},
		{"exactly one entry", repeat(maxCommandEnvelopes, 100), [][2]int{{0, 512}}},
		{"by count", repeat(1500, 100), [][2]int{{0, 512}, {512, 1024}, {1024, 1500}}},
		{"by bytes", repeat(10, 300_000), [][2]int{{0, 3}, {3, 6}, {6, 9}, {9, 10}}},
		{"oversized envelope alone", []int{10, huge, 10}, [][2]int{{0, 1}, {1, 2}, {2, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			envs := fakeEnvs(tc.sizes...)
			pieces, ans := splitBySubmit(t, envs)
			if len(pieces) != len(tc.want) {
				t.Fatalf("%d pieces, want %d", len(pieces), len(tc.want))
			}
			for i, p := range pieces {
				if [2]int{p.start, p.end} != tc.want[i] {
					t.Errorf("piece %d = [%d, %d), want %v", i, p.start, p.end, tc.want[i])
				}
				k := p.end - p.start
				if k > 1 && (k > maxCommandEnvelopes || p.bytes > maxCommandBytes) {
					t.Errorf("piece %d: %d envelopes, %d bytes exceed one log entry", i, k, p.bytes)
				}
				if p.req != pieces[0].req {
					t.Errorf("piece %d belongs to another request", i)
				}
			}
			// Answer the pieces last first: the results still come back
			// in the request's order.
			for i := len(pieces) - 1; i >= 0; i-- {
				p := pieces[i]
				res := make([]ledger.Result, p.end-p.start)
				for j := range res {
					res[j].Seq = uint64(p.start + j)
				}
				p.req.finish(p, res, nil)
			}
			a := answer(t, ans)
			if a.err != nil || len(a.res) != len(envs) {
				t.Fatalf("submit: %d results, %v", len(a.res), a.err)
			}
			for i, r := range a.res {
				if r.Seq != uint64(i) {
					t.Fatalf("result %d has seq %d: results out of order", i, r.Seq)
				}
			}
		})
	}
}

func TestCommitterFailedPieceFailsRequest(t *testing.T) {
	pieces, ans := splitBySubmit(t, fakeEnvs(repeat(1200, 10)...))
	pieces[0].req.finish(pieces[0], make([]ledger.Result, 512), nil)
	pieces[1].req.finish(pieces[1], nil, mapRaftError(raft.ErrLeadershipLost))
	select {
	case a := <-ans:
		t.Fatalf("submit returned %v before every piece was answered", a.err)
	default:
	}
	pieces[2].req.finish(pieces[2], nil, ErrShutdown)
	a := answer(t, ans)
	if !errors.Is(a.err, ErrUnknownOutcome) || a.res != nil {
		t.Fatalf("submit: %v (%d results), want the first failure, ErrUnknownOutcome", a.err, len(a.res))
	}
}

func TestCommitterSubmitGivesUpWithContext(t *testing.T) {
	// Nothing takes the pieces: the caller's context ends the wait while
	// queueing…
	c := &committer{pieces: make(chan piece)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.submit(ctx, fakeEnvs(1)); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("submit with a cancelled context: %v, want ErrUnknownOutcome", err)
	}
	// …and while waiting for the results.
	c = &committer{pieces: make(chan piece, 8)}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.submit(ctx, fakeEnvs(1, 2)); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("submit whose results never come: %v, want ErrUnknownOutcome", err)
	}
}

func TestMapRaftError(t *testing.T) {
	for _, tc := range []struct {
		in, want error
	}{
		{raft.ErrNotLeader, ErrNotLeader},
		{fmt.Errorf("apply: %w", raft.ErrNotLeader), ErrNotLeader},
		{raft.ErrLeadershipLost, ErrUnknownOutcome},
		{raft.ErrLeadershipTransferInProgress, ErrUnknownOutcome},
		{raft.ErrRaftShutdown, ErrShutdown},
		{raft.ErrEnqueueTimeout, ErrNoLeader},
		{errors.New("disk on fire"), ErrUnknownOutcome},
	} {
		got := mapRaftError(tc.in)
		if !errors.Is(got, tc.want) {
			t.Errorf("mapRaftError(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if mapErr(nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
}

// A request larger than one log entry is split into several entries, and
// its results come back aligned with its envelopes.
func TestNodeSubmitLargeRequestInOrder(t *testing.T) {
	n := startNode(t, nil)
	stranger := newKey(t)
	const count = 1500
	envs := make([]*ledger.Admitted, count)
	for i := range envs {
		signer := n.admin
		if i%7 == 0 {
			signer = stranger
		}
		envs[i] = registration(t, signer, fmt.Sprintf("big-%d", i))
	}
	size0, index0 := headOf(t, n.store).Size, n.raft.LastIndex()
	res := n.submit(t, envs)
	if k := n.raft.LastIndex() - index0; k < (count+maxCommandEnvelopes-1)/maxCommandEnvelopes {
		t.Fatalf("%d envelopes committed in %d log entries", count, k)
	}
	next := size0
	for i, r := range res {
		if i%7 == 0 {
			if !errors.Is(r.Err, ledger.ErrNotRegistered) {
				t.Fatalf("result %d: %v, want ErrNotRegistered", i, r.Err)
			}
			continue
		}
		if r.Err != nil || r.Seq != next || r.Existing {
			t.Fatalf("result %d: %+v, want seq %d", i, r, next)
		}
		next++
	}
	if h := headOf(t, n.store); h.Size != next {
		t.Fatalf("size %d, want %d", h.Size, next)
	}
	for i, r := range res {
		if r.Err == nil && !bytes.Equal(entryRecord(t, n.store, r.Seq), envs[i].Canonical) {
			t.Fatalf("entry %d does not hold envelope %d", r.Seq, i)
		}
	}
}

func TestNodeConcurrentSubmits(t *testing.T) {
	n := startNode(t, nil)
	const workers, each = 8, 60
	envs := make([][]*ledger.Admitted, workers)
	for w := range envs {
		envs[w] = registrations(t, n.admin, fmt.Sprintf("w%d", w), each)
	}
	size0 := headOf(t, n.store).Size
	results := make([][]ledger.Result, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			// Several calls per worker, of varying sizes, so that the
			// committer packs pieces of different requests together.
			for lo := 0; lo < each; {
				hi := min(each, lo+1+lo%7)
				res, err := n.Submit(ctx, envs[w][lo:hi])
				if err != nil {
					errs[w] = err
					return
				}
				results[w] = append(results[w], res...)
				lo = hi
			}
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for w := range envs {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		if len(results[w]) != each {
			t.Fatalf("worker %d: %d results for %d envelopes", w, len(results[w]), each)
		}
		for i, r := range results[w] {
			if r.Err != nil || r.Existing || seen[r.Seq] {
				t.Fatalf("worker %d result %d: %+v (seq seen before: %v)", w, i, r, seen[r.Seq])
			}
			seen[r.Seq] = true
			if !bytes.Equal(entryRecord(t, n.store, r.Seq), envs[w][i].Canonical) {
				t.Fatalf("worker %d result %d names entry %d, which holds another envelope", w, i, r.Seq)
			}
		}
	}
	if h := headOf(t, n.store); h.Size != size0+workers*each {
		t.Fatalf("size %d, want %d", h.Size, size0+workers*each)
	}
}

// A node that is not the leader refuses writes and leader-only operations
// at once.
func TestNodeNotLeaderRefuses(t *testing.T) {
	n := startNode(t, func(c *Config) { c.Bootstrap = false })
	if n.IsLeader() || n.Resumed() {
		t.Fatalf("unbootstrapped node: leader %v, resumed %v", n.IsLeader(), n.Resumed())
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if res, err := n.Submit(ctx, nil); res != nil || err != nil {
		t.Fatalf("empty submit: %v, %v", res, err)
	}
	if _, err := n.Submit(ctx, registrations(t, n.admin, "f", 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Submit on a follower: %v, want ErrNotLeader", err)
	}
	if err := n.Linearize(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Linearize on a follower: %v, want ErrNotLeader", err)
	}
	if err := n.Join("x", "127.0.0.1:1", "", ""); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Join on a follower: %v, want ErrNotLeader", err)
	}
	if err := n.Remove("x"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Remove on a follower: %v, want ErrNotLeader", err)
	}
	if err := n.TransferLeadership(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("TransferLeadership on a follower: %v, want ErrNotLeader", err)
	}
	if _, err := n.Cosign(ctx, ledger.Checkpoint{}); !errors.Is(err, ErrNoCheckpointKey) {
		t.Fatalf("Cosign without a key: %v, want ErrNoCheckpointKey", err)
	}
	if st := n.Status(); st.State != "Follower" || st.Leader != "" || n.LeaderPeerURL() != "" {
		t.Fatalf("status %+v, leader http %q", st, n.LeaderPeerURL())
	}
}

func TestNodeSubmitAfterShutdown(t *testing.T) {
	n := startNode(t, nil)
	envs := registrations(t, n.admin, "s", 3)
	n.submit(t, envs[:1])
	if err := n.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := n.Submit(context.Background(), envs[1:])
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrShutdown) {
			t.Fatalf("Submit after Shutdown: %v, want ErrNotLeader or ErrShutdown", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Submit after Shutdown hangs")
	}
	if n.IsLeader() {
		t.Fatal("a node shut down still leads")
	}
}

// Every entry the committer proposes must be answered, even when Raft is
// shutting down: a request waiting forever would also hold up
// Node.Shutdown, which waits for the committer. Proposals reaching a Raft
// that is already shut down are the simplest case of it.
func TestCommitterAnswersAfterRaftShutdown(t *testing.T) {
	n := startNode(t, nil)
	envs := registrations(t, n.admin, "late", 1)
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	c := newCommitter(n.raft, n.fsm, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { c.run(ctx); close(stopped) }()
	for i := range 20 {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.submit(sctx, envs)
		scancel()
		if !errors.Is(err, ErrShutdown) {
			t.Errorf("submit %d to a committer over a shut-down Raft: %v, want ErrShutdown", i, err)
			break
		}
	}
	// What Node.Shutdown waits for: the committer stops with its context.
	cancel()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Error("the committer does not stop: it waits for a Raft future that never resolves")
	}
}

// A write whose client has gone is never proposed: it cannot surface later
// as an intent nobody waits for.
func TestNodeDropsWriteOfGoneClient(t *testing.T) {
	n := startNode(t, nil)
	size0 := headOf(t, n.store).Size
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Submit(ctx, []*ledger.Admitted{registration(t, n.admin, "gone")}); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("submit for a gone client: %v, want ErrUnknownOutcome", err)
	}
	// Pieces already queued when their client goes are dropped by run.
	c := &committer{raft: n.raft, fsm: n.fsm, clock: time.Now, applyTimeout: time.Second,
		pieces: make(chan piece, 8), slots: make(chan struct{}, maxInflight), stopped: make(chan struct{})}
	ctx2, cancel2 := context.WithCancel(context.Background())
	req := &request{ctx: ctx2, envs: []*ledger.Admitted{registration(t, n.admin, "gone-2")}, results: make([]ledger.Result, 1), done: make(chan struct{}), left: 1}
	c.pieces <- piece{req: req, start: 0, end: 1}
	cancel2()
	runCtx, stop := context.WithCancel(context.Background())
	go c.run(runCtx)
	select {
	case <-req.done:
	case <-time.After(waitTimeout):
		t.Fatal("the dropped piece was never answered")
	}
	stop()
	<-c.stopped
	if !errors.Is(req.err, ErrUnknownOutcome) {
		t.Fatalf("dropped piece answered %v", req.err)
	}
	// Anything proposed would be applied by now: a later write lands
	// right after the ones before.
	res := n.submit(t, []*ledger.Admitted{registration(t, n.admin, "still-here")})
	if res[0].Err != nil || res[0].Seq != size0 {
		t.Fatalf("next write %+v, want seq %d: a gone client's write was proposed", res[0], size0)
	}
}
