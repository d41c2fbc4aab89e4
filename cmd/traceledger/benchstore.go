package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// ingest writes n harvest records through url in batches of 100 and
// returns the mean size of their envelopes in bytes. It signs and sends
// them in chunks, so that a million records never sit in memory at once.
func ingest(ctx context.Context, url string, admin *ecdsa.PrivateKey, n int) (envBytes float64, writing time.Duration, err error) {
	producers, err := registerProducers(ctx, url, admin, 8)
	if err != nil {
		return 0, 0, err
	}
	const chunk = 50_000
	var total int
	for first := 0; first < n; first += chunk {
		envs := signHarvestsFrom(producers, first, min(chunk, n-first))
		for _, e := range envs {
			total += len(e)
		}
		start := time.Now()
		if _, err := load(ctx, url, envs, 100, 16); err != nil {
			return 0, 0, err
		}
		writing += time.Since(start)
	}
	return float64(total) / float64(max(n, 1)), writing, nil
}

// ingested is one node process holding the records a storage scenario
// wrote through it.
type ingested struct {
	rep      *benchReport
	c        *testnet.Procs
	cleanup  func()
	entries  int     // harvests written: lots B0 … B<entries-1>
	envBytes float64 // mean size of an envelope written
	size     uint64  // the ledger's size
}

// ingestedNode parses a storage scenario's flags (--entries, --json, and
// those more adds), starts one node process and writes the records
// through it.
func ingestedNode(ctx context.Context, scenario string, args []string, more func(*flag.FlagSet)) (*ingested, error) {
	fset := newFlags("bench " + scenario)
	entries := fset.Int("entries", 100_000, "harvest records written")
	if more != nil {
		more(fset)
	}
	asJSON := fset.Bool("json", false, "print the figures as one JSON document")
	if err := parseFlags(fset, args); err != nil {
		return nil, err
	}
	in := &ingested{entries: max(*entries, 1), rep: newBenchReport(scenario, *asJSON, map[string]any{"entries": *entries})}
	var err error
	if in.c, in.cleanup, err = benchCluster(ctx, 1); err != nil {
		return nil, err
	}
	var writing time.Duration
	if in.envBytes, writing, err = ingest(ctx, in.c.Nodes[0].URL(), in.c.Admin, *entries); err == nil {
		// Signing is done between the chunks and not counted.
		in.rep.add(benchResult{Name: "ingest, batches of 100, 16 clients", Value: float64(in.entries) / writing.Seconds(), Unit: "records/s"})
		var v testnet.NodeView
		v, err = in.c.View(0)
		in.size = v.Size
	}
	if err != nil {
		in.cleanup()
		return nil, err
	}
	return in, nil
}

// runBenchRecovery measures how long a node holding --entries records
// takes from process start to serving: /healthz (listening), /readyz (a
// leader known, reads possible) and a lot read answered.
func runBenchRecovery(ctx context.Context, args []string) error {
	in, err := ingestedNode(ctx, "recovery", args, nil)
	if err != nil {
		return err
	}
	defer in.cleanup()
	c, rep := in.c, in.rep
	if err := c.Stop(0); err != nil {
		return err
	}
	start := time.Now()
	if err := c.Start(0); err != nil {
		return err
	}
	healthy := time.Since(start)
	url := c.Nodes[0].URL()
	ready, err := pollStatus(ctx, url+"/readyz", start)
	if err != nil {
		return err
	}
	served, err := pollStatus(ctx, url+"/v1/lots/08936000000127/B0", start)
	if err != nil {
		return err
	}
	rep.add(benchResult{Name: "restart to /healthz", Value: ms(healthy), Unit: "ms"})
	rep.add(benchResult{Name: "restart to /readyz", Value: ms(ready), Unit: "ms"})
	rep.add(benchResult{Name: "restart to a lot read answered", Value: ms(served), Unit: "ms"})
	rep.note("one node with a ledger of %d entries, stopped with SIGTERM and started again with the same command line", in.size)
	return rep.finish()
}

