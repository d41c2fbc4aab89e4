// Package harness holds what every traceledger test harness needs and
// that imports nothing of traceledger: a loopback port to bind later,
// waiting for a condition with a deadline (the one poll loop; tests never
// sleep to synchronise), and finding a browser for the browser tests. Tests of any package, the ledger's own included,
// can use it without an import cycle.
package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for a node that must listen there again after a restart. The port
// is drawn below Linux's ephemeral range (32768–60999 by default): a port
// from 127.0.0.1:0 comes from that range, and before the node binds it an
// outgoing connection — the cluster's own dials among them — may take it.
//
// A port is handed out at most once per process: drawn at random, two
// calls would otherwise give the same port now and then (a cluster's
// HTTP and Raft addresses among them), and the second node to bind it
// fails with "address already in use".
func FreeAddr() (string, error) {
	var last error
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if !handedOut.claim(port) {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			last = err
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no free loopback port below the ephemeral range: %w", last)
}

// handedOut are the ports FreeAddr has returned or tried in this process.
// It is process-wide because ports are: every harness in the process
// draws from the same range.
var handedOut = &portSet{ports: map[int]bool{}}

type portSet struct {
	mu    sync.Mutex // guards ports
	ports map[int]bool
}

// claim marks port as handed out, and reports whether it was not yet.
func (s *portSet) claim(port int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ports[port] {
		return false
	}
	s.ports[port] = true
	return true
}

// Poll checks cond every 20 ms until it holds, ctx ends or d passes.
func Poll(ctx context.Context, d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not reached within %s", d)
		case <-t.C:
		}
	}
}

// TB is the part of testing.TB the harness uses. Declaring it here keeps
// the testing package out of the binaries that link the harness (the
// testnet and chaos commands).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Wait is Poll for a test: it fails tb, naming what it waited for, if cond
// does not hold within d.
func Wait(tb TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	if err := Poll(context.Background(), d, cond); err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
}

// FindBrowser returns the path of a Chromium-family browser on PATH, or ""
// when there is none. The browser tests (consumer pages, field app) drive
// it headless through chromedp; CI installs Debian's chromium (.ci/run).
func FindBrowser() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// RequireBrowser returns FindBrowser's path, or skips the test when there
// is no browser; under CI (CI set) it fails instead, for a browser test
// must not pass by not running.
func RequireBrowser(t interface {
	Helper()
	Fatal(args ...any)
	Skip(args ...any)
}) string {
	t.Helper()
	bin := FindBrowser()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium, chromium-browser or google-chrome on PATH; install Debian's chromium (.ci/run does: apt-get install -y chromium)")
		}
		t.Skip("no chromium, chromium-browser or google-chrome on PATH (with CI set this test fails instead)")
	}
	return bin
}
