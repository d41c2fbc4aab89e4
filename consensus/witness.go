package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/ledger"
)

// Outside witnesses (c2sp.org/tlog-witness). On the leader, one goroutine
// per witness of the policy (Config.WitnessPolicy) sends each new
// committed checkpoint to the witness with POST <url>/add-checkpoint: the
// size the witness last cosigned ("old N"), the RFC 6962 consistency proof
// from that size, and the checkpoint note. The witness answers with its
// cosignature lines (c2sp.org/tlog-cosignature), which the leader checks
// against the witness's key and commits through Raft like a checkpoint
// (ledger.PutCheckpoint merges them into the stored note), so that every
// node publishes them.
//
// A witness only ever sees committed checkpoints, after the nodes signed
// them, so it never holds up a write: a witness that is down or slow only
// falls behind, and is retried with a growing pause (witnessRetryMin to
// witnessRetryMax). Its lag and last error are in Status, hence in
// GET /v1/cluster and /metrics.
//
// Answers, as the protocol defines them: 409 (text/x.tlog.size) gives the
// size the witness last cosigned, and the request is made again from it;
// 422 means the consistency proof did not verify — the witness holds a
// history of this ledger that ours does not extend, a fork — and 409 with
// the very size we sent means another root at that size: both are
// reported as ErrWitnessFork and logged as errors. 403 (our keys unknown
// to it) and 404 (our origin unknown) are configuration errors.

// ErrWitnessFork: a witness refused a checkpoint because it holds another
// history of this ledger.
var ErrWitnessFork = errors.New("witness refused the checkpoint: it holds another history of this ledger (a fork)")

// ErrWitness: a witness answered, but not with a cosignature.
var ErrWitness = errors.New("witness refused the checkpoint")

const (
	witnessTimeout  = 5 * time.Second
	witnessRetryMin = 500 * time.Millisecond
	witnessRetryMax = 10 * time.Second
	// maxWitnessAnswer bounds a witness's answer: a few signature lines.
	maxWitnessAnswer = 64 << 10
)

