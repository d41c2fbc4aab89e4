package main

import (
	"context"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet/harness"
)

func TestQRCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lychee.png")
	ctx := context.Background()
	if err := runQR(ctx, []string{"--offline", "8936000100025", "LNB2606A", "--serial", "SN/7", "--out", out, "--public-url", "https://truyxuat.example.vn/"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://truyxuat.example.vn/01/08936000100025/10/LNB2606A/21/SN%2F7"; res.GetText() != want {
		t.Errorf("QR holds %q, want %q", res.GetText(), want)
	}

	// The public URL also comes from the environment; SVG by extension.
	t.Setenv("TRACELEDGER_PUBLIC_URL", "https://qr.example.vn")
	svg := filepath.Join(dir, "honey.svg")
	if err := runQR(ctx, []string{"--offline", "--out", svg, "08936000600020", "HG2607R"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.HasPrefix(string(b), "<svg ") {
		t.Errorf("SVG output: %v %.40q", err, b)
	}

	for _, args := range [][]string{
		{"08936000100026", "LNB2606A"}, // check digit
		{"08936000100025", "LÔ"},       // lot charset
		{"08936000100025"},             // missing lot
		{"08936000100025", "A", "--out", filepath.Join(dir, "x.gif")}, // format
		{"08936000100025", "A", "--size", "10"},                       // bounds
		{"08936000100025", "A", "--public-url", "ftp://x"},            // URL
	} {
		if err := runQR(ctx, append([]string{"--offline"}, args...)); err == nil {
			t.Errorf("qr %v succeeded", args)
		}
	}
}

// qr asks the node whether the lot is on the ledger: it warns about a lot
// the ledger does not hold, notes when no node answers, and makes the code
// in every case.
func TestQRWarnsAboutAnUnknownLot(t *testing.T) {
	admin, producer := genKey(t), genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	for _, env := range []ledger.Envelope{registration(t, admin, producer, "p-1", "producer"),
		signRec(t, producer, harvestRecord("h-1", "08936000000127", "LN-QR1"))} {
		if status, body := post(t, n.HTTPURL(), mustJSON(t, env)); status != http.StatusCreated {
			t.Fatalf("setup: %d %s", status, body)
		}
	}
	free, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + free
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string // "" for nothing on stderr
	}{
		{"a lot on the ledger", []string{"--url", n.HTTPURL(), "08936000000127", "LN-QR1"}, ""},
		{"a lot not on the ledger", []string{"--url", n.HTTPURL(), "08936000000127", "NOSUCHLOT"}, "warning: lot NOSUCHLOT of GTIN 08936000000127 is not on the ledger"},
		{"no node answers", []string{"--url", closed, "08936000000127", "NOSUCHLOT"}, "note: could not ask"},
		{"--offline", []string{"--offline", "--url", closed, "08936000000127", "NOSUCHLOT"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".svg")
			r := run(t, nil, append([]string{"qr", "--out", out}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("qr exit %d: %s", r.code, r.stderr)
			}
			if _, err := os.Stat(out); err != nil {
				t.Errorf("no code written: %v", err)
			}
			switch {
			case tc.stderr == "" && r.stderr != "":
				t.Errorf("stderr %q, want nothing", r.stderr)
			case tc.stderr != "" && !strings.Contains(r.stderr, tc.stderr):
				t.Errorf("stderr %q, want %q in it", r.stderr, tc.stderr)
			}
		})
	}
}
