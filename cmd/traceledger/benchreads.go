package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// runBenchLookup measures reads against a bare net/http handler in the
// same run: the consumer page and the lot JSON of a demo lot, and the
// provenance bundle of a lot with many inspections (full, and revalidated
// with If-None-Match), on the leader and, with --replica, on a read
// replica (a non-voter). Every client is in this process and sends
// Accept-Encoding: gzip, as phones do; bodies are read but not decoded.
func runBenchLookup(ctx context.Context, args []string) error {
	fs := newFlags("bench lookup")
	conns := fs.Int("conns", 64, "concurrent connections per target")
	dur := fs.Duration("duration", 5*time.Second, "how long each target is loaded")
	inspections := fs.Int("inspections", 5000, "inspections of the lot whose provenance bundle is read")
	replica := fs.Bool("replica", true, "also start a read replica (serve --non-voter) and read from it")
	asJSON := fs.Bool("json", false, "print the figures as one JSON document")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rep := newBenchReport("lookup", *asJSON, map[string]any{"conns": *conns, "duration": dur.String(), "inspections": *inspections, "replica": *replica})
	c, cleanup, err := benchCluster(ctx, 1)
	if err != nil {
		return err
	}
	defer cleanup()
	leader := c.Nodes[0].URL()
	if err := c.Seed(ctx, 0); err != nil {
		return err
	}
	long, err := seedLongLot(ctx, leader, c.Admin, *inspections)
	if err != nil {
		return err
	}
	bare, stopBare, err := bareHandler()
	if err != nil {
		return err
	}
	defer stopBare()

	demo := demo.Lots()[0]
	page := "/lot/01/" + demo.GTIN + "/10/" + demo.Lot
	lotJSON := "/v1/lots/" + demo.GTIN + "/" + demo.Lot
	bundle := "/v1/lots/" + long.GTIN + "/" + long.Lot + "/provenance"
	etag, err := warmBundle(ctx, leader+bundle)
	if err != nil {
		return err
	}
	for _, enc := range []string{"identity", "gzip"} {
		n, err := bodySize(ctx, leader+bundle, enc)
		if err != nil {
			return err
		}
		rep.add(benchResult{Name: "provenance bundle size, " + enc, Value: float64(n) / 1024, Unit: "KiB"})
	}
	gz := "Accept-Encoding: gzip"
	targets := []loadTarget{
		{"bare net/http handler, 1 KB", bare, http.StatusOK, nil, 0},
		{"consumer page", leader + page, http.StatusOK, []string{gz}, c.Pid(0)},
		{"lot JSON", leader + lotJSON, http.StatusOK, []string{gz}, c.Pid(0)},
		{fmt.Sprintf("provenance bundle, %d entries, gzip", *inspections+1), leader + bundle, http.StatusOK, []string{gz}, c.Pid(0)},
		{fmt.Sprintf("provenance bundle, %d entries, 304", *inspections+1), leader + bundle, http.StatusNotModified, []string{gz, "If-None-Match: " + etag}, c.Pid(0)},
	}
	if *replica {
		r, err := c.AddNonVoter(ctx)
		if err != nil {
			return err
		}
		replicaURL := c.Nodes[r].URL()
		if err := harness.Poll(ctx, time.Minute, func() bool {
			lv, err1 := c.View(0)
			rv, err2 := c.View(r)
			return err1 == nil && err2 == nil && rv.Size == lv.Size
		}); err != nil {
			return fmt.Errorf("replica catching up: %w", err)
		}
		if _, err := warmBundle(ctx, replicaURL+bundle); err != nil {
			return err
		}
		targets = append(targets,
			loadTarget{"replica: consumer page", replicaURL + page, http.StatusOK, []string{gz}, c.Pid(r)},
			loadTarget{"replica: lot JSON", replicaURL + lotJSON, http.StatusOK, []string{gz}, c.Pid(r)},
			loadTarget{fmt.Sprintf("replica: provenance bundle, %d entries, gzip", *inspections+1), replicaURL + bundle, http.StatusOK, []string{gz}, c.Pid(r)})
	}
	if err := loadTargets(ctx, rep, targets, *conns, *dur); err != nil {
		return err
	}
	rep.note("all targets loaded one after the other in this run, %d connections each, clients in the bench process on the same machine", *conns)
	return rep.finish()
}

// bareHandler serves 1 KB from a plain net/http server on loopback: the
// ceiling a read of this machine can reach, measured in the same run.
func bareHandler() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	body := []byte(strings.Repeat("x", 1023) + "\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "1024")
		w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/", func() { srv.Close() }, nil
}

// warmBundle fetches a bundle until it is served from the cache (its
// checkpoint covers the lot) and returns its gzip ETag.
func warmBundle(ctx context.Context, url string) (string, error) {
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: time.Minute}
	var etag string
	err := harness.Poll(ctx, time.Minute, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotModified {
			return true
		}
		etag = resp.Header.Get("ETag")
		return false
	})
	if err != nil {
		return "", fmt.Errorf("warm %s: %w", url, err)
	}
	return etag, nil
}