// WitnessStatus is what this node knows of one witness.
type WitnessStatus struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Key  string `json:"key"`
	// Cosigned is the newest checkpoint size the witness cosigned for
	// this node (0: none since it became leader).
	Cosigned uint64 `json:"cosigned_size"`
	// Lag is how many entries the latest checkpoint holds beyond it.
	Lag         uint64    `json:"lag"`
	Failures    uint64    `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	LastOK      time.Time `json:"last_cosigned_at,omitzero"`
}

// witness is the leader's state for one witness of the policy.
type witness struct {
	ledger.PolicyWitness
	// mu guards the fields below; the witness's goroutine writes them,
	// Status reads them.
	mu          sync.Mutex
	known       int64 // size the witness last cosigned, as it told us; -1: unknown
	cosigned    uint64
	failures    uint64
	lastErr     string
	lastErrAt   time.Time
	lastOK      time.Time
	retryFactor int // consecutive failures, for the pause before the next try

	// kick wakes the witness's goroutine when the leader commits a
	// checkpoint (kickWitnesses), so it does not wait for its ticker.
	kick chan struct{}
}

// kickWitnesses tells every witness's goroutine that a checkpoint was
// committed.
func (n *Node) kickWitnesses() {
	for _, w := range n.witnesses {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// WitnessStatuses returns the state of every witness of the policy, as
// this node knows it: only the leader talks to witnesses.
func (n *Node) WitnessStatuses() []WitnessStatus {
	if len(n.witnesses) == 0 {
		return nil
	}
	c, _, _, _ := n.LatestCheckpoint()
	out := make([]WitnessStatus, len(n.witnesses))
	for i, w := range n.witnesses {
		w.mu.Lock()
		out[i] = WitnessStatus{Name: w.Name, URL: w.URL, Key: w.VKey, Cosigned: w.cosigned,
			Failures: w.failures, LastError: w.lastErr, LastErrorAt: w.lastErrAt, LastOK: w.lastOK}
		w.mu.Unlock()
		if c.Size > out[i].Cosigned {
			out[i].Lag = c.Size - out[i].Cosigned
		}
	}
	return out
}

// runWitnesses starts one goroutine per witness and waits for them; it
// returns when ctx ends. runCheckpointer owns it.
func (n *Node) runWitnesses(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range n.witnesses {
		wg.Add(1)
		go func() { defer wg.Done(); n.runWitness(ctx, w) }()
	}
	wg.Wait()
}

// runWitness keeps one witness up to date with the latest committed
// checkpoint while this node is leader.
func (n *Node) runWitness(ctx context.Context, w *witness) {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var notBefore time.Time
	wasLeader := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		leader := n.raft.State() == raft.Leader
		if leader != wasLeader {
			// A new term: what the witness knows is learnt again.
			w.mu.Lock()
			w.known = -1
			w.mu.Unlock()
			wasLeader = leader
		}
		if !leader || time.Now().Before(notBefore) {
			continue
		}
		c, msg, ok, err := n.LatestCheckpoint()
		if err != nil || !ok {
			continue
		}
		w.mu.Lock()
		done := w.cosigned >= c.Size
		w.mu.Unlock()
		if done {
			continue
		}
		err = n.witnessOnce(ctx, w, c, msg)
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		if err != nil {
			w.failures++
			w.lastErr, w.lastErrAt = err.Error(), time.Now()
			w.retryFactor = min(w.retryFactor+1, 16)
			pause := min(witnessRetryMin<<(w.retryFactor-1), witnessRetryMax)
			notBefore = time.Now().Add(pause)
		} else {
			w.retryFactor = 0
			notBefore = time.Time{}
		}
		w.mu.Unlock()
		switch {
		case errors.Is(err, ErrWitnessFork):
			n.logger.Error("witness reports a fork", "witness", w.Name, "size", c.Size, "err", err)
		case err != nil:
			n.logger.Warn("witness", "witness", w.Name, "size", c.Size, "err", err)
		}
	}
}

// witnessOnce obtains w's cosignature of checkpoint c (note msg) and
// commits it.
func (n *Node) witnessOnce(ctx context.Context, w *witness, c ledger.Checkpoint, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, witnessTimeout)
	defer cancel()
	w.mu.Lock()
	old := w.known
	w.mu.Unlock()
	if old < 0 {
		old = 0 // the witness will say what it holds (409)
	}
	var sigs []byte
	for attempt := 0; ; attempt++ {
		var proof []string
		if old > 0 && uint64(old) < c.Size {
			err := n.store.View(func(r ledger.Reader) error {
				p, err := ledger.ProveConsistency(r, uint64(old), c.Size)
				proof = ledger.EncodeProof(p)
				return err
			})
			if err != nil {
				return fmt.Errorf("consistency proof %d → %d: %w", old, c.Size, err)
			}
		}
		if uint64(old) > c.Size {
			return fmt.Errorf("%w: it cosigned size %d, beyond this node's latest checkpoint (size %d)", ErrWitness, old, c.Size)
		}
		var known int64
		var err error
		sigs, known, err = AddCheckpoint(ctx, n.witnessHTTP, w.URL, uint64(old), proof, msg)
		var conflict *WitnessConflictError
		switch {
		case errors.As(err, &conflict) && known == old:
			// The size we sent is the one it holds: with another root.
			return fmt.Errorf("%w: it holds another root at size %d", ErrWitnessFork, known)
		case errors.As(err, &conflict) && attempt == 0:
			old = known
			w.mu.Lock()
			w.known = known
			w.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	// Keep only signature lines that verify under the witness's key.
	text, _, _ := ledger.SplitNote(msg)
	cosigned := append(append(append([]byte{}, text...), '\n'), sigs...)
	if _, err := note.Open(cosigned, note.VerifierList(w.Verifier)); err != nil {
		return fmt.Errorf("%w: its answer is not a valid cosignature by %s: %v", ErrWitness, w.VKey, err)
	}
	merged, err := ledger.MergeCosignatures(msg, cosigned)
	if err != nil {
		return err
	}
	if err := mapErr(n.raft.Apply(append([]byte{ledger.CmdCheckpoint}, merged...), 5*time.Second).Error()); err != nil {
		return fmt.Errorf("commit the cosignature: %w", err)
	}
	w.mu.Lock()
	w.known, w.cosigned, w.lastOK = int64(c.Size), c.Size, time.Now()
	w.lastErr = ""
	w.mu.Unlock()
	return nil
}

// WitnessConflictError is a witness's 409: the size it last cosigned is
// not the old size we sent.
type WitnessConflictError struct{ Known int64 }

func (e *WitnessConflictError) Error() string {
	return fmt.Sprintf("witness conflict: it last cosigned size %d", e.Known)
}

// AddCheckpoint makes one c2sp.org/tlog-witness add-checkpoint request to
// the witness at url (its submission prefix): old size, consistency proof
// lines (base64 hashes), an empty line, the checkpoint note. It returns
// the cosignature lines of a 200 answer; for a 409 it returns a
// *WitnessConflictError and the witness's size; a 422 is ErrWitnessFork;
// other answers are ErrWitness.
func AddCheckpoint(ctx context.Context, hc *http.Client, url string, old uint64, proof []string, msg []byte) (sigs []byte, known int64, err error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	for _, p := range proof {
		body.WriteString(p + "\n")
	}
	body.WriteString("\n")
	body.Write(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+"/add-checkpoint", &body)
	if err != nil {
		return nil, -1, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, -1, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessAnswer+1))
	if err != nil {
		return nil, -1, err
	}
	if len(data) > maxWitnessAnswer {
		return nil, -1, fmt.Errorf("%w: answer over %d bytes", ErrWitness, maxWitnessAnswer)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if len(data) == 0 || !bytes.HasPrefix(data, []byte("— ")) || data[len(data)-1] != '\n' {
			return nil, -1, fmt.Errorf("%w: 200 without signature lines", ErrWitness)
		}
		return data, int64(old), nil
	case http.StatusConflict:
		s := strings.TrimSuffix(string(data), "\n")
		k, err := strconv.ParseInt(s, 10, 64)
		if err != nil || k < 0 || strconv.FormatInt(k, 10) != s {
			return nil, -1, fmt.Errorf("%w: 409 without a size (%q)", ErrWitness, firstLine(data))
		}
		return nil, k, &WitnessConflictError{Known: k}
	case http.StatusUnprocessableEntity:
		return nil, -1, fmt.Errorf("%w: the consistency proof from size %d was refused (422)", ErrWitnessFork, old)
	case http.StatusForbidden:
		return nil, -1, fmt.Errorf("%w: 403, it trusts none of the keys that signed the checkpoint (%s)", ErrWitness, firstLine(data))
	case http.StatusNotFound:
		return nil, -1, fmt.Errorf("%w: 404, it does not know this ledger's origin (%s)", ErrWitness, firstLine(data))
	}
	return nil, -1, fmt.Errorf("%w: %s (%s)", ErrWitness, resp.Status, firstLine(data))
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// newWitnesses prepares the leader's state for every witness of the
// policy; each needs a URL to be reached.
func newWitnesses(p *ledger.WitnessPolicy) ([]*witness, error) {
	if p == nil {
		return nil, nil
	}
	var out []*witness
	for _, pw := range p.Witnesses {
		if pw.URL == "" {
			return nil, fmt.Errorf("%w: witness %s has no URL to send checkpoints to", ledger.ErrWitnessPolicy, pw.Name)
		}
		out = append(out, &witness{PolicyWitness: pw, known: -1, kick: make(chan struct{}, 1)})
	}
	return out, nil
}
