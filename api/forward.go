package api

import (
	"bytes"
	"io"
	"net/http"

	"github.com/traceledger/traceledger/consensus"
)

// Writes go to the leader. A follower forwards a write's request, after
// the checks that need no parsing of the record (readJSONBody, the
// client's rate limit), over the members' channel; the leader admits it.
// Why admission does not also run on the follower: ledger/DESIGN.md,
// "Where admission runs".

// headerForwarded marks a request a follower forwarded to the leader, so
// that a request is forwarded at most once (no loops during elections).
const headerForwarded = "X-Traceledger-Forwarded"

// forwardToLeader relays a write to the leader and its answer back. A
// request that was already forwarded once is not forwarded again: the
// cluster is between leaders, and the client should retry.
//
// fail answers the errors this node gives itself.
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request, body []byte, fail func(http.ResponseWriter, *http.Request, error)) {
	leader := s.cluster.LeaderPeerURL()
	if leader == "" || r.Header.Get(headerForwarded) != "" {
		fail(w, r, consensus.ErrNoLeader)
		return
	}
	if r.Context().Err() != nil {
		// The client has gone: a write it can no longer learn the
		// outcome of is not sent on, to surface later as a stale intent.
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, leader+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		fail(w, r, err)
		return
	}
	// If-None-Match lets a read forwarded for consistency still end in a
	// 304 (the leader's ETag comes back with the answer).
	for _, h := range []string{"Content-Type", "Accept", "If-None-Match"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(headerForwarded, s.cluster.Status().ID)
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a) // membership requests
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The leader may have taken the write before the link failed.
		fail(w, r, consensus.ErrUnknownOutcome)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After", "ETag", "Cache-Control"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	s.metrics.forwarded.Inc()
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}
