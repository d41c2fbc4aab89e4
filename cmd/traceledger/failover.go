package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/traceledger/traceledger/testnet"
)

// runBenchFailover measures, on a 3-node cluster of processes, the time from
// SIGKILL of the leader to the first write acknowledged through a follower,
// over several runs, with the default Raft timeouts and with shorter ones.
func runBenchFailover(ctx context.Context, args []string) error {
	fs := newFlags("bench failover")
	runs := fs.Int("runs", 5, "kills per setting")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, setting := range []struct {
		name  string
		extra []string
	}{
		{"default timeouts (heartbeat 1 s, election 1 s)", nil},
		{"short timeouts (heartbeat 300 ms, election 300 ms)", []string{"--raft-timeout", "300ms"}},
	} {
		var times []time.Duration
		for r := 0; r < *runs; r++ {
			d, err := failoverOnce(ctx, setting.extra)
			if err != nil {
				return err
			}
			times = append(times, d)
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		var parts []string
		for _, t := range times {
			parts = append(parts, t.Round(time.Millisecond).String())
		}
		fmt.Printf("failover, %s: median %v over %d runs [%s]\n", setting.name,
			times[len(times)/2].Round(time.Millisecond), len(times), strings.Join(parts, " "))
	}
	return nil
}

func failoverOnce(ctx context.Context, extra []string) (time.Duration, error) {
	c, cleanup, err := benchCluster(ctx, 3, extra...)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	leader, err := c.Leader(ctx, 30*time.Second)
	if err != nil {
		return 0, err
	}
	var followers []string
	for i, p := range c.Nodes {
		if i != leader {
			followers = append(followers, p.URL())
		}
	}
	l, err := testnet.NewLoad(ctx, func() []string { return followers }, c.Admin, 1, "fo")
	if err != nil {
		return 0, err
	}
	if err := c.Kill(leader); err != nil {
		return 0, err
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := l.Write(wctx); err != nil {
		return 0, fmt.Errorf("no write acknowledged after killing the leader: %w", err)
	}
	return time.Since(start), nil
}
