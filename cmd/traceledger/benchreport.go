package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// benchReport collects the figures of one bench scenario. In text mode
// each figure is printed as it is measured; with --json nothing goes to
// stdout until finish prints one document, so that the output can be
// piped into a table or compared between runs.
type benchReport struct {
	Scenario string         `json:"scenario"`
	Machine  benchMachine   `json:"machine"`
	Params   map[string]any `json:"params,omitempty"`
	Results  []benchResult  `json:"results"`
	Notes    []string       `json:"notes,omitempty"`

	asJSON bool
	out    io.Writer
}

// benchMachine describes where the figures were measured.
type benchMachine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	OS         string `json:"os"`
}

// benchResult is one measured figure. Latencies are per request, in
// milliseconds; Ratio compares a rate with the scenario's baseline.
type benchResult struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	P50ms float64 `json:"p50_ms,omitempty"`
	P99ms float64 `json:"p99_ms,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
}

func newBenchReport(scenario string, asJSON bool, params map[string]any) *benchReport {
	r := &benchReport{Scenario: scenario, asJSON: asJSON, out: os.Stdout, Params: params,
		Machine: benchMachine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}}
	if !asJSON {
		var ps []string
		for k, v := range params {
			ps = append(ps, fmt.Sprintf("%s=%v", k, v))
		}
		slices.Sort(ps)
		fmt.Fprintf(r.out, "traceledger bench %s: %d CPUs, GOMAXPROCS %d, %s %s\n\n", scenario, r.Machine.CPUs, r.Machine.GOMAXPROCS, r.Machine.Go, strings.Join(ps, " "))
	}
	return r
}

// add records a figure and prints it in text mode.
func (r *benchReport) add(res benchResult) {
	r.Results = append(r.Results, res)
	if r.asJSON {
		return
	}
	line := fmt.Sprintf("%-44s %12.1f %s", res.Name, res.Value, res.Unit)
	if res.P50ms > 0 || res.P99ms > 0 {
		line += fmt.Sprintf("  (p50 %.2f ms, p99 %.2f ms)", res.P50ms, res.P99ms)
	}
	if res.Ratio > 0 {
		line += fmt.Sprintf("  %.0f %%", 100*res.Ratio)
	}
	fmt.Fprintln(r.out, line)
}

// note records a remark (how a figure was obtained, an extrapolation).
func (r *benchReport) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	r.Notes = append(r.Notes, n)
	if !r.asJSON {
		fmt.Fprintln(r.out, "note: "+n)
	}
}

// finish prints the JSON document in --json mode.
func (r *benchReport) finish() error {
	if !r.asJSON {
		return nil
	}
	enc := json.NewEncoder(r.out)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// readLoad is the outcome of a load (getLoad, or load for writes): the
// rate of answered requests (or committed records), and request latency.
type readLoad struct {
	rate     float64
	done     float64 // requests (or records)
	p50, p99 time.Duration
	unit     string // of rate; "" is req/s
}

func (l readLoad) result(name string, baseline float64) benchResult {
	unit := l.unit
	if unit == "" {
		unit = "req/s"
	}
	res := benchResult{Name: name, Value: l.rate, Unit: unit,
		P50ms: float64(l.p50.Microseconds()) / 1000, P99ms: float64(l.p99.Microseconds()) / 1000}
	if baseline > 0 {
		res.Ratio = l.rate / baseline
	}
	return res
}

// getLoad sends GET url from conns goroutines, each on its own keep-alive
// connection, for d, and measures answered requests per second. Every
// answer must have status want; header lines ("Name: value") are added to
// each request. Bodies are read in full, as a client would.
func getLoad(ctx context.Context, url string, conns int, d time.Duration, want int, headers ...string) (readLoad, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	lat := make([][]time.Duration, conns)
	errs := make(chan error, conns)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	prog := newBar(int64(d/time.Millisecond), "GET "+url[strings.LastIndex(url, "/")+1:]+" (ms)", false)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				for _, h := range headers {
					k, v, _ := strings.Cut(h, ": ")
					req.Header.Set(k, v)
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil && ctx.Err() != nil {
					return
				}
				if resp.StatusCode != want {
					errs <- fmt.Errorf("GET %s: %s, want %d", url, resp.Status, want)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
				if c == 0 {
					prog.Set64(int64(time.Since(start) / time.Millisecond))
				}
			}
		}()
	}
	wg.Wait()
	prog.Finish()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return readLoad{}, err
	}
	var n int
	for _, l := range lat {
		n += len(l)
	}
	if n == 0 {
		return readLoad{}, fmt.Errorf("GET %s: no request completed in %v", url, d)
	}
	return summarize(lat, float64(n), elapsed), nil
}

// summarize turns the latencies each client measured, and how many
// requests (or records) were done in elapsed, into a readLoad.
func summarize(lat [][]time.Duration, done float64, elapsed time.Duration) readLoad {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return readLoad{rate: done / elapsed.Seconds(), done: done}
	}
	return readLoad{rate: done / elapsed.Seconds(), done: done, p50: all[len(all)/2], p99: all[len(all)*99/100]}
}

// loadTarget is one URL a read scenario loads.
type loadTarget struct {
	name, url string
	want      int      // the status every answer must have
	headers   []string // "Name: value"
	pid       int      // the node process serving url, whose CPU time per request is reported; 0: none
}

// loadTargets loads each target in turn and reports it; the first one is
// the baseline the others' ratios compare with.
func loadTargets(ctx context.Context, rep *benchReport, targets []loadTarget, conns int, d time.Duration) error {
	var baseline float64
	for _, t := range targets {
		var cpu0 time.Duration
		if t.pid != 0 {
			var err error
			if cpu0, err = cpuTimeOf(t.pid); err != nil {
				return err
			}
		}
		l, err := getLoad(ctx, t.url, conns, d, t.want, t.headers...)
		if err != nil {
			return err
		}
		if baseline == 0 {
			baseline = l.rate
		}
		rep.add(l.result(t.name, baseline))
		if t.pid != 0 && l.done > 0 {
			cpu1, err := cpuTimeOf(t.pid)
			if err != nil {
				return err
			}
			// Unlike req/s, this does not move with what else the
			// machine's cores are doing (the clients included).
			rep.add(benchResult{Name: t.name + ", node CPU per request", Value: float64((cpu1 - cpu0).Microseconds()) / l.done, Unit: "µs"})
		}
	}
	return nil
}

// cpuTimeOf is the CPU time a process has used, user and system
// (proc(5): utime and stime of /proc/PID/stat, in USER_HZ ticks, 100 a
// second on Linux).
func cpuTimeOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start with field 3, the state.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpu time of %d: malformed /proc/%d/stat", pid, pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("cpu time of %d: malformed /proc/%d/stat", pid, pid)
	}
	var ticks int64
	for _, f := range fields[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100), nil
}
