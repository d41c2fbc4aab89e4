package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Cluster authentication. Membership changes (join, removal) and fault
// injection can take over a cluster, and a backup (GET /v1/backup) streams
// the whole state with the members' metadata, so they are refused unless
// the caller proves it may make them:
//
//   - an operator, or a joining node, presents the cluster secret:
//     Authorization: Bearer <secret> (serve --cluster-secret-file); with
//     no secret configured these operations are refused outright (403), so
//     that a cluster is never open by default;
//   - a node joining a cluster that uses peer TLS may instead present,
//     on the members' channel, a certificate from the cluster's CA naming
//     the very node id it asks to join as.
//
// Requests between nodes travel on the members' own channel (the Raft
// port, mutual TLS with peer TLS configured); the node tags each such
// request's context with the peer it came from (WithPeer). A forwarded
// write counts against the client's address on the node the client
// reached, not again on the leader, only when it arrived on that channel.

// errNoSecret: membership and fault injection are off without a secret.
var errNoSecret = &httpError{status: http.StatusForbidden, code: "cluster_secret_required",
	msg: "membership changes, fault injection and backups are disabled: start every node with --cluster-secret-file FILE (or TRACELEDGER_CLUSTER_SECRET) and send Authorization: Bearer <secret>"}

var errUnauthorized = &httpError{status: http.StatusUnauthorized, code: "unauthorized", msg: "this operation needs the cluster secret (Authorization: Bearer …)"}

// RequireSecret wraps a handler so that it runs only for requests that
// carry the cluster secret. With no secret configured every request is
// refused (403).
func RequireSecret(secret string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkSecret(secret, r); err != nil {
			writeHTTPError(w, err)
			return
		}
		h(w, r)
	}
}

// checkSecret returns nil when r carries the configured cluster secret.
func checkSecret(secret string, r *http.Request) *httpError {
	if secret == "" {
		return errNoSecret
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
		return errUnauthorized
	}
	return nil
}

func writeHTTPError(w http.ResponseWriter, e *httpError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="traceledger cluster"`)
	}
	writeJSON(w, e.status, errorBody{Error: errorDetail{Code: e.code, Message: e.msg}})
}

// peerKey is the context key of the member a request came from.
type peerKey struct{}

// Peer is the member at the other end of a node-to-node connection.
type Peer struct {
	ID            string
	Authenticated bool // a certificate from the cluster's CA names ID
}

// WithPeer marks ctx as belonging to a request that arrived on the
// members' channel from p. The node's peer HTTP server sets it on every
// connection; the public listener never does.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// peerOf returns the member a request came from, if it came on the
// members' channel.
func peerOf(r *http.Request) (Peer, bool) {
	p, ok := r.Context().Value(peerKey{}).(Peer)
	return p, ok
}

// fromMember reports whether a request was forwarded by a cluster member.
func (s *Server) fromMember(r *http.Request) bool {
	_, ok := peerOf(r)
	return ok && r.Header.Get(headerForwarded) != ""
}