// bodySize fetches url with Accept-Encoding enc and counts the bytes of
// the body as sent.
func bodySize(ctx context.Context, url, enc string) (int64, error) {
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: time.Minute}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept-Encoding", enc)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}

// seedLongLot registers an inspector and a producer, harvests a lot and
// inspects it n times, in batches of 500.
func seedLongLot(ctx context.Context, url string, admin *ecdsa.PrivateKey, n int) (ledger.LotRef, error) {
	ref := ledger.LotRef{GTIN: "08936000000127", Lot: "BENCH-LONG"}
	keys, err := registerParticipants(ctx, url, admin, 2, "long", "producer", "inspector")
	if err != nil {
		return ref, err
	}
	producer, inspector := keys[0], keys[1]
	harvest, err := demo.SignRecord(producer, map[string]any{"type": "harvest", "id": "long-harvest",
		"time": "2026-06-01T06:00:00+07:00", "signer": ledger.AddressOf(producer).Hex(),
		"lot": ref, "product": map[string]string{"name": "Mật ong bạc hà"}, "quantity": map[string]any{"amount": 500, "unit": "KGM"},
		"place": map[string]string{"name": "Mèo Vạc, Hà Giang"}})
	if err != nil {
		return ref, err
	}
	envs := []ledger.Envelope{harvest}
	prog := newBar(int64(n), "signing inspections", false)
	for i := range n {
		env, err := demo.SignRecord(inspector, map[string]any{"type": "inspect", "id": fmt.Sprintf("long-inspect-%d", i),
			"time": "2026-06-02T06:00:00+07:00", "signer": ledger.AddressOf(inspector).Hex(), "lot": ref, "result": "pass"})
		if err != nil {
			prog.Finish()
			return ref, err
		}
		envs = append(envs, env)
		prog.Add64(1)
	}
	prog.Finish()
	cl, err := newClient(url)
	if err != nil {
		return ref, err
	}
	for i := 0; i < len(envs); i += 500 {
		body, _ := json.Marshal(map[string]any{"records": envs[i:min(i+500, len(envs))]})
		status, resp, _, err := cl.do(ctx, http.MethodPost, "/v1/records", body)
		if err != nil || status != http.StatusOK {
			return ref, fmt.Errorf("inspections: %d %.300s %v", status, resp, err)
		}
	}
	return ref, nil
}

// runBenchProof measures proof reads on a ledger of --entries harvests:
// inclusion and consistency proofs (RFC 6962) and a C2SP tile, beside a
// bare handler in the same run.
func runBenchProof(ctx context.Context, args []string) error {
	fs := newFlags("bench proof")
	entries := fs.Int("entries", 20_000, "harvest records in the ledger")
	conns := fs.Int("conns", 64, "concurrent connections per target")
	dur := fs.Duration("duration", 5*time.Second, "how long each target is loaded")
	asJSON := fs.Bool("json", false, "print the figures as one JSON document")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rep := newBenchReport("proof", *asJSON, map[string]any{"entries": *entries, "conns": *conns, "duration": dur.String()})
	c, cleanup, err := benchCluster(ctx, 1)
	if err != nil {
		return err
	}
	defer cleanup()
	url := c.Nodes[0].URL()
	if _, _, err := ingest(ctx, url, c.Admin, *entries); err != nil {
		return err
	}
	size, err := coveredSize(ctx, c)
	if err != nil {
		return err
	}
	bare, stopBare, err := bareHandler()
	if err != nil {
		return err
	}
	defer stopBare()
	mid := size / 2
	targets := []loadTarget{
		{"bare net/http handler, 1 KB", bare, http.StatusOK, nil, 0},
		{"inclusion proof", fmt.Sprintf("%s/v1/proofs/inclusion/%d?size=%d", url, mid, size), http.StatusOK, nil, c.Pid(0)},
		{"consistency proof", fmt.Sprintf("%s/v1/proofs/consistency?old=%d&new=%d", url, mid, size), http.StatusOK, nil, c.Pid(0)},
		{"hash tile (level 0, full)", url + "/log/tile/0/000", http.StatusOK, nil, c.Pid(0)},
		{"checkpoint", url + "/v1/checkpoint", http.StatusOK, nil, c.Pid(0)},
	}
	if err := loadTargets(ctx, rep, targets, *conns, *dur); err != nil {
		return err
	}
	rep.note("ledger of %d entries, proofs against the checkpoint of size %d", size, size)
	return rep.finish()
}

// coveredSize waits for a cosigned checkpoint covering the whole ledger of
// node 0 and returns its size.
func coveredSize(ctx context.Context, c *testnet.Procs) (uint64, error) {
	var size uint64
	err := harness.Poll(ctx, time.Minute, func() bool {
		v, err := c.View(0)
		if err != nil {
			return false
		}
		note, err := c.Checkpoint(0)
		if err != nil {
			return false
		}
		text, _, ok := ledger.SplitNote(note)
		if !ok {
			return false
		}
		cp, err := ledger.ParseCheckpoint(text)
		size = v.Size
		return err == nil && cp.Size == v.Size
	})
	if err != nil {
		return 0, errors.New("no checkpoint covering the ledger within a minute")
	}
	return size, nil
}
