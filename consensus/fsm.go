package consensus

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/ledger"
)

// nodeMeta is what a node publishes about itself through the log (payload
// kind ledger.CmdNodeMeta), so that any node can forward to the leader's
// HTTP address.
type nodeMeta struct {
	ID   string `json:"id"`
	HTTP string `json:"http"`
	Key  string `json:"key,omitempty"` // checkpoint note verifier key
}

// decodeNodeMeta parses and checks a logged nodeMeta.
func decodeNodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("node meta: %w", err)
	}
	if dec.More() {
		return m, errors.New("node meta: trailing data")
	}
	if m.ID == "" || len(m.ID) > 128 {
		return m, errors.New("node meta: missing or overlong node id")
	}
	if m.HTTP != "" {
		if u, err := url.Parse(m.HTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return m, fmt.Errorf("node meta: bad HTTP address %q", m.HTTP)
		}
	}
	if m.Key != "" {
		if _, err := note.NewVerifier(m.Key); err != nil {
			return m, fmt.Errorf("node meta: bad checkpoint key: %w", err)
		}
	}
	return m, nil
}

// FSM is the Raft state machine: a thin adapter that decodes log entries and
// hands them to ledger.Apply, the same function replay and audit use.
//
// Concurrency: hashicorp/raft calls ApplyBatch, Snapshot and Restore from one
// goroutine, never concurrently with each other; Persist and Release of a
// snapshot run concurrently with ApplyBatch. mu guards applied and waitCh,
// which readers use to wait for an index to be applied.
type FSM struct {
	store  ledger.SnapshotStore
	logger *slog.Logger

	restores atomic.Int64 // snapshots restored since start

	// Bytes and count of the command logs applied since takeLogSizes
	// last read them: the mean log size that log retention follows
	// (retention.go).
	logBytes, logCount atomic.Uint64

	// decoded holds the envelopes the leader admitted in this process,
	// keyed by their full logged bytes (record, signature, signer), until
	// its own FSM applies them: verifying each signature a second time on
	// the leader is pure waste. Anything else — every envelope on a
	// follower, an envelope a peer put in the log — is verified in Apply.
	// decodedMu guards decoded.
	decodedMu sync.Mutex
	decoded   map[string]*ledger.Admitted

	// Log entries refused as undecodable, unknown or oversized, and
	// envelopes refused because their logged bytes did not verify. On an
	// honest cluster both stay zero.
	refusedLogs       atomic.Int64
	unverifiedRecords atomic.Int64

	mu      sync.Mutex
	applied uint64
	waitCh  chan struct{} // closed and replaced whenever applied advances
}

var _ raft.BatchingFSM = (*FSM)(nil)

// maxTxnBytes bounds the log data applied in one store transaction. Badger
// refuses a transaction larger than ~15% of a memtable (9.6 MB with the
// store's 64 MB memtables); an envelope's writes are ~3–4× its size in the
// log, and the committer caps one log entry at maxCommandBytes, so a group
// of logs up to this size fits. A larger one is split (ApplyBatch).
const maxTxnBytes = 1 << 20

// NewFSM returns a state machine over store.
func NewFSM(store ledger.SnapshotStore, logger *slog.Logger) (*FSM, error) {
	f := &FSM{store: store, logger: logger, waitCh: make(chan struct{})}
	if err := store.View(func(r ledger.Reader) (err error) {
		f.applied, err = ledger.AppliedIndex(r)
		return err
	}); err != nil {
		return nil, fmt.Errorf("read applied index: %w", err)
	}
	return f, nil
}

// Applied returns the last log index whose effects are in the store.
func (f *FSM) Applied() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.waitCh
}

func (f *FSM) setApplied(i uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i > f.applied {
		f.applied = i
		close(f.waitCh)
		f.waitCh = make(chan struct{})
	}
}

// takeLogSizes returns the bytes and count of the command logs applied
// since its last call.
func (f *FSM) takeLogSizes() (bytes, logs uint64) {
	return f.logBytes.Swap(0), f.logCount.Swap(0)
}

