package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/traceledger/traceledger/testnet"
)

// runSeed submits the demo history to a running ledger whose genesis
// admin holds --admin-key: the one-shot seeding step of the Docker
// testnet (make testnet-docker). It waits for the node and its genesis
// entry, and is idempotent: seeding a seeded ledger changes nothing.
func runSeed(ctx context.Context, args []string) error {
	fs := newFlags("seed")
	base := fs.String("url", defaultURL(), "node to submit through (followers forward)")
	keyFile := fs.String("admin-key", "", "the genesis admin's key file (traceledger keygen)")
	passFile := fs.String("passphrase-file", "", "file holding the keystore passphrase (default $TRACELEDGER_PASSPHRASE)")
	wait := fs.Duration("wait", time.Minute, "how long to keep trying while the cluster starts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyFile == "" {
		return errors.New("--admin-key FILE is required: the demo's participants are registered by the genesis admin")
	}
	c, err := newClient(*base)
	if err != nil {
		return err
	}
	pass, err := passphrase(*passFile)
	if err != nil {
		return err
	}
	admin, err := loadKey(*keyFile, pass)
	if err != nil {
		return err
	}
	if err := testnet.SeedDemo(ctx, c.base, admin, *wait); err != nil {
		return err
	}
	fmt.Printf("demo history seeded through %s\n", c.base)
	return nil
}
