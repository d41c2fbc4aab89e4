package consensus

import (
	"errors"
	"slices"
	"testing"
)

// TestJoinNonvoter: a non-voter is a member with Raft's Nonvoter suffrage
// and role "nonvoter"; it does not change how many votes a commit needs;
// its checkpoint key is not among those a checkpoint's majority counts; a
// repeated join is a no-op, and a voter cannot rejoin as a non-voter.
func TestJoinNonvoter(t *testing.T) {
	signer, vkey := checkpointKeys(t, "t")
	n := startNode(t, func(c *Config) {
		c.HTTPAdvertise = "http://t.example:8080"
		c.CheckpointKey, c.CheckpointVerifier = signer, vkey
	})
	pollUntil(t, "the leader's key", func() bool { m, ok := n.meta("t"); return ok && m.Key == vkey })
	_, replicaKey := checkpointKeys(t, "r")
	// Nothing listens at the replica's address: a voter there would leave
	// the cluster without a quorum for the next commit; a non-voter does not.
	if err := n.JoinNonvoter("r", "127.0.0.1:1", "http://r.example", replicaKey); err != nil {
		t.Fatalf("JoinNonvoter: %v", err)
	}
	if err := n.JoinNonvoter("r", "127.0.0.1:1", "http://r.example", replicaKey); err != nil {
		t.Fatalf("repeated JoinNonvoter: %v", err)
	}
	st := n.Status()
	roles := map[string]string{}
	for _, m := range st.Members {
		roles[m.ID] = m.Suffrage + "/" + m.Role()
	}
	if len(roles) != 2 || roles["t"] != "Voter/voter" || roles["r"] != "Nonvoter/nonvoter" {
		t.Fatalf("members %v", roles)
	}
	if n.voters() != 1 {
		t.Errorf("voters %d, want 1", n.voters())
	}
	if keys := st.CheckpointKeys(); !slices.Equal(keys, []string{vkey}) {
		t.Errorf("checkpoint keys %v, want only the voter's", keys)
	}
	if err := n.JoinNonvoter("t", n.RaftAddr(), "", ""); !errors.Is(err, ErrMemberConflict) {
		t.Errorf("a voter rejoining as a non-voter: %v, want ErrMemberConflict", err)
	}
	if err := n.JoinNonvoter("r", "127.0.0.1:2", "http://r.example", replicaKey); !errors.Is(err, ErrMemberConflict) {
		t.Errorf("the non-voter's id at another address: %v, want ErrMemberConflict", err)
	}
	// The single voter still commits alone.
	if err := n.publishMeta(nodeMeta{ID: "t", HTTP: "http://t2.example", Key: vkey}); err != nil {
		t.Fatalf("a commit with a non-voter that cannot be reached: %v", err)
	}
}
