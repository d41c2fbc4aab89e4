package consensus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
)

// Raft log payloads. The first byte of a LogCommand's data says what it
// carries: ledger command kinds (1, 2) are ledger.Command; cmdNodeMeta is
// the consensus layer's own record of a node's HTTP address.
const cmdNodeMeta byte = 0x80

// nodeMeta is what a node publishes about itself through the log, so that
// any node can forward to the leader's HTTP address.
type nodeMeta struct {
	ID   string `json:"id"`
	HTTP string `json:"http"`
	Key  string `json:"key,omitempty"` // checkpoint note verifier key
}

// keyNodeMeta is the consensus layer's key prefix in the shared store:
//
//	n/<node id>   JSON nodeMeta
func keyNodeMeta(id string) []byte { return append([]byte("n/"), id...) }

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

	// decoded holds records the leader has already decoded and validated
	// on admission, by canonical bytes, until its own FSM applies them:
	// decoding each record a second time on the leader is pure waste.
	// Followers find nothing here and decode. decodedMu guards decoded.
	decodedMu sync.Mutex
	decoded   map[string]*ledger.Record

	mu      sync.Mutex
	applied uint64
	waitCh  chan struct{} // closed and replaced whenever applied advances
}

var _ raft.BatchingFSM = (*FSM)(nil)

// maxTxnBytes bounds the log data applied in one store transaction. Badger
// refuses a transaction larger than ~15% of a memtable (9.6 MB with the
// 64 MB default); an envelope's writes are ~3–4× its size in the log, and
// the committer caps one log entry at maxCommandBytes, so a group of logs up
// to this size always fits.
const maxTxnBytes = 2 << 20

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
// Each envelope's transaction also records how far the log got
// (keyPiece = log index ‖ envelope number), refused envelopes included, so
// that after a crash the replay resumes after the last envelope done
// instead of re-judging earlier refusals against a state that has moved
// on. An envelope too large even alone is refused with ErrWriteTooLarge,
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
		v, ok, err := r.Get(keyPiece)
		if err == nil && ok && len(v) == 16 && binary.BigEndian.Uint64(v) == l.Index {
			next = int(binary.BigEndian.Uint64(v[8:])) + 1
		}
		return err
	}); err != nil {
		return err
	}
	piece := func(w ledger.Writer, i int) error {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:], l.Index)
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		return w.Set(keyPiece, b[:])
	}
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
	return f.store.Update(func(w ledger.Writer) error {
		if err := w.Set(keyPiece, nil); err != nil {
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
	err := f.store.View(func(r ledger.Reader) error {
		v, ok, err := r.Get(keyPiece)
		if err == nil && ok && len(v) == 16 {
			idx = binary.BigEndian.Uint64(v)
		}
		return err
	})
	return idx, err
}

// keyPiece records the progress of a log applied piecewise:
//
//	m/piece   log index:8 ‖ last envelope applied:8, empty when none
var keyPiece = []byte("m/piece")

func (f *FSM) applyOne(w ledger.Writer, l *raft.Log) (interface{}, error) {
	if l.Data[0] == cmdCheckpoint {
		// A malformed checkpoint is skipped on every node alike; only a
		// storage failure stops the node.
		if err := ledger.PutCheckpoint(w, l.Data[1:]); err != nil && !errors.Is(err, ledger.ErrCheckpoint) {
			return nil, err
		}
		return nil, nil
	}
	if l.Data[0] == cmdNodeMeta {
		var m nodeMeta
		if err := json.Unmarshal(l.Data[1:], &m); err != nil {
			return nil, fmt.Errorf("node meta: %w", err)
		}
		return nil, w.Set(keyNodeMeta(m.ID), l.Data[1:])
	}
	cmd, err := ledger.DecodeCommand(l.Data)
	if err != nil {
		return nil, err
	}
	f.recallDecoded(cmd.Envelopes)
	res, err := ledger.Apply(w, cmd)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// maxDecoded bounds the decoded-record cache; entries proposed by a
// leader that lost its leadership before applying them would otherwise
// stay forever.
const maxDecoded = 1 << 16

// rememberDecoded keeps the leader's decoded records for its own Apply.
func (f *FSM) rememberDecoded(envs []*ledger.Admitted) {
	f.decodedMu.Lock()
	defer f.decodedMu.Unlock()
	if f.decoded == nil || len(f.decoded)+len(envs) > maxDecoded {
		f.decoded = make(map[string]*ledger.Record, len(envs))
	}
	for _, e := range envs {
		if e.Record != nil {
			f.decoded[string(e.Canonical)] = e.Record
		}
	}
}

// recallDecoded fills in the records the leader decoded on admission.
func (f *FSM) recallDecoded(envs []*ledger.Admitted) {
	f.decodedMu.Lock()
	defer f.decodedMu.Unlock()
	if len(f.decoded) == 0 {
		return
	}
	for _, e := range envs {
		if r, ok := f.decoded[string(e.Canonical)]; ok {
			e.Record = r
			delete(f.decoded, string(e.Canonical))
		}
	}
}

// Snapshot captures a read transaction; the I/O happens in Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.store.Snapshot()}, nil
}

// Restore replaces the state with a snapshot. The store swaps it in
// atomically; readers block only for the swap.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.restores.Add(1)
	if err := f.store.Restore(rc); err != nil {
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
