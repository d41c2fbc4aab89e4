package main

// traceledger gateway: the EPCIS 2.0 capture binding on the partner's side
// (capture.go), signing with the partner's key, an outbox on disk
// (outbox.go), and the ledger's query binding forwarded, so that one base
// URL serves a partner's systems for both.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/ledger"
)

func runGateway(ctx context.Context, args []string) error {
	fs := newFlags("gateway")
	keyFile := fs.String("key", "", "the partner's key file (keystore or plain); it stays on this machine")
	passFile := fs.String("passphrase-file", "", "file holding the keystore passphrase (default $TRACELEDGER_PASSPHRASE)")
	base := fs.String("url", defaultURL(), "ledger node URL (any member)")
	listen := fs.String("listen", "127.0.0.1:8090", "address the capture and query binding listen on")
	dir := fs.String("outbox", "gateway-outbox", "directory of the capture jobs (created if missing)")
	batch := fs.Int("batch", 500, "events per request to the ledger")
	maxEvents := fs.Int("capture-limit", 1000, "most events in one captured document (GS1-EPCIS-Capture-Limit)")
	maxBytes := fs.Int64("capture-bytes", 16<<20, "largest captured document in bytes (GS1-EPCIS-Capture-File-Size-Limit)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *batch < 1 || *batch > 1000 || *maxEvents < 1 || *maxBytes < 1 {
		return errors.New("--batch is 1 to 1000; --capture-limit and --capture-bytes are positive")
	}
	key, err := signingKey(*keyFile, *passFile)
	if err != nil {
		return err
	}
	c, err := newClient(*base)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	signer := ledger.AddressOf(key).Hex()
	ob, err := openOutbox(*dir, c, signer, *batch, logger)
	if err != nil {
		return err
	}
	r := mux.NewRouter()
	r.UseEncodedPath()
	(&captureServer{key: key, outbox: ob, maxEvents: *maxEvents, maxBytes: *maxBytes}).mount(r)
	proxy, err := queryProxy(*base)
	if err != nil {
		return err
	}
	r.PathPrefix("/events").Handler(proxy)
	r.PathPrefix("/epcs/").Handler(proxy)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	// The outbox's submit loop and the HTTP server run until ctx ends
	// (SIGINT, SIGTERM); the loop stops between batches or aborts a
	// request in flight, and a restart resumes from the outbox.
	loopCtx, stopLoop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ob.run(loopCtx)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Printf("traceledger: gateway serving http=http://%s ledger=%s signer=%s\n", ln.Addr(), c.base, signer)
	select {
	case <-ctx.Done():
		err = nil
	case err = <-serveErr:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutCtx)
	stopLoop()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// queryProxy forwards the query binding (/events…, /epcs/…) to the
// ledger's /epcis/…, and points the next-page links back at the gateway.
func queryProxy(base string) (http.Handler, error) {
	target, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = strings.TrimSuffix(target.Path, "/") + "/epcis" + pr.In.URL.Path
			pr.Out.URL.RawPath = strings.TrimSuffix(target.EscapedPath(), "/") + "/epcis" + pr.In.URL.EscapedPath()
		},
		ModifyResponse: func(resp *http.Response) error {
			if l := resp.Header.Get("Link"); l != "" {
				resp.Header.Set("Link", strings.Replace(l, "</epcis/", "</", 1))
			}
			return nil
		},
	}, nil
}
