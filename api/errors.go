package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

// Errors of the HTTP layer itself, beside the ledger's and consensus's.
var (
	errTooLarge    = &httpError{status: http.StatusRequestEntityTooLarge, code: "too_large"}
	errMediaType   = &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"}
	errRateLimited = &httpError{status: http.StatusTooManyRequests, code: "rate_limited"}
	errBadRequest  = &httpError{status: http.StatusBadRequest, code: "bad_request"}
	errNotFound    = &httpError{status: http.StatusNotFound, code: "not_found"}
	errMethod      = &httpError{status: http.StatusMethodNotAllowed, code: "method_not_allowed"}
)

type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (e *httpError) with(msg string) error {
	return &httpError{status: e.status, code: e.code, msg: msg}
}

func (e *httpError) Is(target error) bool {
	t, ok := target.(*httpError)
	return ok && t.code == e.code
}

// errorBody is the one error shape of the API (DESIGN §3.4):
//
//	{"error": {"code": "snake_case", "message": "human sentence"}}
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// classify maps any error to its HTTP status and error body. It is the only
// place that knows the mapping.
func classify(err error) (int, errorDetail) {
	if kind, code, ok := ledger.Describe(err); ok {
		status := map[ledger.Kind]int{
			ledger.KindInvalid:   http.StatusBadRequest,
			ledger.KindSignature: http.StatusUnauthorized,
			ledger.KindNotFound:  http.StatusNotFound,
			ledger.KindForbidden: http.StatusForbidden,
			ledger.KindConflict:  http.StatusConflict,
		}[kind]
		return status, errorDetail{Code: code, Message: err.Error()}
	}
	var he *httpError
	if errors.As(err, &he) {
		return he.status, errorDetail{Code: he.code, Message: he.msg}
	}
	switch {
	case errors.Is(err, consensus.ErrNotLeader), errors.Is(err, consensus.ErrNoLeader):
		return http.StatusServiceUnavailable, errorDetail{Code: "no_leader", Message: "no leader is available right now; retry shortly"}
	case errors.Is(err, consensus.ErrUnknownOutcome):
		return http.StatusServiceUnavailable, errorDetail{Code: "outcome_unknown", Message: "the write may or may not have been committed; retry the same envelope, it is answered idempotently"}
	case errors.Is(err, consensus.ErrShutdown):
		return http.StatusServiceUnavailable, errorDetail{Code: "shutting_down", Message: "this node is shutting down; retry on another node"}
	case errors.Is(err, consensus.ErrUnknownNode):
		return http.StatusNotFound, errorDetail{Code: "unknown_node", Message: err.Error()}
	case errors.Is(err, consensus.ErrMemberConflict):
		return http.StatusConflict, errorDetail{Code: "member_conflict", Message: err.Error()}
	}
	return http.StatusInternalServerError, errorDetail{Code: "internal", Message: "internal error"}
}

// writeError answers with err's status and body. 503s carry Retry-After:
// the one already set, or 1 s.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := classify(err)
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Error: body})
}

// contentTypeJSON is the media type of every JSON answer of the API.
const contentTypeJSON = "application/json; charset=utf-8"

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only for values that cannot be JSON: a programming error
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
