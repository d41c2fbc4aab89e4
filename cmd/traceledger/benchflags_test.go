package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReadFlagsRefused: the flags of read replicas and benchmarks refuse
// what cannot work, before anything starts.
func TestReadFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"non-voter without join", []string{"serve", "--data", dir, "--node-id", "r1", "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--non-voter"}, "--non-voter needs --join"},
		{"unknown bench scenario", []string{"bench", "nonsense"}, "lookup"},
		{"bench without scenario", []string{"bench"}, "recovery"},
		{"bad bench flag", []string{"bench", "lookup", "--conns", "many"}, "conns"},
		{"bench server a directory", []string{"bench", "ingest", "--server", dir}, "--server"},
		{"bench server missing", []string{"bench", "ingest", "--server", dir + "/none"}, "not an executable"},
	} {
		r := run(t, nil, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure mentioning %q", tc.name, r.code, r.stderr, tc.want)
		}
	}
}

// TestBenchReport: --json prints one document with every figure and note
// and nothing before it; text mode prints a line per figure as it comes.
func TestBenchReport(t *testing.T) {
	var buf strings.Builder
	r := newBenchReport("lookup", true, map[string]any{"conns": 64})
	r.out = &buf
	r.add(summarize([][]time.Duration{{time.Millisecond, 3 * time.Millisecond}, {2 * time.Millisecond}}, 3, time.Second).result("lot JSON", 6))
	r.note("one run")
	if buf.Len() != 0 {
		t.Fatalf("JSON mode printed before finish: %q", buf.String())
	}
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Scenario string         `json:"scenario"`
		Params   map[string]any `json:"params"`
		Results  []benchResult  `json:"results"`
		Notes    []string       `json:"notes"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &doc); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	want := benchResult{Name: "lot JSON", Value: 3, Unit: "req/s", P50ms: 2, P99ms: 3, Ratio: 0.5}
	if doc.Scenario != "lookup" || doc.Params["conns"] != float64(64) || len(doc.Results) != 1 || doc.Results[0] != want || len(doc.Notes) != 1 {
		t.Errorf("document %+v, want result %+v", doc, want)
	}

	buf.Reset()
	text := newBenchReport("proof", false, nil)
	text.out = &buf
	text.add(benchResult{Name: "checkpoint", Value: 100, Unit: "req/s"})
	if !strings.Contains(buf.String(), "checkpoint") || !strings.Contains(buf.String(), "100.0 req/s") {
		t.Errorf("text line: %q", buf.String())
	}
}

// TestCPUTimeOf reads this process's CPU time, which grows while it works,
// and refuses a process that does not exist.
func TestCPUTimeOf(t *testing.T) {
	before, err := cpuTimeOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		x := 0
		for i := range 1 << 20 {
			x ^= i
		}
		_ = x
		after, err := cpuTimeOf(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v while the process worked", before)
		}
	}
	if _, err := cpuTimeOf(1 << 30); err == nil {
		t.Error("cpuTimeOf of a process that does not exist: no error")
	}
}

// TestBenchIngestServer: bench ingest --server runs its nodes from the
// binary it names (here a script that notes each start and runs this
// build, the only one at hand) and reports it among its parameters.
func TestBenchIngestServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	dir := t.TempDir()
	other, started := dir+"/other-traceledger", dir+"/started"
	script := fmt.Sprintf("#!/bin/sh\necho \"$1\" >> %q\nexec %q \"$@\"\n", started, binPath)
	if err := os.WriteFile(other, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "bench", "ingest", "--server", other, "--records", "200", "--single", "20", "--clients", "2", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		Params  map[string]any `json:"params"`
		Results []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, r.stdout)
	}
	if b, err := os.ReadFile(started); err != nil || string(b) != "serve\n" {
		t.Errorf("the named binary started %q (%v), want one node", b, err)
	}
	if doc.Params["server"] != other {
		t.Errorf("params %v: want server %s", doc.Params, other)
	}
	ingested := false
	for _, res := range doc.Results {
		if strings.HasPrefix(res.Name, "ingest, batches") && res.Value > 0 {
			ingested = true
		}
	}
	if !ingested {
		t.Errorf("no ingest rate in %s", r.stdout)
	}
}
