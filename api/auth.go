package api

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Cluster authentication. Membership changes (join, removal) and fault
// injection can take over a cluster, and they share the public port with
// the consumer pages; with a cluster secret configured they need
//
//	Authorization: Bearer <secret>
//
// and a follower forwarding a write to the leader proves it is a member
// with X-Traceledger-Cluster: <secret>, so that the leader does not count
// the write against the follower's rate limit twice. Without a secret
// (a single dev node, a loopback test cluster) both are open.

// headerCluster carries the cluster secret on requests between nodes.
const headerCluster = "X-Traceledger-Cluster"

var errUnauthorized = &httpError{status: http.StatusUnauthorized, code: "unauthorized", msg: "this operation needs the cluster secret (Authorization: Bearer …)"}

// RequireSecret wraps a handler so that it runs only for requests that
// carry the cluster secret. With no secret it is the handler itself.
func RequireSecret(secret string, h http.HandlerFunc) http.HandlerFunc {
	if secret == "" {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="traceledger cluster"`)
			writeJSON(w, errUnauthorized.status, errorBody{Error: errorDetail{Code: errUnauthorized.code, Message: errUnauthorized.msg}})
			return
		}
		h(w, r)
	}
}

// fromMember reports whether a request was forwarded by a cluster member.
func (s *Server) fromMember(r *http.Request) bool {
	// Without a secret a client could claim to be a node: then every
	// request counts, forwarded ones against the forwarding node's address.
	if r.Header.Get(headerForwarded) == "" || s.cfg.ClusterSecret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(r.Header.Get(headerCluster)), []byte(s.cfg.ClusterSecret)) == 1
}
