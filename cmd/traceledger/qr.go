package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/traceledger/traceledger/api/consumer"
	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// runQR writes the QR code of a lot's (or a serialised unit's) GS1 Digital
// Link URI, the same image GET /qr/01/{gtin}/10/{lot}.png serves, without
// needing any node: a label printer may work offline. When a node answers,
// it warns about a lot the ledger does not hold.
//
//	traceledger qr GTIN LOT [--serial S] [--out FILE.png|FILE.svg] [--public-url URL] [--size PX] [--margin MODULES]
func runQR(ctx context.Context, args []string) error {
	fs := newFlags("qr")
	serial := fs.String("serial", "", "serial number (GS1 AI 21) of one unit")
	out := fs.String("out", "", "output file, .png or .svg (default GTIN-LOT[-SERIAL].png in the current directory)")
	public := fs.String("public-url", "", "base URL of the resolver printed in the code (default --url, or "+defaultURL()+")")
	base := fs.String("url", defaultURL(), "node URL: asked whether the lot is on the ledger, and the code's base when --public-url is not given")
	offline := fs.Bool("offline", false, "do not ask the node whether the lot is on the ledger")
	size := fs.Int("size", consumer.DefaultQRSize, fmt.Sprintf("image width in pixels (%d–%d)", consumer.MinQRSize, consumer.MaxQRSize))
	margin := fs.Int("margin", consumer.DefaultQRMargin, fmt.Sprintf("quiet zone in modules (0–%d)", consumer.MaxQRMargin))
	pos, err := qrParseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return errors.New("usage: traceledger qr GTIN LOT [--serial S] [--out FILE.png|FILE.svg] [--public-url URL] [--size PX] [--margin MODULES]")
	}
	gtin, err := ledger.NormalizeGTIN(pos[0])
	if err != nil {
		return err
	}
	if err := ledger.CheckLot(pos[1]); err != nil {
		return err
	}
	if *serial != "" {
		if err := ledger.CheckLot(*serial); err != nil {
			return fmt.Errorf("--serial: %w", err)
		}
	}
	root := *public
	if root == "" {
		root = *base
	}
	if u, err := url.Parse(root); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return fmt.Errorf("--public-url %q is not an http(s) base URL", root)
	}
	link := digitallink.Format(root, gtin, pos[1], *serial)
	if !*offline {
		checkLotKnown(ctx, *base, gtin, pos[1], os.Stderr)
	}

	path := *out
	if path == "" {
		name := gtin + "-" + pos[1]
		if *serial != "" {
			name += "-" + *serial
		}
		path = qrFileName(name) + ".png"
	}
	var img []byte
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		img, err = consumer.QRPNG(link, *size, *margin)
	case ".svg":
		img, err = consumer.QRSVG(link, *size, *margin)
	default:
		return fmt.Errorf("--out %q: the file name must end in .png or .svg", path)
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Printf("%s\t%s\n", path, link)
	return nil
}

// checkLotKnown asks the node at base whether it holds the lot, and warns
// on w when it does not: a shopper scanning the code would be told the
// product may be counterfeit. The code is made all the same (a label may
// be printed before the harvest is sent); when no node answers, it says
// the lot could not be checked.
func checkLotKnown(ctx context.Context, base, gtin, lot string, w io.Writer) {
	c, err := newClient(base)
	if err != nil {
		fmt.Fprintf(w, "note: the lot is not checked against the ledger: %v\n", err)
		return
	}
	c.http.Timeout = 5 * time.Second
	status, body, _, err := c.do(ctx, http.MethodGet, "/v1/lots/"+url.PathEscape(gtin)+"/"+url.PathEscape(lot), nil)
	switch {
	case err != nil:
		fmt.Fprintf(w, "note: could not ask %s whether lot %s is on the ledger (%v); the code is made without that check\n", base, lot, err)
	case status == http.StatusNotFound:
		fmt.Fprintf(w, "warning: lot %s of GTIN %s is not on the ledger at %s: until it is, a shopper scanning this code is told the product may be counterfeit\n", lot, gtin, base)
	case status != http.StatusOK:
		fmt.Fprintf(w, "note: %s answered %d (%s) when asked for lot %s; the code is made without that check\n", base, status, serverMessage(body), lot)
	}
}

// qrParseArgs parses flags that may come before, between or after the
// positional arguments (traceledger qr GTIN LOT --out x.svg), which the
// flag package alone stops at.
func qrParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// qrFileName keeps a lot code usable as a file name: CSET 82 allows "/"
// and other characters a file system may not.
func qrFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
