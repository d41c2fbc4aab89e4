package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/traceledger/traceledger/ledger"
)

// ErrUnknownNode: no cluster member has that id.
var ErrUnknownNode = errors.New("consensus: unknown node")

// ErrMemberConflict: a join names a member's id, or its Raft address, with
// other addresses or another checkpoint key. A member changes its addresses
// or key only by being removed and joining again: otherwise whoever can
// send a join could re-point a member, and the checkpoint key clients trust.
var ErrMemberConflict = errors.New("consensus: conflicts with a current member; remove that member first")

const membershipTimeout = 10 * time.Second

func (n *Node) publishMeta(m nodeMeta) error {
	if cur, ok := n.meta(m.ID); ok && cur == m {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return mapErr(n.raft.Apply(append([]byte{ledger.CmdNodeMeta}, b...), membershipTimeout).Error())
}

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	return mapRaftError(err)
}

func (n *Node) meta(id string) (nodeMeta, bool) {
	var m nodeMeta
	var ok bool
	_ = n.store.View(func(r ledger.Reader) error {
		v, found, err := r.Get(ledger.NodeMetaKey(id))
		if err != nil || !found {
			return err
		}
		ok = json.Unmarshal(v, &m) == nil
		return nil
	})
	return m, ok
}

// Join adds a voter. Only the leader can; others return ErrNotLeader.
// Joining again exactly as before (same id, Raft address, HTTP address and
// key) is a no-op, so a restarted node may repeat its join safely. A join
// that reuses a member's id or Raft address with anything different is
// refused with ErrMemberConflict until that member is removed. A non-voter
// that joins as a voter is promoted.
func (n *Node) Join(id, raftAddr, httpURL, key string) error {
	return n.join(id, raftAddr, httpURL, key, raft.Voter)
}

// JoinNonvoter adds a non-voting member (Raft's Nonvoter suffrage): a read
// replica that receives and applies the whole log but never counts for a
// quorum, an election or a checkpoint's cosignatures, so replicas can be
// added near the readers without slowing or weakening writes. The rules of
// Join apply; a voter cannot rejoin as a non-voter (ErrMemberConflict):
// demoting a member is a removal and a new join.
func (n *Node) JoinNonvoter(id, raftAddr, httpURL, key string) error {
	return n.join(id, raftAddr, httpURL, key, raft.Nonvoter)
}

func (n *Node) join(id, raftAddr, httpURL, key string, suffrage raft.ServerSuffrage) error {
	if id == "" || raftAddr == "" {
		return errors.New("consensus: join needs a node id and a raft address")
	}
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return mapErr(err)
	}
	member := false
	for _, s := range cf.Configuration().Servers {
		sameID, sameAddr := s.ID == raft.ServerID(id), s.Address == raft.ServerAddress(raftAddr)
		switch {
		case sameID && sameAddr:
			if m, ok := n.meta(id); ok && ((httpURL != "" && m.HTTP != httpURL) || (key != "" && m.Key != "" && m.Key != key)) {
				return fmt.Errorf("%w: node %s is a member with HTTP %s and another checkpoint key or address", ErrMemberConflict, id, m.HTTP)
			}
			if suffrage == raft.Nonvoter && s.Suffrage == raft.Voter {
				return fmt.Errorf("%w: node %s is a voter", ErrMemberConflict, id)
			}
			member = s.Suffrage == suffrage
		case sameID:
			return fmt.Errorf("%w: node %s is a member at Raft address %s", ErrMemberConflict, id, s.Address)
		case sameAddr:
			return fmt.Errorf("%w: Raft address %s belongs to member %s", ErrMemberConflict, raftAddr, s.ID)
		}
	}
	if !member {
		add, what := n.raft.AddVoter, "voter"
		if suffrage == raft.Nonvoter {
			add, what = n.raft.AddNonvoter, "non-voter"
		}
		if err := add(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, membershipTimeout).Error(); err != nil {
			return fmt.Errorf("add %s %s: %w", what, id, mapErr(err))
		}
		n.logger.Info("node joined", "id", id, "raft", raftAddr, "http", httpURL, "suffrage", what)
	}
	if httpURL != "" || key != "" {
		return n.publishMeta(nodeMeta{ID: id, HTTP: httpURL, Key: key})
	}
	return nil
}

