package main

// traceledger participant add: an admin registers a participant (or
// updates one) from the command line, as the field app's admin form does.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

func runParticipant(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: traceledger participant add --key ADMIN_KEY --address 0x… --name NAME --role ROLE [--role ROLE …] [--gln GLN]")
	}
	fs := newFlags("participant add")
	keyFile := fs.String("key", "", "the admin's key file (keystore, field-app key backup, or plain)")
	passFile := fs.String("passphrase-file", "", "file holding the key's passphrase or PIN (default $TRACELEDGER_PASSPHRASE, $TRACELEDGER_PIN)")
	fs.StringVar(passFile, "pin-file", "", "the same as --passphrase-file, for a field-app key backup")
	address := fs.String("address", "", "the participant's address (0x…, as their app shows it)")
	name := fs.String("name", "", "the participant's name, as consumers will read it")
	var roles listFlag
	fs.Var(&roles, "role", "a role: producer, processor, distributor, retailer, inspector or admin (repeatable, or comma-separated)")
	gln := fs.String("gln", "", "the participant's GS1 Global Location Number (13 digits)")
	taxCode := fs.String("tax-code", "", "the participant's tax code (mã số thuế)")
	id := fs.String("id", "", "record id (default: p/ADDRESS/UNIX-TIME-BASE-36)")
	base := fs.String("url", defaultURL(), "node URL (any member)")
	out := fs.String("out", "", "write the signed envelope to this file instead of sending it (for `traceledger submit` later)")
	maxWait := fs.Duration("max-wait", 5*time.Minute, "give up retrying after this long without an answer")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	key, err := signingKey(*keyFile, *passFile)
	if err != nil {
		return err
	}
	now := time.Now()
	rec := map[string]any{"type": ledger.TypeParticipant, "signer": ledger.AddressOf(key).Hex(),
		"time": now.Format(time.RFC3339), "address": *address, "name": *name, "roles": []string(roles)}
	if *id == "" {
		*id = "p/" + strings.ToLower(*address) + "/" + strconv.FormatInt(now.Unix(), 36) // at most 64 characters
	}
	rec["id"] = *id
	if *gln != "" {
		rec["gln"] = *gln
	}
	if *taxCode != "" {
		rec["tax_code"] = *taxCode
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	// The ledger's own stateless checks, before anything is signed or sent.
	if _, err := ledger.DecodeRecord(raw); err != nil {
		return fmt.Errorf("participant record: %w", err)
	}
	env, err := ledger.SignEnvelope(key, raw)
	if err != nil {
		return err
	}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	if *out != "" {
		return os.WriteFile(*out, append(body, '\n'), 0o644)
	}
	c, err := newClient(*base)
	if err != nil {
		return err
	}
	items, err := c.sendBatch(ctx, []pending{{file: "participant", env: body}}, *maxWait)
	if err != nil {
		return err
	}
	it := items[0]
	if it.Error != nil {
		return fmt.Errorf("the ledger refused the registration: %d %s: %s", it.Status, it.Error.Code, it.Error.Message)
	}
	fmt.Printf("registered %s (%s) as %s: seq %d\n", *address, *name, strings.Join(roles, ", "), it.Seq)
	return nil
}
