package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// A page on another origin may read the ledger and submit envelopes, but
// never with credentials or the cluster secret.
func TestCORS(t *testing.T) {
	f := startNode(t)
	preflight := func(path, method, headers string) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodOptions, f.url+path, nil)
		req.Header.Set("Origin", "https://app.example.vn")
		req.Header.Set("Access-Control-Request-Method", method)
		if headers != "" {
			req.Header.Set("Access-Control-Request-Headers", headers)
		}
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	st, h := preflight("/v1/records", http.MethodPost, "content-type")
	if st != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight of POST /v1/records: %d %v", st, h)
	}
	if h.Get("Access-Control-Allow-Credentials") != "" || strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight allows credentials or Authorization: %v", h)
	}
	// An answer to a real request is readable, errors included.
	envelope := f.harvest(f.producer, gtin14("0893600030001"), "CORS1")
	st, rh, body := f.do(http.MethodPost, "/v1/records", "application/json", asJSON(t, envelope))
	if st != http.StatusCreated || rh.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(rh.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("POST: %d %v %s", st, rh, body)
	}
	if st, rh, _ := f.do(http.MethodGet, "/v1/lots/"+gtin14("0893600030001")+"/NOPE", "", nil); st != http.StatusNotFound || rh.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("404 answer: %d %v", st, rh)
	}
	// A plain OPTIONS (no preflight) is still the router's 405, and pages
	// outside /v1/ are not opened to other origins.
	if st, _, _ := f.do(http.MethodOptions, "/v1/records", "", nil); st != http.StatusMethodNotAllowed {
		t.Errorf("plain OPTIONS: %d, want 405", st)
	}
	if _, rh, _ := f.do(http.MethodGet, "/healthz", "", nil); rh.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("/healthz carries CORS headers: %v", rh)
	}
}
