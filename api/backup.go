package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/backup"
)

// Snapshots opens point-in-time views of a node's whole state, for
// GET /v1/backup. *badgerkv.DB implements it.
type Snapshots interface {
	Snapshot() ledger.Snapshot
	// EstimateSize is the state's rough size in bytes, for progress.
	EstimateSize() int64
}

// BackupContentType is the media type of a backup file (ledger/backup).
const BackupContentType = "application/vnd.traceledger.backup"

var errBackupNotReady = &httpError{status: http.StatusServiceUnavailable, code: "not_ready",
	msg: "the ledger has no cosigned checkpoint yet; retry in a second"}

// backupAlign bounds how often getBackup reopens its snapshot to catch the
// checkpoint up with it, and how long it waits each time.
const (
	backupAlignTries = 4
	backupAlignWait  = 2 * time.Second
)

// getBackup answers GET /v1/backup with a backup file (ledger/backup) of
// this node's state: one Badger read transaction, streamed as it is read.
//
// Who may: only a caller with the cluster secret (RequireSecret: 401
// without or with a wrong one, 403 when the node has none). The entries
// are public, but a backup also carries the members' metadata, and a
// full-state stream is the most expensive read the node serves.
//
// Which state: the backup is most useful when its latest cosigned
// checkpoint covers the whole tree, so that the restored ledger's size
// and head are those of a checkpoint the old nodes signed. Checkpoints
// trail writes by a round (≤ 200 ms plus cosigning), so when the snapshot
// runs ahead of its checkpoint the handler waits for a checkpoint covering
// it and opens a new snapshot, a few times; under a steady stream of
// writes it then sends the last one, whose checkpoint covers a prefix of
// its tree (the header says which: checkpoint_size ≤ size).
//
// Each request holds its own snapshot, a Badger read transaction, from
// the first byte it sends to the last; writes go on meanwhile.
func (s *Server) getBackup(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Snapshots == nil {
		s.writeError(w, r, errNotFound.with("this node does not serve backups"))
		return
	}
	snap, h, err := s.alignedSnapshot(r.Context())
	if err != nil {
		if r.Context().Err() != nil {
			return // the client has gone
		}
		if errors.Is(err, backup.ErrNotReady) {
			err = errBackupNotReady
		}
		s.writeError(w, r, err)
		return
	}
	defer snap.Close()
	h.Node = s.cluster.Status().ID
	h.Taken = s.cfg.Clock().UTC()
	h.Estimate = s.cfg.Snapshots.EstimateSize()
	w.Header().Set("Content-Type", BackupContentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="traceledger-%d.backup"`, h.Size))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// The server's write timeout is for ordinary answers; a backup takes
	// as long as its size needs, as long as the client keeps reading.
	n, err := backup.Write(&deadlineWriter{w: w, rc: http.NewResponseController(w), idle: time.Minute}, h, snap)
	if err != nil {
		// The status is sent; the client sees a truncated file.
		s.logger.Warn("backup stream cut", "bytes", n, "err", err)
		return
	}
	s.logger.Info("backup sent", "size", h.Size, "applied", h.Applied, "checkpoint_size", h.CheckpointSize, "bytes", n)
}

// alignedSnapshot opens a snapshot whose latest checkpoint covers its
// whole tree if one comes within backupAlignTries × backupAlignWait.
func (s *Server) alignedSnapshot(ctx context.Context) (ledger.Snapshot, backup.Header, error) {
	for try := 1; ; try++ {
		snap := s.cfg.Snapshots.Snapshot()
		h, err := backup.Describe(snap)
		switch {
		case err == nil && (h.CheckpointSize == h.Size || try == backupAlignTries):
			return snap, h, nil
		case err != nil && !errors.Is(err, backup.ErrNotReady):
			snap.Close()
			return nil, h, err
		}
		snap.Close()
		// Without a genesis entry there is no ledger to wait for.
		if errors.Is(err, backup.ErrNotReady) && (h.Origin == "" || try == backupAlignTries) {
			return nil, h, err
		}
		wctx, cancel := context.WithTimeout(ctx, backupAlignWait)
		// A checkpoint that does not come in time is no error: the next
		// try, or the last, sends what there is.
		_, _, _ = s.cluster.WaitCheckpoint(wctx, max(h.Size, 1))
		cancel()
		if ctx.Err() != nil {
			return nil, h, ctx.Err()
		}
	}
}

// deadlineWriter pushes the connection's write deadline forward before
// each write, so a slow but live client can take a long backup and a
// stalled one is cut after idle.
type deadlineWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle)) // unsupported by a test recorder: then no deadline at all
	return d.w.Write(p)
}
