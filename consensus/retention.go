package consensus

import (
	"context"
	"time"
)

// Log retention by bytes.
//
// hashicorp/raft counts logs: it snapshots every SnapshotThreshold logs
// and keeps TrailingLogs of them after a snapshot, so that a follower that
// was away briefly catches up from the log instead of receiving the whole
// state. A log here holds one record (one write a second from a phone) or
// hundreds (group commit under bulk ingest: ~250 records, 120 KB). A count
// right for one is wrong for the other: 2 048 logs is half an hour of a
// quiet ledger but 400 MB of a busy one.
//
// So, unless the operator fixed the counts (Config.TrailingLogs), the
// node retunes them from the mean size of the logs it applied lately:
// TrailingLogs keeps about retainBytes of log, between minTrailing and
// maxTrailing logs, and SnapshotThreshold is half of it. Raft applies new
// values at its next snapshot check (ReloadConfig).
const (
	retainBytes   = 64 << 20
	minTrailing   = 512
	maxTrailing   = 16384
	retuneEvery   = 30 * time.Second
	minRetuneLogs = 32 // logs applied since the last retune before the mean is trusted
)

// trailingFor returns the trailing-log count and snapshot threshold that
// keep about retainBytes of logs of meanBytes each.
func trailingFor(meanBytes uint64) (trailing, threshold uint64) {
	trailing = retainBytes / max(meanBytes, 1)
	trailing = min(max(trailing, minTrailing), maxTrailing)
	return trailing, trailing / 2
}

// retuneRetention runs until ctx ends (Node.Shutdown): every retuneEvery
// it reads the FSM's applied-log counters and, when the right counts moved
// by more than a quarter, reloads Raft's configuration. Started by New
// only when the counts were not fixed.
func (n *Node) retuneRetention(ctx context.Context) {
	t := time.NewTicker(retuneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		bytes, logs := n.fsm.takeLogSizes()
		if logs < minRetuneLogs {
			continue
		}
		n.applyRetention(bytes / logs)
	}
}

// applyRetention sets the counts for logs of meanBytes, unless the current
// ones are within a quarter of them.
func (n *Node) applyRetention(meanBytes uint64) {
	trailing, threshold := trailingFor(meanBytes)
	rc := n.raft.ReloadableConfig()
	if d := int64(rc.TrailingLogs) - int64(trailing); d*4 < int64(trailing) && -d*4 < int64(trailing) {
		return
	}
	rc.TrailingLogs, rc.SnapshotThreshold = trailing, threshold
	if err := n.raft.ReloadConfig(rc); err != nil {
		n.logger.Warn("retune Raft log retention", "err", err)
		return
	}
	n.logger.Debug("Raft log retention retuned", "mean_log_bytes", meanBytes, "trailing_logs", trailing, "snapshot_threshold", threshold)
}
