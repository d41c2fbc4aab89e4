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
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet"
)

func runBench(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "ingest" && args[0] != "failover" && args[0] != "epcis") {
		return errors.New("usage: traceledger bench ingest [--nodes N] [--records N] [--clients N] [--single N]\n       traceledger bench failover [--runs N]\n       traceledger bench epcis [--nodes N] [--events N] [--query-events N]")
	}
	switch args[0] {
	case "failover":
		return runBenchFailover(ctx, args[1:])
	case "epcis":
		return runBenchEPCIS(ctx, args[1:])
	}
	fs := newFlags("bench ingest")
	nodes := fs.Int("nodes", 1, "cluster size (each node is a separate process on this machine)")
	records := fs.Int("records", 100_000, "signed records to send in batches of 100")
	single := fs.Int("single", 20_000, "signed records to send one per request")
	clients := fs.Int("clients", 16, "concurrent clients")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	fmt.Printf("traceledger bench ingest: %d node(s), %d CPUs, GOMAXPROCS %d, %s\n\n", *nodes, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())

	ceiling := recoveryCeiling(2 * time.Second)
	fmt.Printf("secp256k1 recovery ceiling (all cores): %8.0f recoveries/s\n", ceiling)

	c, cleanup, err := benchCluster(ctx, *nodes)
	if err != nil {
		return err
	}
	defer cleanup()
	leader, err := c.Leader(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	url := c.Nodes[leader].URL()
	producers, err := registerProducers(ctx, url, c.Admin, 8)
	if err != nil {
		return err
	}
	fmt.Printf("signing %d records… ", *records+*single)
	envs := signHarvests(producers, *records+*single)
	fmt.Println("done")

	batched, err := load(ctx, url, envs[:*records], 100, *clients)
	if err != nil {
		return err
	}
	fmt.Printf("ingest, batches of 100, %2d clients:           %8.0f records/s  (p50 %v, p99 %v per request; %.0f%% of the recovery ceiling)\n",
		*clients, batched.rate, batched.p50, batched.p99, 100*batched.rate/ceiling)
	one, err := load(ctx, url, envs[*records:], 1, *clients*4)
	if err != nil {
		return err
	}
	fmt.Printf("ingest, one envelope per request, %2d clients: %8.0f records/s  (p50 %v, p99 %v per request)\n",
		*clients*4, one.rate, one.p50, one.p99)
	return nil
}

// benchCluster starts n node processes of this binary in a temporary directory.
func benchCluster(ctx context.Context, n int, extra ...string) (*testnet.Procs, func(), error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, nil, err
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

// registerProducers creates n producer keys and has admin register them.
func registerProducers(ctx context.Context, url string, admin *ecdsa.PrivateKey, n int) ([]*ecdsa.PrivateKey, error) {
	producers := make([]*ecdsa.PrivateKey, n)
	var regs []ledger.Envelope
	for i := range producers {
		producers[i], _ = newKey()
		env, err := testnet.SignRecord(admin, map[string]any{"type": "participant", "id": fmt.Sprintf("bench-p%d", i),
			"time": "2026-01-01T00:00:00+07:00", "signer": ledger.AddressOf(admin).Hex(),
			"address": ledger.AddressOf(producers[i]).Hex(), "name": fmt.Sprintf("Bench producer %d", i), "roles": []string{"producer"}})
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
		return nil, fmt.Errorf("register producers: %d %s %v", status, resp, err)
	}
	return producers, nil
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
	out := make([]json.RawMessage, count)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < count; i += workers {
				p := producers[i%len(producers)]
				env, err := testnet.SignRecord(p, map[string]any{"type": "harvest", "id": fmt.Sprintf("bench-%d", i),
					"time": "2026-06-01T06:00:00+07:00", "signer": ledger.AddressOf(p).Hex(),
					"lot":      map[string]string{"gtin": "08936000000127", "lot": fmt.Sprintf("B%d", i)},
					"product":  map[string]string{"name": "Vải thiều Lục Ngạn"},
					"quantity": map[string]any{"amount": 500, "unit": "KGM"},
					"place":    map[string]string{"name": "Phì Điền, Lục Ngạn, Bắc Giang", "geo": "21.387,106.556"}})
				if err != nil {
					panic(err) // the bench's own records are always valid
				}
				out[i], _ = json.Marshal(env)
			}
		}(w)
	}
	wg.Wait()
	return out
}

type loadResult struct {
	rate     float64
	p50, p99 time.Duration
}

// load sends envs to base in requests of batch envelopes from clients
// goroutines, and measures committed records per second.
func load(ctx context.Context, base string, envs []json.RawMessage, batch, clients int) (loadResult, error) {
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
				case batch > 1 && resp.StatusCode == http.StatusOK:
					// Count without decoding: the client shares the CPUs
					// with the node it measures.
					accepted := bytes.Count(body, []byte(`"status":201`))
					committed.Add(int64(accepted))
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
		return loadResult{}, err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return loadResult{rate: float64(committed.Load()) / elapsed.Seconds(),
		p50: all[len(all)/2].Round(time.Microsecond), p99: all[len(all)*99/100].Round(time.Microsecond)}, nil
}
