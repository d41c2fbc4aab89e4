package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/testnet"
)

// benchUsage lists the bench scenarios.
const benchUsage = `usage: traceledger bench SCENARIO [flags] [--json]
  ingest    [--nodes N] [--records N] [--clients N] [--single N]   records/s written
            [--server BINARY]                                      (nodes of another build)
  failover  [--runs N]                                             leader kill to next write
  lookup    [--conns N] [--duration D] [--inspections N] [--replica] reads beside a bare handler
  proof     [--entries N] [--conns N] [--duration D]               proofs and tiles
  recovery  [--entries N]                                          restart to serving
  storage   [--entries N] [--settle D]                             disk and memory per entry; memory after a restart, D later, and after a second restart
  epcis     [--nodes N] [--events N] [--query-events N]            EPCIS capture through the gateway, queries`

func runBench(ctx context.Context, args []string) error {
	scenarios := map[string]func(context.Context, []string) error{
		"ingest": runBenchIngest, "failover": runBenchFailover, "lookup": runBenchLookup,
		"proof": runBenchProof, "recovery": runBenchRecovery, "storage": runBenchStorage,
		"epcis": runBenchEPCIS,
	}
	if len(args) == 0 || scenarios[args[0]] == nil {
		return errors.New(benchUsage)
	}
	return scenarios[args[0]](ctx, args[1:])
}

// runBenchIngest measures records committed per second through the
// leader, in batches and one per request.
func runBenchIngest(ctx context.Context, args []string) error {
	fs := newFlags("bench ingest")
	nodes := fs.Int("nodes", 1, "cluster size (each node is a separate process on this machine)")
	records := fs.Int("records", 100_000, "signed records to send in batches of 100")
	single := fs.Int("single", 20_000, "signed records to send one per request")
	clients := fs.Int("clients", 16, "concurrent clients")
	server := fs.String("server", "", "run the nodes from this traceledger binary instead of this one, to compare builds with one load client (default: this binary)")
	asJSON := fs.Bool("json", false, "print the figures as one JSON document")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *server != "" {
		if fi, err := os.Stat(*server); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("--server %s: not an executable file", *server)
		}
	}
	rep := newBenchReport("ingest", *asJSON, map[string]any{"nodes": *nodes, "records": *records, "single": *single, "clients": *clients, "server": *server})

	ceiling := recoveryCeiling(2 * time.Second)
	rep.add(benchResult{Name: "secp256k1 recovery ceiling (all cores)", Value: ceiling, Unit: "recoveries/s"})

	url, producers, cleanup, err := benchLedger(ctx, *server, *nodes, 8)
	if err != nil {
		return err
	}
	defer cleanup()
	envs := signHarvests(producers, *records+*single)

	batched, err := load(ctx, url, envs[:*records], 100, *clients)
	if err != nil {
		return err
	}
	rep.add(batched.result(fmt.Sprintf("ingest, batches of 100, %d clients", *clients), ceiling))
	one, err := load(ctx, url, envs[*records:], 1, *clients*4)
	if err != nil {
		return err
	}
	rep.add(one.result(fmt.Sprintf("ingest, one envelope per request, %d clients", *clients*4), 0))
	rep.note("ratio of the batched rate is to the recovery ceiling; latencies are per request")
	return rep.finish()
}

// benchCluster starts n node processes of this binary in a temporary directory.
func benchCluster(ctx context.Context, n int, extra ...string) (*testnet.Procs, func(), error) {
	return benchClusterOf(ctx, "", n, extra...)
}

// benchClusterOf is benchCluster with the nodes run from bin ("": this
// binary).
func benchClusterOf(ctx context.Context, bin string, n int, extra ...string) (*testnet.Procs, func(), error) {
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, nil, err
		}
	}
	dir, err := os.MkdirTemp("", "traceledger-bench-")
	if err != nil {
		return nil, nil, err
	}
	// Every load client of a benchmark comes from loopback: lift the
	// per-client connection limit, as an operator would for a proxy.
	extra = append([]string{"--max-conns-per-client", "1024"}, extra...)
	c, err := testnet.StartProcs(ctx, bin, dir, n, extra...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return c, func() { c.StopAll(); os.RemoveAll(dir) }, nil
}

// benchLedger starts a cluster of n nodes of bin (benchClusterOf) and
// registers producers producer keys; it returns the leader's URL and the
// keys.
func benchLedger(ctx context.Context, bin string, n, producers int) (url string, keys []*ecdsa.PrivateKey, cleanup func(), err error) {
	c, cleanup, err := benchClusterOf(ctx, bin, n)
	if err != nil {
		return "", nil, nil, err
	}
	leader, err := c.Leader(ctx, 30*time.Second)
	if err == nil {
		url = c.Nodes[leader].URL()
		keys, err = registerProducers(ctx, url, c.Admin, producers)
	}
	if err != nil {
		cleanup()
		return "", nil, nil, err
	}
	return url, keys, cleanup, nil
}

// registerProducers creates n producer keys and has admin register them.
func registerProducers(ctx context.Context, url string, admin *ecdsa.PrivateKey, n int) ([]*ecdsa.PrivateKey, error) {
	roles := make([]string, n)
	for i := range roles {
		roles[i] = "producer"
	}
	return registerParticipants(ctx, url, admin, n, "bench-p", roles...)
}

