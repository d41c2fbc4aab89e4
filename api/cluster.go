package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

// ClusterView is the answer of GET /v1/cluster: this node's view of the
// membership, with each member's own report of its applied index. Nodes
// replaces the embedded Status's member list in the JSON.
type ClusterView struct {
	consensus.Status
	Size uint64 `json:"ledger_size"`
	Head string `json:"ledger_head"`
	// Origin names the ledger in its checkpoints; records may carry it
	// as "ledger".
	Origin string     `json:"ledger_origin"`
	Nodes  []NodeView `json:"nodes"`
}

// NodeView is one member, with what it reported about itself.
type NodeView struct {
	consensus.Member
	// Role is "voter" or "nonvoter" (a read replica, serve --non-voter).
	Role      string `json:"role"`
	State     string `json:"state,omitempty"`
	Applied   uint64 `json:"applied_index"`
	Reachable bool   `json:"reachable"`
}

// localView is this node's view, without asking its peers: every member
// is listed, but only this node's own state and applied index are filled.
func (s *Server) localView() (ClusterView, error) {
	st := s.cluster.Status()
	v := ClusterView{Status: st, Nodes: make([]NodeView, len(st.Members))}
	for i, m := range st.Members {
		v.Nodes[i] = NodeView{Member: m, Role: m.Role()}
		if m.ID == st.ID {
			v.Nodes[i].State, v.Nodes[i].Applied, v.Nodes[i].Reachable = st.State, st.Applied, true
		}
	}
	err := s.cluster.Store().View(func(rd ledger.Reader) error {
		h, err := ledger.ReadHead(rd)
		if err != nil {
			return err
		}
		v.Size, v.Head = h.Size, ledger.HashHex(h.Root)
		v.Origin, err = ledger.Origin(rd)
		return err
	})
	return v, err
}

// getCluster answers GET /v1/cluster. With ?local=true it describes this
// node only; otherwise it also asks every member, in parallel and briefly,
// for its own state and applied index, and shows the leader's view of the
// outside witnesses (the newest size each cosigned, its lag, its last
// error).
func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) {
	v, err := s.localView()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.URL.Query().Get("local") == "true" {
		writeJSON(w, http.StatusOK, v)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 700*time.Millisecond)
	defer cancel()
	var leaderWitnesses []consensus.WitnessStatus // written by the leader's goroutine only
	var wg sync.WaitGroup
	for i := range v.Nodes {
		nv := &v.Nodes[i]
		if nv.ID == v.ID || nv.Raft == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, consensus.PeerURL(nv.Raft)+"/v1/cluster?local=true", nil)
			if err != nil {
				return
			}
			resp, err := s.client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			// Only what is shown of a peer is decoded: a peer running an
			// older release (which sent the term as a string) still shows.
			var peer struct {
				State     string                    `json:"state"`
				Applied   uint64                    `json:"applied_index"`
				Witnesses []consensus.WitnessStatus `json:"witnesses"`
			}
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&peer) == nil {
				nv.State, nv.Applied, nv.Reachable = peer.State, peer.Applied, true
				if nv.ID == v.Leader && v.State != "Leader" {
					// Only the leader talks to the witnesses: its view is the one to show.
					leaderWitnesses = peer.Witnesses
				}
			}
		}()
	}
	wg.Wait()
	if leaderWitnesses != nil {
		v.Witnesses = leaderWitnesses
	}
	writeJSON(w, http.StatusOK, v)
}

// JoinRequest is the body of POST /v1/cluster/nodes.
type JoinRequest struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	HTTP string `json:"http"`
	Key  string `json:"checkpoint_key"`
	// NonVoter asks to join as a read replica (serve --non-voter).
	NonVoter bool `json:"non_voter,omitempty"`
}

// postNode adds a voter, or a non-voter (a read replica) when the request
// says "non_voter": true. The caller presents the cluster secret, or, on
// the members' channel of a cluster with peer TLS, a certificate naming
// the node it asks to join as (see auth.go). Any node accepts a request
// with the secret (a follower forwards it); a certificate-authenticated
// join must reach the leader itself, since the leader could not see the
// joiner's certificate through a forwarding node.
func (s *Server) postNode(w http.ResponseWriter, r *http.Request) {
	body, err := s.readJSONBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var jr JoinRequest
	if err := decodeStrict(body, &jr); err != nil {
		s.writeError(w, r, err)
		return
	}
	if jr.ID == "" || jr.Raft == "" {
		s.writeError(w, r, ledger.ErrMissingField.Detail("id and raft are required"))
		return
	}
	authErr := checkSecret(s.cfg.ClusterSecret, r)
	if p, ok := peerOf(r); authErr != nil && ok && p.Authenticated {
		if p.ID != jr.ID {
			s.writeError(w, r, &httpError{status: http.StatusForbidden, code: "wrong_node",
				msg: fmt.Sprintf("your certificate names node %q, not %q", p.ID, jr.ID)})
			return
		}
		if !s.cluster.IsLeader() {
			s.writeError(w, r, consensus.ErrNotLeader)
			return
		}
		authErr = nil
	}
	if authErr != nil {
		writeHTTPError(w, authErr)
		return
	}
	if !s.cluster.IsLeader() {
		s.forwardToLeader(w, r, body, s.writeError)
		return
	}
	if jr.Key != "" {
		if _, err := note.NewVerifier(jr.Key); err != nil {
			s.writeError(w, r, ledger.ErrInvalidField.Detail("checkpoint_key: %v", err))
			return
		}
	}
	join := s.cluster.Join
	if jr.NonVoter {
		join = s.cluster.JoinNonvoter
	}
	if err := join(jr.ID, jr.Raft, jr.HTTP, jr.Key); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"joined": jr.ID})
}

// deleteNode removes a member. Any node accepts the request; a follower forwards it.
func (s *Server) deleteNode(w http.ResponseWriter, r *http.Request) {
	if !s.cluster.IsLeader() {
		s.forwardToLeader(w, r, nil, s.writeError)
		return
	}
	id, err := pathVar(r, "id")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cluster.Remove(id); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": id})
}
