package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
)

// runExport fetches a lot's upstream history as a GS1 EPCIS 2.0 JSON-LD
// document (GET /v1/lots/{gtin}/{lot}/epcis) and writes it, unchanged, to
// standard output or to a file, for an EPCIS repository or a trading
// partner to capture.
//
//	traceledger export [--url URL] GTIN LOT [--out FILE]
func runExport(ctx context.Context, args []string) error {
	fs := newFlags("export")
	base := fs.String("url", defaultURL(), "node URL (any member)")
	out := fs.String("out", "", "write the document to this file instead of standard output")
	pos, err := qrParseArgs(fs, args) // flags before, between or after GTIN LOT
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return errors.New("usage: traceledger export [--url URL] GTIN LOT [--out FILE]")
	}
	c, err := newClient(*base)
	if err != nil {
		return err
	}
	path := "/v1/lots/" + url.PathEscape(pos[0]) + "/" + url.PathEscape(pos[1]) + "/epcis"
	status, body, _, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s: %s", http.StatusText(status), serverMessage(body))
	}
	var doc struct {
		Type string `json:"type"`
		Body struct {
			EventList []json.RawMessage `json:"eventList"`
		} `json:"epcisBody"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Type != "EPCISDocument" {
		return fmt.Errorf("%s answered something other than an EPCIS document: %.80q", c.base, body)
	}
	if *out == "" {
		_, err := os.Stdout.Write(body)
		return err
	}
	if err := os.WriteFile(*out, body, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintf(os.Stderr, "%s: %d EPCIS events of %s/%s and its ancestors\n", *out, len(doc.Body.EventList), pos[0], pos[1])
	return nil
}
