package testnet_test

// The Docker testnet under faults: the FROM-scratch image, three
// containers with peer TLS and the seeding container of
// docker-compose.yml, a load of retrying clients, the leader's container
// killed, a container cut off the network, then healed: every node must
// converge to the same size and head and hold every acknowledged
// envelope exactly once. Skipped, saying so, without a Docker engine or
// under -short.

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// dockerNodes tracks the URLs of the nodes the load may use: a node's
// address is its container's on the compose network, and a node that is
// killed or cut off is left out until it is back.
type dockerNodes struct {
	c    *testnet.Compose
	mu   sync.Mutex // guards urls
	urls map[string]string
}

func (d *dockerNodes) live() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, u := range d.urls {
		out = append(out, u)
	}
	return out
}

func (d *dockerNodes) url(service string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.urls[service]
}

// down leaves a node out of the load.
func (d *dockerNodes) down(service string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.urls, service)
}

// up waits until a node answers at its (possibly new) address and puts
// it back into the load.
func (d *dockerNodes) up(t *testing.T, ctx context.Context, service string) {
	t.Helper()
	var last error
	if err := harness.Poll(ctx, 60*time.Second, func() bool {
		u, err := d.c.URL(ctx, service)
		if err == nil {
			_, err = testnet.ViewAt(u)
		}
		if last = err; err != nil {
			return false
		}
		d.mu.Lock()
		d.urls[service] = u
		d.mu.Unlock()
		return true
	}); err != nil {
		t.Fatalf("%s does not answer: %v", service, last)
	}
}

// leader returns the service whose node every live node says leads,
// once that is not the service not (a node just killed is still named
// leader until its followers' election timeout).
func (d *dockerNodes) leader(t *testing.T, ctx context.Context, not string) string {
	t.Helper()
	var leader string
	if err := harness.Poll(ctx, 60*time.Second, func() bool {
		leader = ""
		for _, u := range d.live() {
			v, err := testnet.ViewAt(u)
			if err != nil || v.Leader == "" || (leader != "" && v.Leader != leader) {
				return false
			}
			leader = v.Leader
		}
		return leader != "" && leader != not
	}); err != nil {
		t.Fatalf("the live nodes agree on no leader but %q within 60 s", not)
	}
	return leader
}

func TestDockerTestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: the Docker testnet builds an image and runs containers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	if err := testnet.CheckDocker(ctx); err != nil {
		t.Skipf("skipped: %v", err)
	}
	start := time.Now()
	image, err := testnet.BuildImage(ctx, "..")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s ready in %s", image, time.Since(start).Round(time.Millisecond))

	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := testnet.MakePeerCerts(certs, testnet.Nodes, testnet.Nodes); err != nil {
		t.Fatal(err)
	}
	admin, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "admin.key"), []byte(hex.EncodeToString(crypto.FromECDSA(admin))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := filepath.Abs("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	c := &testnet.Compose{
		Project: fmt.Sprintf("tltest%d%d", os.Getpid(), time.Now().UnixNano()%1e6),
		File:    file,
		Env: []string{"TRACELEDGER_IMAGE=" + image, "TRACELEDGER_CERTS=" + certs,
			"TRACELEDGER_CLUSTER_SECRET=docker-test-secret-" + hex.EncodeToString(crypto.Keccak256([]byte(dir)))[:16],
			"TRACELEDGER_ADMIN=" + ledger.AddressOf(admin).Hex(),
			// Random loopback ports: the test reaches the nodes at their
			// container addresses, and must not take fixed host ports.
			"TRACELEDGER_PUBLISH_N1=127.0.0.1:", "TRACELEDGER_PUBLISH_N2=127.0.0.1:", "TRACELEDGER_PUBLISH_N3=127.0.0.1:"},
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Down(dctx); err != nil {
			t.Errorf("tear down: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			t.Logf("container logs:\n%s", c.Logs(lctx))
		}
	})
	if err := c.Up(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := &dockerNodes{c: c, urls: map[string]string{}}
	for _, s := range testnet.Nodes {
		nodes.up(t, ctx, s)
	}
	// The cluster forms (three voters) and the seeding container finishes.
	if err := harness.Poll(ctx, 2*time.Minute, func() bool {
		for _, u := range nodes.live() {
			if v, err := testnet.ViewAt(u); err != nil || len(v.Members) != 3 {
				return false
			}
		}
		code, err := c.ExitCode(ctx, "seed")
		return err == nil && code == 0
	}); err != nil {
		code, _ := c.ExitCode(ctx, "seed")
		t.Fatalf("no three-node cluster with the demo seeded within 2 minutes (seed exit code %d)", code)
	}
	t.Logf("cluster up and seeded after %s", time.Since(start).Round(time.Millisecond))

	l, err := testnet.NewLoad(ctx, nodes.live, admin, 4, "docker")
	if err != nil {
		t.Fatal(err)
	}
	lctx, stopLoad := context.WithCancel(ctx)
	done := make(chan []ledger.Envelope)
	go func() { done <- l.Run(lctx, 4) }()
	waitAcks(t, l, 20)

	// Kill the leader's container; the others elect a new leader and
	// keep acknowledging; the killed node comes back and catches up.
	killed := nodes.leader(t, ctx, "")
	nodes.down(killed)
	if err := c.Kill(ctx, killed); err != nil {
		t.Fatal(err)
	}
	next := nodes.leader(t, ctx, killed)
	waitAcks(t, l, len(l.Acked())+20)
	if err := c.Start(ctx, killed); err != nil {
		t.Fatal(err)
	}
	nodes.up(t, ctx, killed)
	t.Logf("killed the leader %s; %s took over; %s is back", killed, next, killed)

	// Cut a follower off the network: the other two keep the quorum.
	cut := ""
	for _, s := range testnet.Nodes {
		if s != next && s != killed {
			cut = s
		}
	}
	nodes.down(cut)
	if err := c.Disconnect(ctx, cut); err != nil {
		t.Fatal(err)
	}
	waitAcks(t, l, len(l.Acked())+20)
	if err := c.Connect(ctx, cut); err != nil {
		t.Fatal(err)
	}
	nodes.up(t, ctx, cut)
	waitAcks(t, l, len(l.Acked())+10)
	stopLoad()
	unsettled := <-done
	sctx, cancelSettle := context.WithTimeout(ctx, time.Minute)
	defer cancelSettle()
	if err := l.Settle(sctx, unsettled); err != nil {
		t.Fatalf("settle %d envelopes: %v", len(unsettled), err)
	}

	// Convergence: the same size and head everywhere, every acknowledged
	// envelope present exactly once, the demo history too.
	var heads []string
	if err := harness.Poll(ctx, time.Minute, func() bool {
		heads = heads[:0]
		for _, s := range testnet.Nodes {
			v, err := testnet.ViewAt(nodes.url(s))
			if err != nil {
				heads = append(heads, s+": "+err.Error())
				return false
			}
			heads = append(heads, fmt.Sprintf("%d/%s", v.Size, v.Head))
		}
		return len(slices.Compact(slices.Clone(heads))) == 1
	}); err != nil {
		t.Fatalf("the nodes do not converge: %v", heads)
	}
	for _, s := range testnet.Nodes {
		if err := testnet.CheckLedger(ctx, nodes.url(s), l.Acked()); err != nil {
			t.Errorf("%s: %v", s, err)
		}
		lot := demo.Lots()[0]
		if st := lotStatus(ctx, nodes.url(s), lot.GTIN, lot.Lot); st != http.StatusOK {
			t.Errorf("%s answers %d for the demo lot %s/%s", s, st, lot.GTIN, lot.Lot)
		}
	}
	t.Logf("converged at %s with %d acknowledged envelopes (answers %v) in %s", heads[0], len(l.Acked()), l.Statuses(), time.Since(start).Round(time.Millisecond))
}

// lotStatus is the status of GET /v1/lots/{gtin}/{lot} (0: no answer).
func lotStatus(ctx context.Context, base, gtin, lot string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/lots/"+gtin+"/"+url.PathEscape(lot), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
