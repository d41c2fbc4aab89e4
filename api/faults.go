package api

import (
	"net/http"
)

// FaultInjector cuts and heals this node's Raft links, for the
// multi-process fault tests and the chaos workload (testnet).
// *consensus.StreamLayer implements it.
type FaultInjector interface {
	// Block drops every connection to and from the peers at these Raft
	// addresses, and refuses new ones, until healed.
	Block(peers ...string)
	// Heal lifts every block.
	Heal()
	// Blocked lists the blocked Raft addresses.
	Blocked() []string
}

// faultRequest is the body of POST /v1/debug/faults: cut the Raft links to
// the peers at these Raft addresses, or heal every link (heal first, then
// block, so one request can move a partition).
type faultRequest struct {
	Block []string `json:"block"`
	Heal  bool     `json:"heal"`
}

// faultsAnswer is the answer of /v1/debug/faults: what is blocked now.
type faultsAnswer struct {
	Blocked []string `json:"blocked"`
}

// faults serves GET and POST /v1/debug/faults, behind the cluster secret
// (RequireSecret), on nodes started with fault injection only.
func (s *Server) faults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		body, err := s.readJSONBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var fr faultRequest
		if err := decodeStrict(body, &fr); err != nil {
			s.writeError(w, r, err)
			return
		}
		if fr.Heal {
			s.cfg.Faults.Heal()
		}
		s.cfg.Faults.Block(fr.Block...)
		s.logger.Warn("fault injection", "blocked", s.cfg.Faults.Blocked())
	}
	blocked := s.cfg.Faults.Blocked()
	if blocked == nil {
		blocked = []string{}
	}
	writeJSON(w, http.StatusOK, faultsAnswer{Blocked: blocked})
}