// Remove removes a member. Only the leader can. Removing the leader itself
// first hands leadership to another voter.
func (n *Node) Remove(id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return mapErr(err)
	}
	found := false
	for _, s := range cf.Configuration().Servers {
		found = found || s.ID == raft.ServerID(id)
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrUnknownNode, id)
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout).Error(); err != nil {
		return fmt.Errorf("remove %s: %w", id, mapErr(err))
	}
	n.logger.Info("node removed", "id", id)
	return nil
}

// TransferLeadership hands leadership to another voter.
func (n *Node) TransferLeadership() error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	return mapErr(n.raft.LeadershipTransfer().Error())
}

func (n *Node) voters() int {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return 0
	}
	k := 0
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			k++
		}
	}
	return k
}

// Roles of members, as Member.Role names them and GET /v1/cluster shows
// them.
const (
	RoleVoter    = "voter"
	RoleNonvoter = "nonvoter"
)

// Member describes one member of the cluster as this node sees it.
type Member struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	HTTP string `json:"http,omitempty"`
	// Suffrage is Raft's: "Voter", or "Nonvoter" for a read replica (see
	// JoinNonvoter).
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
	// CheckpointKey is the node's note verifier key: trust it to check
	// the node's cosignatures of checkpoints.
	CheckpointKey string `json:"checkpoint_key,omitempty"`
}

// Role is RoleVoter or RoleNonvoter.
func (m Member) Role() string {
	if m.Suffrage == raft.Voter.String() {
		return RoleVoter
	}
	return RoleNonvoter
}

// Status is this node's view of the cluster.
type Status struct {
	ID       string   `json:"id"`
	State    string   `json:"state"` // Leader, Follower, Candidate, Shutdown
	Leader   string   `json:"leader,omitempty"`
	Term     uint64   `json:"term"`
	Applied  uint64   `json:"applied_index"`
	Commit   uint64   `json:"commit_index"`
	LastLog  uint64   `json:"last_log_index"`
	Members  []Member `json:"nodes"`
	Snapshot uint64   `json:"last_snapshot_index"`
	// Witnesses is what this node knows of the outside witnesses; only
	// the leader sends them checkpoints.
	Witnesses []WitnessStatus `json:"witnesses,omitempty"`
}

// CheckpointKeys lists the voters' published checkpoint keys: only voters
// cosign checkpoints, so only theirs count towards a majority.
func (s Status) CheckpointKeys() []string {
	var keys []string
	for _, m := range s.Members {
		if m.CheckpointKey != "" && m.Role() == RoleVoter {
			keys = append(keys, m.CheckpointKey)
		}
	}
	return keys
}

// Status returns this node's view of the cluster.
func (n *Node) Status() Status {
	stats := n.raft.Stats()
	_, leaderID := n.raft.LeaderWithID()
	// Raft's Stats are strings; the API answers numbers.
	snapshot, _ := strconv.ParseUint(stats["last_snapshot_index"], 10, 64)
	st := Status{ID: n.cfg.ID, State: n.raft.State().String(), Leader: string(leaderID), Term: n.raft.CurrentTerm(),
		Applied: n.Applied(), Commit: n.raft.CommitIndex(), LastLog: n.raft.LastIndex(), Snapshot: snapshot,
		Witnesses: n.WitnessStatuses()}
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			m := Member{ID: string(s.ID), Raft: string(s.Address), Suffrage: s.Suffrage.String(), Leader: s.ID == leaderID}
			if meta, ok := n.meta(string(s.ID)); ok {
				m.HTTP, m.CheckpointKey = meta.HTTP, meta.Key
			}
			st.Members = append(st.Members, m)
		}
	}
	return st
}

// LeaderPeerURL returns the base URL of the leader's node-to-node HTTP
// (see PeerURL), or "" when there is no leader.
func (n *Node) LeaderPeerURL() string {
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return ""
	}
	return PeerURL(string(addr))
}
