package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/testnet/harness"
)

func TestServeDebugServesProfilesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := serveDebug(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Fatalf("heap profile: %d %.80q", resp.StatusCode, body)
	}
	cancel()
	err = harness.Poll(context.Background(), 10*time.Second, func() bool {
		_, err := http.Get("http://" + addr + "/debug/pprof/")
		return err != nil
	})
	if err != nil {
		t.Fatal("the profile server still answers after its context ended")
	}
	if _, err := serveDebug(context.Background(), "not an address", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a bad --debug-addr was accepted")
	}
}
