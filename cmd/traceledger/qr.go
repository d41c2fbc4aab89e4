package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/traceledger/traceledger/api/consumer"
	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// runQR writes the QR code of a lot's (or a serialised unit's) GS1 Digital
// Link URI, the same image GET /qr/01/{gtin}/10/{lot}.png serves, without
// asking any node: a label printer may work offline.
//
//	traceledger qr GTIN LOT [--serial S] [--out FILE.png|FILE.svg] [--public-url URL] [--size PX] [--margin MODULES]
func runQR(ctx context.Context, args []string) error {
	fs := newFlags("qr")
	serial := fs.String("serial", "", "serial number (GS1 AI 21) of one unit")
	out := fs.String("out", "", "output file, .png or .svg (default GTIN-LOT[-SERIAL].png in the current directory)")
	public := fs.String("public-url", "", "base URL of the resolver printed in the code (default --url, or "+defaultURL()+")")
	base := fs.String("url", defaultURL(), "node URL, used when --public-url is not given")
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
