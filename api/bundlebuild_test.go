package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
)

// waitHonouring is the fake cluster with a checkpoint wait that gives up
// once its context is done, as a node's does.
type waitHonouring struct{ api.Cluster }

func (c waitHonouring) WaitCheckpoint(ctx context.Context, size uint64) (ledger.Checkpoint, []byte, error) {
	if err := ctx.Err(); err != nil {
		return ledger.Checkpoint{}, nil, err
	}
	return c.Cluster.WaitCheckpoint(ctx, size)
}

// A bundle's build is shared by every request for it that arrives while it
// runs, so it must not end with the request that started it: when that
// client goes, the others would get a bundle short of the lot that is not
// kept, and the next shopper would pay for another build.
func TestBundleBuildOutlivesItsRequester(t *testing.T) {
	var cfg api.Config
	f := startNodeWith(t, func(c *api.Config) {
		c.Cluster = waitHonouring{c.Cluster}
		cfg = *c
	})
	g := gtin14("0893600010001")
	if status, body := f.post(f.harvest(f.producer, g, "GONE1")); status != http.StatusCreated {
		t.Fatalf("harvest: %d %s", status, body)
	}
	// A server of its own over the same cluster, so that its cache and
	// its counters start empty and a request can carry any context.
	s, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	path := "/v1/lots/" + g + "/GONE1/provenance"
	gone, cancel := context.WithCancel(context.Background())
	cancel() // the client has gone by the time the build waits for its checkpoint
	first := httptest.NewRecorder()
	h.ServeHTTP(first, httptest.NewRequest(http.MethodGet, path, nil).WithContext(gone))
	if first.Code != http.StatusOK {
		t.Fatalf("bundle for a client that left: %d %s", first.Code, first.Body)
	}
	second := httptest.NewRecorder()
	h.ServeHTTP(second, httptest.NewRequest(http.MethodGet, path, nil))
	if second.Code != http.StatusOK || second.Body.String() != first.Body.String() {
		t.Fatalf("second bundle: %d, same body %v", second.Code, second.Body.String() == first.Body.String())
	}
	metrics := httptest.NewRecorder()
	h.ServeHTTP(metrics, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	builds := metricIn(t, metrics.Body.Bytes(), "traceledger_read_cache_builds_total")
	hits := metricIn(t, metrics.Body.Bytes(), "traceledger_read_cache_hits_total")
	if builds != 1 || hits != 1 {
		t.Errorf("%v builds and %v cache hits, want 1 and 1: the first build was not kept", builds, hits)
	}
}

// The provenance bundle takes ?consistency= as every other lot read does.
func TestProvenanceConsistency(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	if status, body := f.post(f.harvest(f.producer, g, "CONS1")); status != http.StatusCreated {
		t.Fatalf("harvest: %d %s", status, body)
	}
	base := "/v1/lots/" + g + "/CONS1/provenance"
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", http.StatusOK},
		{"?consistency=local", http.StatusOK},
		{"?consistency=linearizable", http.StatusOK},
		{"?consistency=eventual", http.StatusBadRequest},
	} {
		status, header, body := f.do(http.MethodGet, base+tc.query, "", nil)
		if status != tc.want {
			t.Errorf("%s: %d %.200s, want %d", tc.query, status, body, tc.want)
			continue
		}
		if status != http.StatusOK {
			checkErrorBody(t, header, body)
		}
	}
}
