package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/traceledger/traceledger/ledger/demo"
	"os"
	"path/filepath"

	"github.com/traceledger/traceledger/testnet"
)

// runTestnet starts a local cluster of this binary's processes on loopback,
// seeds the demo history, keeps the admin key in the testnet directory,
// prints every node's URLs and stops every node on Ctrl-C. `testnet chaos`
// runs the chaos workload instead (chaos.go).
func runTestnet(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "chaos" {
		return runChaos(ctx, args[1:])
	}
	fs := newFlags("testnet")
	nodes := fs.Int("nodes", 3, "number of nodes (1–9)")
	dir := fs.String("dir", "", "data directory for the nodes (default: a new temporary one, removed on exit)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *nodes < 1 || *nodes > 9 {
		return errors.New("--nodes must be 1–9")
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	temporary := *dir == ""
	if temporary {
		d, err := os.MkdirTemp("", "traceledger-testnet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	// The genesis admin's key is kept beside the nodes, to sign
	// registrations and recalls with; a directory that already holds one
	// holds another testnet, whose admin that key is.
	adminKey := filepath.Join(*dir, "admin.key")
	if _, err := os.Stat(adminKey); err == nil {
		return fmt.Errorf("%s already holds a testnet (%s): choose another --dir, or remove it", *dir, adminKey)
	}
	fmt.Printf("starting %d nodes in %s …\n", *nodes, *dir)
	c, err := testnet.StartProcs(ctx, bin, *dir, *nodes)
	if err != nil {
		return err
	}
	defer c.StopAll()
	if err := savePlainKey(adminKey, c.Admin); err != nil {
		return err
	}
	if err := c.Seed(ctx, len(c.Nodes)-1); err != nil {
		return fmt.Errorf("seed demo history: %w", err)
	}
	fmt.Printf("\ntraceledger testnet: %d nodes, demo history seeded, admin %s\n", *nodes, c.AdminAddress())
	fmt.Printf("admin key (plain hex, mode 0600): %s\n", adminKey)
	if temporary {
		fmt.Printf("%s is a temporary directory, removed when the testnet stops (with the admin key): pass --dir to keep it\n", *dir)
	}
	fmt.Printf("members authenticate each other with mutual TLS: CA and node certificates in %s\n", c.CertDir)
	fmt.Printf("cluster secret (for joins and removals) in %s\n\n", c.SecretFile())
	for _, p := range c.Nodes {
		fmt.Printf("  %s  http %s  raft %s  logs %s/node.log\n", p.ID, p.URL(), p.RaftAddr, p.DataDir)
	}
	l := demo.Lots()[0]
	fmt.Printf("\nTry:\n  curl %s/v1/cluster\n  curl %s/v1/lots/%s/%s\n", c.Nodes[0].URL(), c.Nodes[len(c.Nodes)-1].URL(), l.GTIN, l.Lot)
	fmt.Printf("  %s/app/     # the field app; to act as the admin, import %s\n\nCtrl-C stops every node.\n", c.Nodes[0].URL(), adminKey)
	<-ctx.Done()
	fmt.Println("\nstopping …")
	return nil
}
