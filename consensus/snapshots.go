package consensus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
)

// Snapshots by reference.
//
// Raft takes a snapshot so that it can drop the log entries the snapshot
// covers. A node whose state store keeps its state on disk on its own
// (Badger) already holds that state: copying all of it into a snapshot
// file every few thousand log entries would write the whole ledger again
// each time (at 10⁶ entries, 420 MB per snapshot), and keeping the log
// instead makes it grow without bound and be read back on every start.
//
// So a node's own snapshot holds no state, only a reference: the line
// stateRefMagic and the applied index the store had reached when Raft
// asked for the snapshot, written after the store has synced that state
// to disk (durableStore.Sync). The state is produced when a snapshot is
// opened (snapshotStore.Open): for a follower too far behind for the log,
// the leader streams its live store, which is at or past the snapshot's
// index, through a temporary file (Raft must know the stream's length
// before it sends it). The follower restores that state, records its
// applied index, and skips the log entries it already covers, as it does
// after every restart. This is rqlite's approach for the same reason.
//
// A snapshot received from a leader holds the whole state, like a
// snapshot written before this scheme, and opens as it is.

// stateRefMagic starts a snapshot that refers to the node's own store.
const stateRefMagic = "traceledger state by reference v1\n"

// maxStateRef bounds a reference snapshot: the magic and a decimal index.
const maxStateRef = len(stateRefMagic) + 21

// ErrStateBehind means a snapshot refers to state the store does not
// hold: the store lost writes it had reported durable.
var ErrStateBehind = errors.New("the state store is behind the snapshot that refers to it")

// durableStore is a state store that keeps its state across restarts.
// Stores that do not (in-memory ones) get whole-state snapshots.
type durableStore interface {
	ledger.SnapshotStore
	// Persistent reports whether the state outlives the process.
	Persistent() bool
	// Sync makes every committed update durable.
	Sync() error
}

// asDurable returns store as a durableStore when its state outlives the
// process.
func asDurable(store ledger.SnapshotStore) (durableStore, bool) {
	d, ok := store.(durableStore)
	return d, ok && d.Persistent()
}

// stateRef is the content of a reference snapshot.
func stateRef(applied uint64) []byte {
	return strconv.AppendUint([]byte(stateRefMagic), applied, 10)
}

// parseStateRef returns the applied index a reference snapshot names.
func parseStateRef(b []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(stateRefMagic))
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest), 10, 64)
	return n, err == nil
}

// refSnapshot is the FSM's snapshot over a durable store.
type refSnapshot struct {
	store   durableStore
	applied uint64 // the store's applied index when Raft asked
}

// Persist syncs the store, then writes the reference. Raft drops log
// entries only after Persist returns, so they are in durable state first.
func (s *refSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.store.Sync(); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if _, err := sink.Write(stateRef(s.applied)); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *refSnapshot) Release() {}

// snapshotStore is Raft's file snapshot store, whose Open turns a
// reference into the state it refers to.
type snapshotStore struct {
	*raft.FileSnapshotStore
	state  ledger.SnapshotStore
	dir    string // for the temporary state files Open writes
	logger *slog.Logger
}

// sendingPattern names the temporary files of snapshotStore.Open.
const sendingPattern = "sending-state-*.tmp"

func newSnapshotStore(dir string, state ledger.SnapshotStore, hlog hclog.Logger, logger *slog.Logger) (*snapshotStore, error) {
	files, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog)
	if err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}
	// Temporary files a crash left behind while a snapshot was sent.
	stale, _ := filepath.Glob(filepath.Join(dir, sendingPattern))
	for _, name := range stale {
		os.Remove(name)
	}
	return &snapshotStore{FileSnapshotStore: files, state: state, dir: dir, logger: logger}, nil
}

// reference reports whether the snapshot meta describes is a reference,
// and the applied index it names. A snapshot larger than a reference is
// not opened: FileSnapshotStore.Open reads a whole file to check its CRC.
func (s *snapshotStore) reference(meta *raft.SnapshotMeta) (uint64, bool, error) {
	if meta.Size > int64(maxStateRef) {
		return 0, false, nil
	}
	_, rc, err := s.FileSnapshotStore.Open(meta.ID)
	if err != nil {
		return 0, false, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return 0, false, fmt.Errorf("read snapshot %s: %w", meta.ID, err)
	}
	applied, ok := parseStateRef(b)
	return applied, ok, nil
}

// Open opens a snapshot. A reference is replaced by the store's current
// state, written to a temporary file that closing the reader removes; its
// applied index is at or past the snapshot's.
func (s *snapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.FileSnapshotStore.Open(id)
	if err != nil || meta.Size > int64(maxStateRef) {
		return meta, rc, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("read snapshot %s: %w", id, err)
	}
	applied, ok := parseStateRef(b)
	if !ok {
		return meta, io.NopCloser(bytes.NewReader(b)), nil
	}
	f, size, err := s.materialize(applied)
	if err != nil {
		return nil, nil, fmt.Errorf("open snapshot %s: %w", id, err)
	}
	m := *meta
	m.Size = size
	s.logger.Info("streaming the state for a snapshot", "snapshot", id, "bytes", size)
	return &m, f, nil
}

// materialize writes the store's current state to a temporary file and
// returns it open at its start.
func (s *snapshotStore) materialize(applied uint64) (*tempFile, int64, error) {
	snap := s.state.Snapshot()
	defer snap.Close()
	var have uint64
	if err := snap.View(func(r ledger.Reader) (err error) {
		have, err = ledger.AppliedIndex(r)
		return err
	}); err != nil {
		return nil, 0, err
	}
	if have < applied {
		return nil, 0, fmt.Errorf("%w: applied %d, snapshot taken at %d", ErrStateBehind, have, applied)
	}
	f, err := os.CreateTemp(s.dir, sendingPattern)
	if err != nil {
		return nil, 0, err
	}
	t := &tempFile{File: f}
	w := bufio.NewWriterSize(f, 1<<20)
	n, err := snap.WriteTo(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		t.Close()
		return nil, 0, err
	}
	return t, n, nil
}

// tempFile is a file removed when closed.
type tempFile struct{ *os.File }

func (t *tempFile) Close() error {
	err := t.File.Close()
	os.Remove(t.Name())
	return err
}
