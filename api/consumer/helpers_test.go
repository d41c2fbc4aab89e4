package consumer

import (
	"context"
	"crypto/ecdsa"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/node"
	"github.com/traceledger/traceledger/testnet"
)

// Demo lots the tests open (testnet.DemoLots).
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

// demoServer is a real node (Badger, Raft, the API) with the consumer
// routes mounted and the demo history committed.
type demoServer struct {
	node     *node.Node
	consumer *Consumer
	admin    *ecdsa.PrivateKey
	url      string
	// client shows redirects instead of following them, and sends
	// Accept-Encoding only when a test names it.
	client *http.Client
}

// startDemo starts a one-node cluster on loopback, waits for it to lead
// and write its genesis, and submits the demo history. mod may adjust the
// consumer's config before it is built.
func startDemo(tb testing.TB, mod func(*Config)) *demoServer {
	tb.Helper()
	admin := testnet.DemoKey("consumer-test-admin")
	ds := &demoServer{admin: admin, client: &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Config{
		ID: "t", DataDir: tb.TempDir(), HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", Bootstrap: true,
		Admins: []common.Address{ledger.AddressOf(admin)}, HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		Mount: func(r *mux.Router, n *node.Node) error {
			cfg := Config{Store: n.Store, PublicURL: n.HTTPURL(), Clock: testClock}
			if mod != nil {
				mod(&cfg)
			}
			c, err := New(cfg)
			if err != nil {
				return err
			}
			c.Mount(r)
			ds.consumer = c
			return nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Stop() })
	ds.node, ds.url = n, n.HTTPURL()
	// Poll for leadership and the genesis entry, with a deadline.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var size uint64
		if err := n.Store.View(func(r ledger.Reader) (err error) { size, err = ledger.Size(r); return err }); err != nil {
			tb.Fatal(err)
		}
		if size > 0 && n.Raft.IsLeader() {
			break
		}
		select {
		case <-ctx.Done():
			tb.Fatal("no leader and genesis within the deadline")
		case <-tick.C:
		}
	}
	envs, err := testnet.DemoEnvelopes(admin)
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
	res, err := ds.node.Submit(ctx, envs)
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