// pollStatus polls url until it answers 200 and returns the time since start.
func pollStatus(ctx context.Context, url string, start time.Time) (time.Duration, error) {
	hc := &http.Client{Timeout: 2 * time.Second}
	err := harness.Poll(ctx, 5*time.Minute, func() bool {
		resp, err := hc.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return time.Since(start), err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// settleAfterRestart is how long bench storage leaves a restarted node
// alone, by default, before it measures its memory at rest and restarts
// it once more.
const settleAfterRestart = 30 * time.Second

// runBenchStorage measures the disk and memory a node uses for --entries
// records: bytes on disk per entry (the state store, the Raft log and
// snapshots) against the envelopes' own size, and resident memory.
func runBenchStorage(ctx context.Context, args []string) error {
	var settle time.Duration
	in, err := ingestedNode(ctx, "storage", args, func(fs *flag.FlagSet) {
		fs.DurationVar(&settle, "settle", settleAfterRestart, "how long the restarted node rests before it is measured and restarted once more")
	})
	if err != nil {
		return err
	}
	defer in.cleanup()
	c, rep, envBytes := in.c, in.rep, in.envBytes
	rss, err := residentOf(c.Pid(0))
	if err != nil {
		return err
	}
	// Stopping lets Badger flush its memtables, so that the disk figure
	// counts what a running node keeps, not what is still in memory.
	if err := c.Stop(0); err != nil {
		return err
	}
	sizes, err := dirSizes(c.Nodes[0].DataDir)
	if err != nil {
		return err
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	perEntry := float64(total) / float64(in.size)
	rep.add(benchResult{Name: "envelope, mean", Value: envBytes, Unit: "bytes"})
	rep.add(benchResult{Name: "disk per entry, total", Value: perEntry, Unit: "bytes", Ratio: perEntry / envBytes})
	for _, part := range []string{"state", "raft", "snapshots", "other"} {
		rep.add(benchResult{Name: "disk per entry, " + part, Value: float64(sizes[part]) / float64(in.size), Unit: "bytes"})
	}
	rss.add(rep, "resident memory after ingest")
	// A node restarted on the same data, serving reads: what it holds
	// when not absorbing a burst of writes.
	restart := func(name string) error {
		if err := c.Start(0); err != nil {
			return err
		}
		url := c.Nodes[0].URL()
		if _, err := pollStatus(ctx, url+"/readyz", time.Now()); err != nil {
			return err
		}
		for i := range 1000 {
			if _, err := pollStatus(ctx, fmt.Sprintf("%s/v1/lots/08936000000127/B%d", url, i*in.entries/1000), time.Now()); err != nil {
				return err
			}
		}
		rss, err := residentOf(c.Pid(0))
		if err == nil {
			rss.add(rep, name)
		}
		return err
	}
	if err := restart("resident memory after restart, 1 000 lots read"); err != nil {
		return err
	}
	// Right after the restart Badger compacts what the ingest left (its
	// table builders hold MBs each), and the collector gives the memory
	// back only after its next cycle, which an idle node runs every two
	// minutes: the figure at rest is taken later, and once more after a
	// second restart, which finds the compactions done if the rest was
	// long enough (--settle).
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settle):
	}
	if rss, err = residentOf(c.Pid(0)); err != nil {
		return err
	}
	rss.add(rep, fmt.Sprintf("resident memory %v after restart, at rest", settle))
	if err := c.Stop(0); err != nil {
		return err
	}
	if err := restart(fmt.Sprintf("resident memory after a second restart %v later, 1 000 lots read", settle)); err != nil {
		return err
	}
	rep.note("ledger size %d; ratio of the total is to the mean envelope", in.size)
	return rep.finish()
}

// dirSizes sums the files of a node's data directory by part: the Badger
// state (state/), the Raft log (raft/), snapshots (snapshots/), the rest.
func dirSizes(dir string) (map[string]int64, error) {
	sizes := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		part := "other"
		for _, p := range []string{"state", "raft", "snapshots"} {
			if strings.HasPrefix(rel, p) {
				part = p
			}
		}
		sizes[part] += info.Size()
		return nil
	})
	return sizes, err
}

// resident is a process's resident memory (Linux /proc/PID/status):
// anonymous (heap, stacks) and file-backed (mapped files: Badger tables and
// the Raft log's bolt file, which the kernel can drop and reread), and the
// most it ever held (VmHWM), which a reading after the fact would miss.
type resident struct{ total, anon, file, peak int64 }

func residentOf(pid int) (resident, error) {
	var r resident
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return r, fmt.Errorf("resident memory of %d: %w", pid, err)
	}
	defer f.Close()
	fields := map[string]*int64{"VmRSS:": &r.total, "RssAnon:": &r.anon, "RssFile:": &r.file, "VmHWM:": &r.peak}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, _ := strings.Cut(sc.Text(), "\t")
		if dst := fields[name]; dst != nil {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return r, fmt.Errorf("%s of %d: %w", name, pid, err)
			}
			*dst = kb << 10
		}
	}
	if r.total == 0 {
		return r, fmt.Errorf("no VmRSS for process %d", pid)
	}
	return r, sc.Err()
}

// add reports the four figures under name.
func (r resident) add(rep *benchReport, name string) {
	for _, part := range []struct {
		what string
		n    int64
	}{{"", r.total}, {", anonymous", r.anon}, {", file-backed", r.file}, {", peak since start", r.peak}} {
		rep.add(benchResult{Name: name + part.what, Value: float64(part.n) / (1 << 20), Unit: "MiB"})
	}
}