// Apply applies a single log.
func (f *FSM) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies logs in one store transaction per ~maxTxnBytes, each
// transaction also recording the last log index it covers (m/applied). Logs
// at or below the stored applied index are skipped: hashicorp/raft replays
// the log from the last snapshot on restart, and the store may already
// hold their effects.
//
// A group whose writes exceed what the store commits at once
// (ledger.ErrTxnTooBig) is applied log by log, and a single such log
// envelope by envelope (applyPiecewise). Each response is []ledger.Result
// for a records command, nil otherwise.
//
// Any other storage failure panics: the node cannot apply the log it
// agreed to, and continuing would make it diverge; it restarts and
// replays instead.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	applied, _ := f.Applied()
	for _, l := range logs {
		if l.Type == raft.LogCommand && l.Index > applied {
			f.logBytes.Add(uint64(len(l.Data)))
			f.logCount.Add(1)
		}
	}
	// A log whose piecewise apply a crash interrupted must resume
	// piecewise: applied whole again, it would re-judge its envelopes.
	resume, err := f.pieceInProgress()
	if err != nil {
		panic(fmt.Sprintf("traceledger: read apply progress: %v", err))
	}
	for start := 0; start < len(logs); {
		end, size := start, 0
		for end < len(logs) && (end == start || size+len(logs[end].Data) <= maxTxnBytes) {
			size += len(logs[end].Data)
			end++
		}
		err := errResume
		if resume == 0 || resume < logs[start].Index || resume > logs[end-1].Index {
			err = f.applyGroup(logs[start:end], out[start:end], applied)
		}
		if errors.Is(err, ledger.ErrTxnTooBig) || errors.Is(err, errResume) {
			err = nil
			for i := start; i < end && err == nil; i++ {
				if logs[i].Index != resume {
					err = f.applyGroup(logs[i:i+1], out[i:i+1], applied)
				}
				if logs[i].Index == resume || errors.Is(err, ledger.ErrTxnTooBig) {
					err = f.applyPiecewise(logs[i], &out[i], applied)
				}
			}
		}
		if err != nil {
			f.logger.Error("apply failed; stopping", "err", err)
			panic(fmt.Sprintf("traceledger: apply log: %v", err))
		}
		if last := logs[end-1].Index; last > applied {
			applied = last
			f.setApplied(last)
		}
		start = end
	}
	return out
}

// applyGroup applies logs in one store transaction.
func (f *FSM) applyGroup(group []*raft.Log, out []interface{}, applied uint64) error {
	return f.store.Update(func(w ledger.Writer) error {
		for i, l := range group {
			if l.Index <= applied || l.Type != raft.LogCommand || len(l.Data) == 0 {
				continue
			}
			res, err := f.applyOne(w, l)
			if err != nil {
				return fmt.Errorf("log %d: %w", l.Index, err)
			}
			out[i] = res
		}
		// Only forward: while Raft replays logs this store already holds
		// (after a restart), writing their index would move m/applied
		// back, and a crash then would re-apply them.
		if last := group[len(group)-1].Index; last > applied {
			return ledger.SetAppliedIndex(w, last)
		}
		return nil
	})
}

