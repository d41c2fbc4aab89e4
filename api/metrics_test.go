package api_test

// traceledger_records_total counts every answer to POST /v1/records under
// its outcome: created, existing, or the error code.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
)

// recordOutcomes reads traceledger_records_total from /metrics, by outcome.
func (f *fixture) recordOutcomes() map[string]float64 {
	f.t.Helper()
	status, body := f.get("/metrics")
	if status != http.StatusOK {
		f.t.Fatalf("GET /metrics: %d", status)
	}
	out := map[string]float64{}
	re := regexp.MustCompile(`(?m)^traceledger_records_total\{outcome="([^"]*)"\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			f.t.Fatalf("metric value %q: %v", m[2], err)
		}
		out[m[1]] = v
	}
	return out
}

func TestRecordsMetricCountsEveryAnswerByCode(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	before := f.recordOutcomes()

	harvest := f.harvest(f.producer, g, "LN-M1")
	steps := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		outcomes    []string // one per answer counted
	}{
		{"new entry", "application/json", asJSON(t, harvest), http.StatusCreated, []string{"created"}},
		{"the same envelope again", "application/json", asJSON(t, harvest), http.StatusOK, []string{"existing"}},
		{"transfer of an unknown lot", "application/json", asJSON(t, f.transfer(f.producer, g, "NOSUCH", f.distributor)), http.StatusNotFound, []string{"unknown_lot"}},
		{"transfer by another than the holder", "application/json", asJSON(t, f.transfer(f.distributor, g, "LN-M1", f.retailer)), http.StatusForbidden, []string{"not_holder"}},
		{"a batch answers per envelope", "application/json", asJSON(t, map[string]any{"records": []ledger.Envelope{
			f.harvest(f.producer, g, "LN-M2"), f.transfer(f.producer, g, "NOSUCH2", f.distributor)}}), http.StatusOK, []string{"created", "unknown_lot"}},
		{"a lot code outside CSET 82", "application/json", asJSON(t, f.harvest(f.producer, g, "Lô-Vải-1")), http.StatusBadRequest, []string{"invalid_lot"}},
		{"not JSON, before decoding", "application/json", []byte("{not json"), http.StatusBadRequest, nil},
		{"wrong content type, before reading", "text/plain", asJSON(t, harvest), http.StatusUnsupportedMediaType, []string{"unsupported_media_type"}},
		{"an empty batch", "application/json", []byte(`{"records": []}`), http.StatusBadRequest, []string{"malformed"}},
	}
	want := map[string]float64{}
	for k, v := range before {
		want[k] = v
	}
	for _, st := range steps {
		status, _, body := f.do(http.MethodPost, "/v1/records", st.contentType, st.body)
		if status != st.status {
			t.Fatalf("%s: %d %s, want %d", st.name, status, body, st.status)
		}
		outcomes := st.outcomes
		if outcomes == nil { // whatever code the answer names
			var e struct{ Error struct{ Code string } }
			mustDecode(t, body, &e)
			if e.Error.Code == "" {
				t.Fatalf("%s: no error code in %s", st.name, body)
			}
			outcomes = []string{e.Error.Code}
		}
		for _, o := range outcomes {
			want[o]++
		}
		if st.name == "a lot code outside CSET 82" && !strings.Contains(string(body), "'ô'") {
			t.Errorf("%s: %s does not name the character ô", st.name, body)
		}
	}
	got := f.recordOutcomes()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("traceledger_records_total{outcome=%q} = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	for k := range got {
		if k == "" || strings.ContainsAny(k, " ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Errorf("outcome label %q is not an error code", k)
		}
	}
}

// GET /v1/cluster answers every index and the term as a JSON number.
func TestClusterAnswersNumbers(t *testing.T) {
	f := startNode(t)
	for _, path := range []string{"/v1/cluster", "/v1/cluster?local=true"} {
		status, body := f.get(path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var v map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"term", "applied_index", "commit_index", "last_log_index", "last_snapshot_index", "ledger_size"} {
			n, ok := v[k].(json.Number)
			if !ok {
				t.Errorf("GET %s: %q is %T (%v), want a number", path, k, v[k], v[k])
				continue
			}
			if _, err := n.Int64(); err != nil {
				t.Errorf("GET %s: %q = %s, want an integer", path, k, n)
			}
		}
		if term, _ := v["term"].(json.Number).Int64(); term < 1 {
			t.Errorf("GET %s: term %v on a node that has elected itself, want ≥ 1", path, v["term"])
		}
		nodes, _ := v["nodes"].([]any)
		if len(nodes) != 1 {
			t.Fatalf("GET %s: nodes %v, want one", path, v["nodes"])
		}
		if _, ok := nodes[0].(map[string]any)["applied_index"].(json.Number); !ok {
			t.Errorf("GET %s: nodes[0].applied_index is not a number: %v", path, nodes[0])
		}
	}
}

// follower is the fake cluster playing a follower whose leader is at url.
type follower struct {
	api.Cluster
	url string
}

func (c follower) IsLeader() bool        { return false }
func (c follower) LeaderPeerURL() string { return c.url }

// A write whose client has gone before a follower forwarded it gets no
// answer, and the request metric says so (499) rather than counting a 200.
func TestRequestMetricClientGone(t *testing.T) {
	var cfg api.Config
	f := startNodeWith(t, func(c *api.Config) { cfg = *c })
	cfg.Cluster = follower{Cluster: cfg.Cluster, url: f.url}
	s, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	body := asJSON(t, f.harvest(f.producer, gtin14("0893600010001"), "GONE2"))
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodPost, "/v1/records", bytes.NewReader(body)).WithContext(gone)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Body.Len() != 0 {
		t.Fatalf("an answer was written for a client that had gone: %d %s", rec.Code, rec.Body)
	}
	m := httptest.NewRecorder()
	h.ServeHTTP(m, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	re := regexp.MustCompile(`(?m)^traceledger_http_request_duration_seconds_count\{code="(\d+)",route="/v1/records"\} (\S+)$`)
	codes := map[string]string{}
	for _, sm := range re.FindAllStringSubmatch(m.Body.String(), -1) {
		codes[sm[1]] = sm[2]
	}
	if codes["499"] != "1" || codes["200"] != "" {
		t.Errorf("request metric for /v1/records by code: %v, want one 499 and no 200", codes)
	}
}
