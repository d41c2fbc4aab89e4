package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// serveDebug serves Go's runtime profiles (net/http/pprof) on their own
// listener, apart from the public API, as etcd and rqlite do: heap and CPU
// profiles are what an operator sends when a node uses more memory or CPU
// than it should. It returns once listening; the server stops when ctx
// is done. Profiles reveal nothing of the ledger's keys, but they cost
// CPU, so the address should be one only operators reach (a warning
// says so otherwise). It returns the address it listens on.
func serveDebug(ctx context.Context, addr string, logger *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--debug-addr: %w", err)
	}
	if !loopbackAddr(ln.Addr().String()) {
		logger.Warn("runtime profiles served beyond this machine; keep --debug-addr behind a firewall", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// The server's goroutine ends with Serve, which Close (when ctx is
	// done) makes return.
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug server failed", "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { srv.Close() })
	logger.Info("serving runtime profiles", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return ln.Addr().String(), nil
}
