package consumer

import (
	"context"
	"crypto/ecdsa"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/api/apitest"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
)

// Demo lots the tests open (demo.Lots).
const (
	lycheeGTIN   = "08936000100025"
	lycheeLot    = "LNB2606A"
	honeyGTIN    = "08936000600020"
	recalledLot  = "HG2607R"
	lycheePath   = "/01/" + lycheeGTIN + "/10/" + lycheeLot
	recalledPath = "/01/" + honeyGTIN + "/10/" + recalledLot
	// The pages a Digital Link's default link leads to.
	lycheePage   = "/lot" + lycheePath
	recalledPage = "/lot" + recalledPath
)

// testClock is the fixed "now" of the tests: after every demo event, with
// every demo certificate still valid.
func testClock() time.Time { return time.Date(2026, 7, 20, 9, 0, 0, 0, time.UTC) }

// demoServer is the API and the consumer routes over a fake one-member
// cluster (apitest.Cluster: the ledger's own Apply over a MemStore), with
// the demo history committed.
type demoServer struct {
	cluster  *apitest.Cluster
	consumer *Consumer
	admin    *ecdsa.PrivateKey
	url      string
	// client shows redirects instead of following them, and sends
	// Accept-Encoding only when a test names it.
	client *http.Client
}

// startDemo serves the API and the consumer routes on loopback and
// commits the demo history. mod may adjust the consumer's config before
// it is built.
func startDemo(tb testing.TB, mod func(*Config)) *demoServer {
	tb.Helper()
	admin := demo.Key("consumer-test-admin")
	ds := &demoServer{admin: admin, client: &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	cluster, err := apitest.NewCluster([]common.Address{ledger.AddressOf(admin)})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := api.New(api.Config{Cluster: cluster})
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(hs.Close)
	ds.cluster, ds.url = cluster, hs.URL
	cfg := Config{Store: cluster.Store(), PublicURL: ds.url, Clock: testClock}
	if mod != nil {
		mod(&cfg)
	}
	if ds.consumer, err = New(cfg); err != nil {
		tb.Fatal(err)
	}
	ds.consumer.Mount(srv.Router())
	envs, err := demo.Envelopes(admin)
	if err != nil {
		tb.Fatal(err)
	}
	ds.submit(tb, envs...)
	return ds
}

func (ds *demoServer) submit(tb testing.TB, envs ...ledger.Envelope) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := ds.cluster.SubmitEnvelopes(ctx, envs)
	if err != nil {
		tb.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			tb.Fatalf("envelope %d refused: %v", i, r.Err)
		}
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

// get sends a GET with headers given as "Name: value" strings.
func (ds *demoServer) get(tb testing.TB, path string, headers ...string) response {
	tb.Helper()
	return ds.do(tb, http.MethodGet, path, headers...)
}

func (ds *demoServer) do(tb testing.TB, method, path string, headers ...string) response {
	tb.Helper()
	req, err := http.NewRequest(method, ds.url+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := ds.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// mustContain fails unless body holds every want.
func mustContain(tb testing.TB, what, body string, wants ...string) {
	tb.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			tb.Errorf("%s lacks %q", what, w)
		}
	}
}
