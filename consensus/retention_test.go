package consensus

import "testing"

func TestTrailingForKeepsAboutRetainBytes(t *testing.T) {
	for _, c := range []struct{ mean, trailing uint64 }{
		{0, maxTrailing},
		{100, maxTrailing},                     // one small record per log
		{120 << 10, retainBytes / (120 << 10)}, // group commit under ingest
		{1 << 20, minTrailing},                 // the largest logs
	} {
		trailing, threshold := trailingFor(c.mean)
		if trailing != c.trailing || threshold != trailing/2 {
			t.Errorf("logs of %d bytes: trailing %d, threshold %d; want %d, %d", c.mean, trailing, threshold, c.trailing, c.trailing/2)
		}
	}
}

func TestRetentionFollowsAppliedLogSizes(t *testing.T) {
	n := startNode(t, nil)
	n.fsm.takeLogSizes()
	n.submit(t, registrations(t, n.admin, "r", 4))
	bytes, logs := n.fsm.takeLogSizes()
	if logs == 0 || bytes == 0 {
		t.Fatalf("applied log sizes %d bytes in %d logs after a write", bytes, logs)
	}
	if b, l := n.fsm.takeLogSizes(); b != 0 || l != 0 {
		t.Fatalf("sizes not reset: %d, %d", b, l)
	}
	n.applyRetention(120 << 10)
	rc := n.raft.ReloadableConfig()
	if want := retainBytes / (120 << 10); rc.TrailingLogs != uint64(want) || rc.SnapshotThreshold != uint64(want/2) {
		t.Fatalf("after 120 KB logs: trailing %d, threshold %d; want %d, %d", rc.TrailingLogs, rc.SnapshotThreshold, want, want/2)
	}
	// Within a quarter: left alone.
	n.applyRetention(110 << 10)
	if got := n.raft.ReloadableConfig(); got != rc {
		t.Fatalf("a small change reloaded the config: %+v, was %+v", got, rc)
	}
	n.applyRetention(200)
	if got := n.raft.ReloadableConfig(); got.TrailingLogs != maxTrailing {
		t.Fatalf("small logs: trailing %d, want %d", got.TrailingLogs, maxTrailing)
	}

	fixed := startNode(t, func(c *Config) { c.TrailingLogs = 64 })
	if fixed.raft.ReloadableConfig().TrailingLogs != 64 {
		t.Fatal("a node with fixed trailing logs retunes them")
	}
}
