package main

// traceledger bench epcis: EPCIS 2.0 events captured through the gateway
// (in this process, against a cluster of node processes), then the query
// interface's latency on a ledger of --query-events events.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/epcisevent"
)

func runBenchEPCIS(ctx context.Context, args []string) error {
	fs := newFlags("bench epcis")
	nodes := fs.Int("nodes", 1, "cluster size (each node is a separate process on this machine)")
	captured := fs.Int("events", 10_000, "events captured through the gateway")
	docSize := fs.Int("doc", 1000, "events per captured document")
	total := fs.Int("query-events", 100_000, "events on the ledger when the queries are timed (0: no queries)")
	queries := fs.Int("queries", 200, "queries of each kind")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Printf("traceledger bench epcis: %d node(s), %d CPUs, GOMAXPROCS %d, %s\n\n", *nodes, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	base, keys, cleanup, err := benchLedger(ctx, "", *nodes, 1)
	if err != nil {
		return err
	}
	defer cleanup()
	partner := keys[0]

	// The gateway, in this process: its capture server and outbox.
	cl, err := newClient(base)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "traceledger-bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ob, err := openOutbox(dir, cl, ledger.AddressOf(partner).Hex(), 500, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	r := mux.NewRouter()
	(&captureServer{key: partner, outbox: ob, maxEvents: *docSize, maxBytes: 64 << 20}).mount(r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r}
	go srv.Serve(ln)
	defer srv.Close()
	loopCtx, stop := context.WithCancel(ctx)
	defer stop()
	go ob.run(loopCtx)
	gw := "http://" + ln.Addr().String()

	base0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	event := func(i int) map[string]any {
		ev := map[string]any{"type": "ObjectEvent", "action": "OBSERVE",
			"eventTime": base0.Add(time.Duration(i) * time.Second).Format(time.RFC3339), "eventTimeZoneOffset": "+00:00",
			"bizStep": []string{"storing", "shipping", "receiving", "inspecting"}[i%4],
			"epcList": []string{fmt.Sprintf("urn:epc:id:sgtin:8936000.000012.E%d", i)},
			"quantityList": []any{map[string]any{"epcClass": fmt.Sprintf("urn:epc:class:lgtin:8936000.000012.L%d", i%1000),
				"quantity": 1, "uom": "KGM"}}}
		if i%1000 == 0 {
			ev["bizLocation"] = map[string]any{"id": "urn:epc:id:sgln:8936000.00001.0"}
		}
		return ev
	}
	var docs [][]byte
	for start := 0; start < *captured; start += *docSize {
		var list []any
		for i := start; i < min(start+*docSize, *captured); i++ {
			list = append(list, event(i))
		}
		b, _ := json.Marshal(map[string]any{"@context": []string{epcisevent.ContextURL}, "type": "EPCISDocument",
			"schemaVersion": "2.0", "creationDate": "2026-01-01T00:00:00Z", "epcisBody": map[string]any{"eventList": list}})
		docs = append(docs, b)
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	t0 := time.Now()
	var locs []string
	for _, d := range docs {
		resp, err := hc.Post(gw+"/capture", "application/json", bytes.NewReader(d))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("capture: %d", resp.StatusCode)
		}
		locs = append(locs, resp.Header.Get("Location"))
	}
	accepted := time.Since(t0)
	for _, loc := range locs {
		for {
			j, _ := ob.get(loc[len("/capture/"):])
			if !j.Running {
				if !j.Success {
					return fmt.Errorf("capture job %s failed: %+v", loc, j.Errors)
				}
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	elapsed := time.Since(t0)
	fmt.Printf("capture through the gateway, documents of %d events: %8.0f events/s committed (%d events in %v; checked and signed in %v)\n",
		*docSize, float64(*captured)/elapsed.Seconds(), *captured, elapsed.Round(time.Millisecond), accepted.Round(time.Millisecond))
	if *total <= *captured {
		return nil
	}

	fmt.Printf("filling the ledger to %d events… ", *total)
	envs := make([]json.RawMessage, *total-*captured)
	ids := make([]string, len(envs))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	var signErr error
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := w; k < len(envs); k += workers {
				env, id, err := benchEventEnvelope(partner, event(*captured+k))
				if err != nil {
					mu.Lock()
					signErr = err
					mu.Unlock()
					return
				}
				envs[k], ids[k] = env, id
			}
		}(w)
	}
	wg.Wait()
	if signErr != nil {
		return signErr
	}
	if _, err := load(ctx, base, envs, 500, 2); err != nil {
		return err
	}
	fmt.Println("done")

	qc := &http.Client{Timeout: time.Minute}
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []struct {
		name string
		path func() string
	}{
		{"events/{eventID}", func() string { return "/epcis/events/" + url.PathEscape(ids[rng.IntN(len(ids))]) }},
		{"MATCH_epc (one)", func() string {
			return "/epcis/events?MATCH_epc=" + url.QueryEscape(fmt.Sprintf("urn:epc:id:sgtin:8936000.000012.E%d", rng.IntN(*total)))
		}},
		{"MATCH_epcClass, 30 of ~100", func() string {
			return "/epcis/events?perPage=30&MATCH_epcClass=" + url.QueryEscape(fmt.Sprintf("urn:epc:class:lgtin:8936000.000012.L%d", rng.IntN(1000)))
		}},
		{"EQ_bizStep, first 30", func() string { return "/epcis/events?perPage=30&EQ_bizStep=storing" }},
		{"event time window (1 h), 30", func() string {
			ge := base0.Add(time.Duration(rng.IntN(*total)) * time.Second)
			return "/epcis/events?perPage=30&GE_eventTime=" + url.QueryEscape(ge.Format(time.RFC3339)) + "&LT_eventTime=" + url.QueryEscape(ge.Add(time.Hour).Format(time.RFC3339))
		}},
		{"EQ_bizLocation, 30", func() string {
			return "/epcis/events?perPage=30&EQ_bizLocation=" + url.QueryEscape("urn:epc:id:sgln:8936000.00001.0")
		}},
		{"record time filter (scan), 30", func() string {
			return "/epcis/events?perPage=30&EQ_bizStep=storing&GE_recordTime=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))
		}},
	}
	fmt.Printf("\nquery latency at %d events (%d queries each, one client):\n", *total, *queries)
	for _, k := range kinds {
		var lat []time.Duration
		for q := 0; q < *queries; q++ {
			t := time.Now()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+k.path(), nil)
			if err != nil {
				return err
			}
			resp, err := qc.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %d", k.name, resp.StatusCode)
			}
			lat = append(lat, time.Since(t))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("  %-28s p50 %8v  p99 %8v\n", k.name, lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond))
	}
	return nil
}

// benchEventEnvelope signs an `epcis` record of ev (with the EPCIS
// context) by key, and returns it with its id.
func benchEventEnvelope(key *ecdsa.PrivateKey, ev map[string]any) (json.RawMessage, string, error) {
	ev["@context"] = []string{epcisevent.ContextURL}
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, "", err
	}
	id, err := epcisevent.Hash(raw, nil)
	if err != nil {
		return nil, "", err
	}
	rec, _ := json.Marshal(map[string]any{"type": ledger.TypeEpcis, "id": id, "signer": ledger.AddressOf(key).Hex(),
		"time": ev["eventTime"], "event": json.RawMessage(raw)})
	env, err := ledger.SignEnvelope(key, rec)
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(env)
	return b, id, err
}