// applyPiecewise applies one records log whose writes are too large for
// one transaction: each envelope in its own transaction, then m/applied.
// Each envelope's transaction also records how far the log got (m/piece,
// ledger.SetApplyProgress: log index, envelope number), refused envelopes
// included, so that after a crash the replay resumes after the last
// envelope done instead of re-judging earlier refusals against a state
// that has moved on. An envelope too large even alone is refused with ErrWriteTooLarge,
// the same way on every node.
func (f *FSM) applyPiecewise(l *raft.Log, out *interface{}, applied uint64) error {
	if l.Index <= applied {
		return nil
	}
	cmd, err := ledger.DecodeCommand(l.Data)
	if err != nil || cmd.Kind != ledger.CmdRecords {
		return fmt.Errorf("log %d: too large and not a records command: %v", l.Index, err)
	}
	f.recallDecoded(cmd.Envelopes)
	next := 0 // first envelope not yet applied
	if err := f.store.View(func(r ledger.Reader) error {
		index, last, err := ledger.ApplyProgress(r)
		if err == nil && index == l.Index {
			next = int(last) + 1
		}
		return err
	}); err != nil {
		return err
	}
	piece := func(w ledger.Writer, i int) error { return ledger.SetApplyProgress(w, l.Index, uint64(i)) }
	results := make([]ledger.Result, len(cmd.Envelopes))
	for i := next; i < len(cmd.Envelopes); i++ {
		env := cmd.Envelopes[i]
		one := &ledger.Command{Kind: cmd.Kind, Time: cmd.Time, Envelopes: []*ledger.Admitted{env}}
		err := f.store.Update(func(w ledger.Writer) error {
			res, err := ledger.Apply(w, one)
			if err != nil {
				return err
			}
			results[i] = res[0]
			return piece(w, i)
		})
		if errors.Is(err, ledger.ErrTxnTooBig) {
			results[i] = ledger.Result{Signer: env.Signer, Err: ledger.ErrWriteTooLarge.Detail("its writes exceed one store transaction")}
			err = f.store.Update(func(w ledger.Writer) error { return piece(w, i) })
		}
		if err != nil {
			return fmt.Errorf("log %d envelope %d: %w", l.Index, i, err)
		}
	}
	*out = results
	f.countUnverified(l, results)
	return f.store.Update(func(w ledger.Writer) error {
		if err := ledger.ClearApplyProgress(w); err != nil {
			return err
		}
		return ledger.SetAppliedIndex(w, l.Index)
	})
}

// errResume: a log in the group was being applied piecewise.
var errResume = errors.New("resume piecewise apply")

// pieceInProgress returns the index of the log a crash interrupted while it
// was applied piecewise, or 0.
func (f *FSM) pieceInProgress() (uint64, error) {
	var idx uint64
	err := f.store.View(func(r ledger.Reader) (err error) {
		idx, _, err = ledger.ApplyProgress(r)
		return err
	})
	return idx, err
}

// maxLogBytes bounds a log entry this node applies. The committer never
// proposes more than maxCommandBytes of envelopes plus their framing; a
// larger entry did not come from an honest leader.
const maxLogBytes = maxCommandBytes + maxCommandEnvelopes*(2*binary.MaxVarintLen64) + 64

// refuse skips a log entry that no honest leader proposes: every node
// skips the same bytes alike, so they stay in agreement, and the node
// keeps serving instead of stopping on a peer's say-so.
func (f *FSM) refuse(l *raft.Log, why error) (interface{}, error) {
	f.refusedLogs.Add(1)
	f.logger.Error("refused a log entry that does not decode", "index", l.Index, "term", l.Term, "kind", ledger.KindName(l.Data[0]), "bytes", len(l.Data), "err", why)
	return nil, nil
}

func (f *FSM) applyOne(w ledger.Writer, l *raft.Log) (interface{}, error) {
	if len(l.Data) > maxLogBytes {
		return f.refuse(l, fmt.Errorf("%d bytes, more than %d", len(l.Data), maxLogBytes))
	}
	if l.Data[0] == ledger.CmdCheckpoint {
		// A malformed checkpoint is skipped on every node alike; only a
		// storage failure stops the node.
		if err := ledger.PutCheckpoint(w, l.Data[1:]); err != nil && !errors.Is(err, ledger.ErrCheckpoint) {
			return nil, err
		}
		return nil, nil
	}
	if l.Data[0] == ledger.CmdNodeMeta {
		m, err := decodeNodeMeta(l.Data[1:])
		if err != nil {
			return f.refuse(l, err)
		}
		return nil, w.Set(ledger.NodeMetaKey(m.ID), l.Data[1:])
	}
	cmd, err := ledger.DecodeCommand(l.Data)
	if err != nil {
		return f.refuse(l, err)
	}
	if len(cmd.Envelopes) > maxCommandEnvelopes {
		return f.refuse(l, fmt.Errorf("%d envelopes, more than %d", len(cmd.Envelopes), maxCommandEnvelopes))
	}
	f.recallDecoded(cmd.Envelopes)
	res, err := ledger.Apply(w, cmd)
	if err != nil {
		return nil, err
	}
	f.countUnverified(l, res)
	return res, nil
}

