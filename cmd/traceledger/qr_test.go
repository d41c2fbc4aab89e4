package main

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
)

func TestQRCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lychee.png")
	ctx := context.Background()
	if err := runQR(ctx, []string{"8936000100025", "LNB2606A", "--serial", "SN/7", "--out", out, "--public-url", "https://truyxuat.example.vn/"}); err != nil {
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
	if err := runQR(ctx, []string{"--out", svg, "08936000600020", "HG2607R"}); err != nil {
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
		if err := runQR(ctx, args); err == nil {
			t.Errorf("qr %v succeeded", args)
		}
	}
}