// registerParticipants creates n keys and has admin register the i-th with
// roles[i%len(roles)], under record ids prefix0, prefix1, ….
func registerParticipants(ctx context.Context, url string, admin *ecdsa.PrivateKey, n int, prefix string, roles ...string) ([]*ecdsa.PrivateKey, error) {
	keys := make([]*ecdsa.PrivateKey, n)
	var regs []ledger.Envelope
	for i := range keys {
		keys[i], _ = newKey()
		env, err := demo.SignRecord(admin, map[string]any{"type": "participant", "id": fmt.Sprintf("%s%d", prefix, i),
			"time": "2026-01-01T00:00:00+07:00", "signer": ledger.AddressOf(admin).Hex(),
			"address": ledger.AddressOf(keys[i]).Hex(), "name": fmt.Sprintf("Bench %s %d", roles[i%len(roles)], i), "roles": []string{roles[i%len(roles)]}})
		if err != nil {
			return nil, err
		}
		regs = append(regs, env)
	}
	c, err := newClient(url)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]any{"records": regs})
	status, resp, _, err := c.do(ctx, http.MethodPost, "/v1/records", body)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("register participants: %d %s %v", status, resp, err)
	}
	return keys, nil
}

// recoveryCeiling measures EIP-191 signature recoveries per second on all
// cores: the most a node could admit if it did nothing else.
func recoveryCeiling(d time.Duration) float64 {
	key, _ := newKey()
	msgs := make([][]byte, 256)
	sigs := make([][]byte, 256)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprintf(`{"id":"m%d","type":"harvest"}`, i))
		sigs[i], _ = ledger.Sign(key, msgs[i])
	}
	var total atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; time.Since(start) < d; i++ {
				ledger.Recover(msgs[i%256], sigs[i%256])
				total.Add(1)
			}
		}(w)
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds()
}

func signHarvests(producers []*ecdsa.PrivateKey, count int) []json.RawMessage {
	return signHarvestsFrom(producers, 0, count)
}

// signHarvestsFrom signs harvests first, first+1, … first+count-1 (lots
// B<n>, record ids bench-<n>).
func signHarvestsFrom(producers []*ecdsa.PrivateKey, first, count int) []json.RawMessage {
	prog := newBar(int64(count), "signing records", false)
	defer prog.Finish()
	out := make([]json.RawMessage, count)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := w; j < count; j += workers {
				i := first + j
				p := producers[i%len(producers)]
				env, err := demo.SignRecord(p, map[string]any{"type": "harvest", "id": fmt.Sprintf("bench-%d", i),
					"time": "2026-06-01T06:00:00+07:00", "signer": ledger.AddressOf(p).Hex(),
					"lot":      map[string]string{"gtin": "08936000000127", "lot": fmt.Sprintf("B%d", i)},
					"product":  map[string]string{"name": "Vải thiều Lục Ngạn"},
					"quantity": map[string]any{"amount": 500, "unit": "KGM"},
					"place":    map[string]string{"name": "Phì Điền, Lục Ngạn, Bắc Giang", "geo": "21.387,106.556"}})
				if err != nil {
					panic(err) // the bench's own records are always valid
				}
				out[j], _ = json.Marshal(env)
				prog.Add64(1)
			}
		}(w)
	}
	wg.Wait()
	return out
}

// load sends envs to base in requests of batch envelopes from clients
// goroutines, and measures committed records per second.
func load(ctx context.Context, base string, envs []json.RawMessage, batch, clients int) (readLoad, error) {
	prog := newBar(int64(len(envs)), fmt.Sprintf("ingest, batches of %d", batch), false)
	defer prog.Finish()
	var bodies [][]byte
	var counts []int
	for i := 0; i < len(envs); i += batch {
		part := envs[i:min(i+batch, len(envs))]
		counts = append(counts, len(part))
		var b []byte
		if batch == 1 {
			b = part[0]
		} else {
			b, _ = json.Marshal(map[string]any{"records": part})
		}
		bodies = append(bodies, b)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
	var next atomic.Int64
	var committed atomic.Int64
	lat := make([][]time.Duration, clients)
	errs := make(chan error, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/records", bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[c] = append(lat[c], time.Since(t0))
				switch {
				case batch == 1 && resp.StatusCode == http.StatusCreated:
					committed.Add(1)
					prog.Add64(1)
				case batch > 1 && resp.StatusCode == http.StatusOK:
					// Count without decoding: the client shares the CPUs
					// with the node it measures.
					accepted := bytes.Count(body, []byte(`"status":201`))
					committed.Add(int64(accepted))
					prog.Add64(int64(accepted))
					if accepted != counts[i] {
						errs <- fmt.Errorf("bench batch refused envelopes: %s", body[:min(len(body), 300)])
						return
					}
				default:
					errs <- fmt.Errorf("bench request: %d %s", resp.StatusCode, body)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return readLoad{}, err
	}
	l := summarize(lat, float64(committed.Load()), elapsed)
	l.unit = "records/s"
	return l, nil
}