// countUnverified logs and counts envelopes Apply refused because their
// logged bytes did not verify.
func (f *FSM) countUnverified(l *raft.Log, res []ledger.Result) {
	for i, r := range res {
		if r.Unverified {
			f.unverifiedRecords.Add(1)
			f.logger.Error("refused a logged envelope that does not verify", "index", l.Index, "envelope", i, "signer", r.Signer.Hex(), "err", r.Err)
		}
	}
}

// RefusedLogs counts log entries refused as undecodable, unknown or
// oversized since the node started.
func (f *FSM) RefusedLogs() int64 { return f.refusedLogs.Load() }

// UnverifiedRecords counts logged envelopes refused since the node started
// because their record or signature did not verify.
func (f *FSM) UnverifiedRecords() int64 { return f.unverifiedRecords.Load() }

// The decoded-record cache is the one channel around Raft, so it must pay
// for itself, and it does: applying a record whose verdict is adopted
// costs the leader 31 µs against 84 µs when it must verify the logged
// bytes again (ledger BenchmarkApplyAdopted vs BenchmarkApplyVerifies,
// 2 cores), and the leader's CPU bounds the cluster's ingest. It carries
// no verdict between nodes: a key is every byte of the envelope.
//
// maxDecoded bounds the decoded-record cache; entries proposed by a
// leader that lost its leadership before applying them would otherwise
// stay forever.
const maxDecoded = 1 << 16

// envelopeKey is an envelope's full logged bytes: two envelopes share a
// verdict only if they share every byte of record, signature and signer.
func envelopeKey(e *ledger.Admitted) string {
	return string(e.Canonical) + string(e.Signature) + string(e.Signer[:])
}

// rememberDecoded keeps the envelopes the leader admitted itself, in this
// process, for its own Apply.
func (f *FSM) rememberDecoded(envs []*ledger.Admitted) {
	f.decodedMu.Lock()
	defer f.decodedMu.Unlock()
	if f.decoded == nil || len(f.decoded)+len(envs) > maxDecoded {
		f.decoded = make(map[string]*ledger.Admitted, len(envs))
	}
	for _, e := range envs {
		if e.Verified() {
			f.decoded[envelopeKey(e)] = e
		}
	}
}

// recallDecoded gives envelopes decoded from the log the verdict this
// process reached when it admitted the very same bytes.
func (f *FSM) recallDecoded(envs []*ledger.Admitted) {
	f.decodedMu.Lock()
	defer f.decodedMu.Unlock()
	if len(f.decoded) == 0 {
		return
	}
	for _, e := range envs {
		k := envelopeKey(e)
		if v, ok := f.decoded[k]; ok {
			e.Adopt(v)
			delete(f.decoded, k)
		}
	}
}

// Snapshot returns a reference to the store's own state when the store
// keeps it on disk (snapshots.go), and otherwise captures a read
// transaction whose I/O happens in Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if d, ok := asDurable(f.store); ok {
		applied, _ := f.Applied()
		return &refSnapshot{store: d, applied: applied}, nil
	}
	return &fsmSnapshot{snap: f.store.Snapshot()}, nil
}

// Restore replaces the state with a snapshot. The store swaps it in
// atomically; readers block only for the swap. A reference to this
// node's own state (which snapshotStore.Open never hands out, but a peer
// could send) is accepted only when the store already holds what it names.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	br := bufio.NewReader(rc)
	if head, _ := br.Peek(maxStateRef + 1); bytes.HasPrefix(head, []byte(stateRefMagic)) {
		named, ok := parseStateRef(head)
		if applied, _ := f.Applied(); !ok || named > applied {
			return fmt.Errorf("restore snapshot: %w: it names applied index %d, the store holds %d", ErrStateBehind, named, applied)
		}
		return nil
	}
	f.restores.Add(1)
	if err := f.store.Restore(br); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	var applied uint64
	if err := f.store.View(func(r ledger.Reader) (err error) {
		applied, err = ledger.AppliedIndex(r)
		return err
	}); err != nil {
		return err
	}
	f.mu.Lock()
	f.applied = applied
	close(f.waitCh)
	f.waitCh = make(chan struct{})
	f.mu.Unlock()
	return nil
}

type fsmSnapshot struct{ snap ledger.Snapshot }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.snap.Close() }
