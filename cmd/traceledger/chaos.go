package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/traceledger/traceledger/testnet/chaos"
)

// runChaos is `traceledger testnet chaos`: a cluster of this binary's
// processes under a chaos workload, then the checker's report. It exits 1
// when the checker found an anomaly.
func runChaos(ctx context.Context, args []string) error {
	fs := newFlags("testnet chaos")
	nodes := fs.Int("nodes", 3, "number of nodes (3–9)")
	duration := fs.Duration("duration", 60*time.Second, "how long clients and faults run")
	seed := fs.Uint64("seed", 0, "seed of every random choice, to replay a run (0: from the clock, printed)")
	clients := fs.Int("clients", 8, "concurrent clients")
	interval := fs.Duration("interval", 50*time.Millisecond, "at most one fault per interval (kinds that need a leader wait for one)")
	raftTimeout := fs.Duration("raft-timeout", 50*time.Millisecond, "the nodes' --raft-timeout")
	races := fs.Int("races", 40, "afterwards, race two transfers of one lot through two nodes this many times")
	dir := fs.String("dir", "", "data directory for the nodes, kept (default: a temporary one, removed on exit)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "log every fault on stderr as it strikes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	if *dir != "" {
		// The nodes' data must start empty: a run checks the history it
		// made, not one left over.
		if ents, err := os.ReadDir(*dir); err == nil && len(ents) > 0 {
			return fmt.Errorf("%s is not empty: choose a new --dir", *dir)
		}
	} else {
		d, err := os.MkdirTemp("", "traceledger-chaos-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	fmt.Fprintf(os.Stderr, "chaos: %d nodes in %s, %s, seed %d\n", *nodes, *dir, *duration, *seed)
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	r, err := chaos.Run(ctx, chaos.Config{Bin: bin, Dir: *dir, Nodes: *nodes, Duration: *duration, Seed: *seed,
		Clients: *clients, Interval: *interval, RaftTimeout: *raftTimeout, Races: *races,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		return err
	}
	if *asJSON {
		err = r.WriteJSON(os.Stdout)
	} else {
		err = r.WriteTable(os.Stdout)
	}
	if err != nil {
		return err
	}
	if len(r.Anomalies()) > 0 {
		return exitError(1)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}
