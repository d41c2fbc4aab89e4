package node_test

// Resource bounds of a running node: many slow uploads stay within the
// request-body budget, and one client address cannot open more than its
// share of connections.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricValue scrapes the node's /metrics for one sample: name, with its
// labels if any, as printed ("x_total" or `x_total{reason="budget"}`).
func metricValue(t *testing.T, client *http.Client, base, sample string) float64 {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s on /metrics", sample)
	return 0
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rss is the process's resident set from /proc/self/status, 0 where there is none.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// slowAnswer is what a stalled uploader got back, if anything.
type slowAnswer struct {
	status     int
	retryAfter string
	close      bool // Connection: close
	code       string
}

// TestSlowBodiesStayWithinBudget is the slow-body attack: 200 connections
// each announce a 4 MiB POST /v1/records, send all of it but the last
// byte, and stall. The node holds at most its body budget of them, refuses
// the others at once with 503 and Retry-After, stays within the budget in
// memory, and keeps answering other clients while the stalls go on.
func TestSlowBodiesStayWithinBudget(t *testing.T) {
	const (
		conns    = 200
		bodySize = 4 << 20
		// Large bodies may use 7/8 of it: 3 of the 4 MiB bodies fit, and
		// 4 MiB stays for small ones.
		budget   = 16 << 20
		admitted = 3
	)
	admin, producer := genKey(t), genKey(t)
	cfg := testConfig(t.TempDir(), admin)
	cfg.BodyBudget = budget
	// Every connection comes from 127.0.0.1: the default of 64 per client
	// would close most of them before they reach the budget, which is
	// what this test is about. TestConnectionsPerClient covers that limit.
	cfg.MaxConnsPerClient = conns + 16
	// The stalls must outlast the test; TestGuardCutsStalledBody (api)
	// covers cutting them.
	cfg.BodyStallTimeout = 10 * time.Minute
	n := startTestNode(t, cfg)
	waitGenesis(t, n)
	client := &http.Client{Timeout: 30 * time.Second}
	addr := strings.TrimPrefix(n.HTTPURL(), "http://")

	heapBefore, rssBefore := heapInUse(), rss()
	body := bytes.Repeat([]byte("a"), bodySize-1) // shared by every writer
	head := fmt.Sprintf("POST /v1/records HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, bodySize)
	answers := make(chan slowAnswer, conns)
	written := make(chan error, conns)
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		open = append(open, c)
		go func() { // ends when the node answers or the connection closes
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			json.Unmarshal(b, &e)
			answers <- slowAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, e.Error.Code}
		}()
		go func() { // ends when written, or refused and closed by the node
			_, err := io.WriteString(c, head)
			if err == nil {
				_, err = c.Write(body)
			}
			written <- err
		}()
	}

	// Every connection beyond the budget is answered at once.
	deadline := time.After(60 * time.Second)
	for i := 0; i < conns-admitted; i++ {
		select {
		case a := <-answers:
			if a.status != http.StatusServiceUnavailable || a.retryAfter == "" || !a.close || a.code != "overloaded" {
				t.Fatalf("stalled upload answered %+v, want 503 overloaded with Retry-After and Connection: close", a)
			}
		case <-deadline:
			t.Fatalf("%d of %d uploads beyond the budget answered", i, conns-admitted)
		}
	}
	// The admitted ones are all sent (so the node is buffering them), and
	// every writer has returned.
	for i := 0; i < conns; i++ {
		select {
		case <-written:
		case <-deadline:
			t.Fatalf("%d of %d writers returned", i, conns)
		}
	}
	pollUntil(t, "the admitted uploads' reservations", func() bool {
		return metricValue(t, client, n.HTTPURL(), "traceledger_http_body_budget_in_use_bytes") == admitted*bodySize
	})
	if got := metricValue(t, client, n.HTTPURL(), `traceledger_http_body_refusals_total{reason="budget"}`); got != conns-admitted {
		t.Errorf("budget refusals on /metrics %v, want %d", got, conns-admitted)
	}

	// Memory: the admitted bodies (12 MiB) and small change, never the
	// 800 MiB of 200 buffered bodies. The bound is twice the budget.
	heapAfter, rssAfter := heapInUse(), rss()
	grew := int64(heapAfter) - int64(heapBefore)
	t.Logf("%d stalled 4 MiB uploads, budget %d MiB: heap in use %d → %d MiB (%+.1f MiB), RSS %d → %d MiB",
		conns, budget>>20, heapBefore>>20, heapAfter>>20, float64(grew)/(1<<20), rssBefore>>20, rssAfter>>20)
	if grew > 2*budget {
		t.Errorf("heap in use grew by %d MiB with %d stalled uploads, want at most %d MiB (twice the body budget)", grew>>20, conns, 2*budget>>20)
	}

	// Other clients are still answered while the stalls go on.
	resp, err := client.Get(n.HTTPURL() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz during the stalls: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz during the stalls: %d", resp.StatusCode)
	}
	env, _ := json.Marshal(registerEnv(t, admin, producer, "p-during-stall", "producer"))
	resp, err = client.Post(n.HTTPURL()+"/v1/records", "application/json", bytes.NewReader(env))
	if err != nil {
		t.Fatalf("POST /v1/records during the stalls: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/records during the stalls: %d %s, want 201", resp.StatusCode, b)
	}

	// The stalled uploaders give up: their reservations come back.
	for _, c := range open {
		c.Close()
	}
	pollUntil(t, "the reservations released after the uploaders left", func() bool {
		return metricValue(t, client, n.HTTPURL(), "traceledger_http_body_budget_in_use_bytes") == 0
	})
}

// TestConnectionsPerClient: connections beyond the per-client limit are
// closed on accept and counted; a freed slot can be used again.
func TestConnectionsPerClient(t *testing.T) {
	const max = 3
	cfg := testConfig(t.TempDir(), genKey(t))
	cfg.MaxConnsPerClient = max
	n := startTestNode(t, cfg)
	waitGenesis(t, n)
	addr := strings.TrimPrefix(n.HTTPURL(), "http://")
	var held []net.Conn
	for i := 0; i < max; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// The node accepts in order: once a request on the last held
	// connection is answered, all of them are counted.
	fmt.Fprintf(held[max-1], "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	held[max-1].SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(held[max-1]), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz on a held connection: %v %v", resp, err)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection beyond the limit was served")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a connection beyond the limit was kept open")
	}
	// A freed slot serves again; the refusal is on /metrics.
	held[0].Close()
	var refused float64
	pollUntil(t, "a freed slot", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false // refused: the node has not yet seen held[0] close
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "traceledger_http_connections_refused_total "); ok {
				refused, _ = strconv.ParseFloat(v, 64)
			}
		}
		return true
	})
	if refused < 1 {
		t.Errorf("traceledger_http_connections_refused_total %v, want at least 1", refused)
	}
}
