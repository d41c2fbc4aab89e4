package main

// traceledger import epcis FILE: the gateway's capture from the command
// line. Every event of an EPCIS 2.0 document is checked and signed as an
// `epcis` record with the partner's key, then submitted in batches with
// retries, a progress bar on stderr.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

func runImport(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "epcis" {
		return errors.New("usage: traceledger import epcis FILE --key KEY [--url URL] [--proceed]")
	}
	fs := newFlags("import epcis")
	keyFile := fs.String("key", "", "the partner's key file (keystore or plain)")
	passFile := fs.String("passphrase-file", "", "file holding the keystore passphrase (default $TRACELEDGER_PASSPHRASE)")
	base := fs.String("url", defaultURL(), "ledger node URL (any member)")
	proceed := fs.Bool("proceed", false, "submit the valid events of a document that has invalid ones (default: submit none)")
	batch := fs.Int("batch", 500, "events per request")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) > 1 {
		// Flags after FILE, as in "import epcis FILE --key KEY".
		if err := fs.Parse(files[1:]); err != nil {
			return err
		}
		files = append(files[:1], fs.Args()...)
	}
	if len(files) != 1 {
		return errors.New("usage: traceledger import epcis FILE --key KEY [--url URL] [--proceed]")
	}
	if *batch < 1 || *batch > 1000 {
		return errors.New("--batch is 1 to 1000")
	}
	key, err := signingKey(*keyFile, *passFile)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	events, problems, err := signDocument(key, raw)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "traceledger import: event %s: %s\n", strings.TrimPrefix(p.Instance, "/epcisBody/eventList/"), p.Detail)
	}
	if len(problems) > 0 && !*proceed {
		return fmt.Errorf("%d of the document's events are invalid; nothing was submitted (--proceed submits the others)", len(problems))
	}
	c, err := newClient(*base)
	if err != nil {
		return err
	}
	bar := newBar(int64(len(events)), "events", false)
	var accepted, existing, refused int
	for start := 0; start < len(events); start += *batch {
		part := events[start:min(start+*batch, len(events))]
		envs := make([]pending, len(part))
		for i, e := range part {
			envs[i] = pending{env: e.Envelope}
		}
		items, err := c.sendBatch(ctx, envs, 10*time.Minute)
		if err != nil {
			bar.Exit()
			return fmt.Errorf("after %d of %d events: %w (running the same command again is safe)", start, len(events), err)
		}
		for i, it := range items {
			switch it.Status {
			case http.StatusCreated:
				accepted++
			case http.StatusOK:
				existing++
			default:
				refused++
				msg := http.StatusText(it.Status)
				if it.Error != nil {
					msg = it.Error.Message
				}
				noteAbove(bar, fmt.Sprintf("event %d (%s): %d %s", part[i].Index, part[i].ID, it.Status, msg))
			}
		}
		bar.Set(start + len(part))
	}
	bar.Finish()
	fmt.Printf("%d events: %d recorded, %d already on the ledger, %d refused, %d invalid\n",
		len(events)+len(problems), accepted, existing, refused, len(problems))
	if refused > 0 {
		return fmt.Errorf("the ledger refused %d event(s)", refused)
	}
	return nil
}
