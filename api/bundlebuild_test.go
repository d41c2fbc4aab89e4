package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

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

// holdingWait is the fake cluster with a checkpoint wait that holds every
// bundle build until release is closed; entered is closed when the first
// build waits.
type holdingWait struct {
	api.Cluster
	entered, release chan struct{}
	once             *sync.Once
}

func (c holdingWait) WaitCheckpoint(ctx context.Context, size uint64) (ledger.Checkpoint, []byte, error) {
	c.once.Do(func() { close(c.entered) })
	<-c.release
	return c.Cluster.WaitCheckpoint(ctx, size)
}

// Only the request that starts a bundle's build pays a token for it: one
// that arrives while the build runs joins it for nothing, even from a
// client whose bucket is empty.
func TestJoiningABuildCostsNoToken(t *testing.T) {
	hold := holdingWait{entered: make(chan struct{}), release: make(chan struct{}), once: new(sync.Once)}
	f := startNodeWith(t, func(c *api.Config) {
		hold.Cluster = c.Cluster
		c.Cluster = hold
		c.HeavyReadRate, c.HeavyReadBurst = 0.001, 1 // one build, then none for a long while
	})
	// Registered after the server's own cleanup, so it runs first: a
	// failing test must not leave a build holding the server open.
	var released sync.Once
	release := func() { released.Do(func() { close(hold.release) }) }
	t.Cleanup(release)
	g := gtin14("0893600010001")
	if status, body := f.post(f.harvest(f.producer, g, "JOIN1")); status != http.StatusCreated {
		t.Fatalf("harvest: %d %s", status, body)
	}
	path := "/v1/lots/" + g + "/JOIN1/provenance"
	type answer struct {
		status int
		body   []byte
	}
	get := func() <-chan answer {
		out := make(chan answer, 1)
		go func() {
			status, _, body := f.do(http.MethodGet, path, "", nil)
			out <- answer{status, body}
		}()
		return out
	}
	first := get() // takes the only token, and its build waits
	<-hold.entered
	second := get()
	// A joiner waits for the build; one that was charged is refused at once.
	select {
	case a := <-second:
		t.Fatalf("a request joining a running build was answered before it finished: %d %.200s", a.status, a.body)
	case <-time.After(2 * time.Second):
	}
	release()
	for i, ch := range []<-chan answer{first, second} {
		if a := <-ch; a.status != http.StatusOK {
			t.Errorf("request %d: %d %.200s, want 200", i+1, a.status, a.body)
		}
	}
	// The build is kept: a third request, with the bucket still empty, is
	// a cache hit; a request for another lot's bundle must build, and is refused.
	if status, _, body := f.do(http.MethodGet, path, "", nil); status != http.StatusOK {
		t.Errorf("cached bundle: %d %.200s", status, body)
	}
	if status, body := f.post(f.harvest(f.producer, g, "JOIN2")); status != http.StatusCreated {
		t.Fatalf("harvest: %d %s", status, body)
	}
	if status, _, body := f.do(http.MethodGet, "/v1/lots/"+g+"/JOIN2/provenance", "", nil); status != http.StatusTooManyRequests {
		t.Errorf("a new build with the bucket empty: %d %.200s, want 429", status, body)
	}
}
