package api

import (
	"net/http"
	"strings"
)

// CORS (the Fetch standard's cross-origin protocol) for /v1/* and the
// tiles under /log/: a web page
// on any origin — a wallet-based signing page, a partner's dashboard, the
// field app served elsewhere — may read the ledger and submit signed
// envelopes, which carry their own proof and need no cookie. No
// credentials are ever allowed, and Authorization is not among the
// allowed request headers, so a page cannot use a browser to send the
// cluster secret on an operator's behalf.

const (
	corsMethods = "GET, HEAD, POST, OPTIONS"
	corsHeaders = "Content-Type, Accept, Accept-Language, If-None-Match"
	corsExpose  = "Retry-After, ETag, Location, Link"
)

// cors answers preflight requests for /v1/* and /log/*, and marks their
// answers readable from any origin.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") && !strings.HasPrefix(r.URL.Path, "/log/") {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExpose)
		next.ServeHTTP(w, r)
	})
}
