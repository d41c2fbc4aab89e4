// Package fieldapp serves the field app at /app/ and the ledger's landing
// page at /.
//
// The field app is an installable web app (manifest, service worker,
// offline shell) in which producers, processors, distributors, retailers,
// inspectors and admins sign records on their own phones, often long before
// there is signal. It is plain HTML, CSS and JavaScript kept in app/ and
// embedded in the binary: no build step, no package registry, nothing
// loaded from another origin (the Content-Security-Policy says so to the
// browser). Its signer (app/signer.js) produces exactly the bytes the
// ledger package verifies: RFC 8785 canonical JSON, EIP-191 personal_sign,
// RFC 6979 and low-S; its checks (app/checks.js) are ledger/validate.go's,
// with the same codes and messages, in Vietnamese too.
//
// Why a JavaScript signer and not the Go code compiled to WebAssembly: one
// implementation would be attractive, but even a package holding only the
// canonical form and the signature would carry go-ethereum's secp256k1 and
// the Go runtime, megabytes against a 150 KB budget for phones on 3G. The
// signer is 300 lines of JavaScript with no dependencies (BigInt
// arithmetic, WebCrypto for HMAC-SHA-256), 4.6 KB gzipped, and the browser
// tests hold it to the Go code: the same canonical bytes and the same
// signature, byte for byte, for every record and message of the
// conformance files in testdata/.
//
// Caching: every asset is answered with an ETag and "Cache-Control:
// no-cache", so the browser revalidates each time it is online (a 304 costs
// a few bytes). The service worker's cache name carries a digest of all
// the assets, written into sw.js when the package starts: any change to any
// asset changes sw.js, the browser installs the new worker, and the new
// worker replaces the cached shell.
//
// Key backup file (what the app exports and imports, and what
// `traceledger --key` reads; see cmd/traceledger/backup.go):
//
//	{"format": "traceledger-key-backup/1",
//	 "address": "0x…EIP-55 address of the key…",
//	 "kdf": {"name": "PBKDF2", "hash": "SHA-256", "iterations": 600000, "salt": "<base64, 16 bytes>"},
//	 "cipher": {"name": "AES-GCM", "iv": "<base64, 12 bytes>"},
//	 "ciphertext": "<base64: AES-256-GCM of the 32-byte private key, 16-byte tag appended,
//	                additional data = the address as written>"}
//
// The AES key is PBKDF2-HMAC-SHA-256(PIN, salt, iterations, 32 bytes)
// (RFC 8018 §5.2; 600 000 iterations is OWASP's 2023 figure for it). A
// six-digit PIN keeps the key from whoever picks up the phone; it does not
// keep it from someone who copies the backup file and tries every PIN for
// a few days. Backups belong where only their owner can reach them, and a
// longer PIN buys time.
package fieldapp

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/gorilla/mux"
)

//go:embed app
var appFiles embed.FS

//go:embed landing.html
var landingHTML string

// Prefix is where the app is served.
const Prefix = "/app/"

// versionMark is replaced in sw.js by the digest of every other asset.
const versionMark = "__ASSETS_VERSION__"

// Config configures the app and the landing page.
type Config struct {
	// OperatorName and OperatorURL say on the landing page who runs this
	// ledger (serve --operator-name, --operator-url). OperatorURL, when
	// set, must be an http(s) URL.
	OperatorName, OperatorURL string
	Logger                    *slog.Logger
}

// App serves the field app and the landing page. It is immutable after
// New and safe for concurrent use.
type App struct {
	cfg     Config
	assets  map[string]*asset // by path under /app/, "" for index.html
	landing *template.Template
	version string
}

// asset is one embedded file, ready to send: its bytes, their gzip form
// (nil when gzip does not make it smaller), its ETag and content type.
type asset struct {
	body, gz []byte
	etag     string
	ctype    string
}

// New loads and compresses the embedded assets.
func New(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OperatorURL != "" {
		if u, err := url.Parse(cfg.OperatorURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("fieldapp: operator URL %q is not an http(s) URL", cfg.OperatorURL)
		}
	}
	a := &App{cfg: cfg, assets: map[string]*asset{}}
	raw := map[string][]byte{}
	err := fs.WalkDir(appFiles, "app", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := appFiles.ReadFile(p)
		raw[strings.TrimPrefix(p, "app/")] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fieldapp: read assets: %w", err)
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		if n != "sw.js" {
			fmt.Fprintf(h, "%s\x00%d\x00", n, len(raw[n]))
			h.Write(raw[n])
		}
	}
	a.version = hex.EncodeToString(h.Sum(nil))[:16]
	for _, n := range names {
		b := raw[n]
		if n == "sw.js" {
			b = bytes.ReplaceAll(b, []byte(versionMark), []byte(a.version))
		}
		as, err := newAsset(n, b)
		if err != nil {
			return nil, err
		}
		a.assets[n] = as
	}
	if a.assets["index.html"] == nil || a.assets["sw.js"] == nil {
		return nil, fmt.Errorf("fieldapp: index.html or sw.js missing from the embedded app")
	}
	a.landing, err = template.New("landing").Parse(landingHTML)
	if err != nil {
		return nil, fmt.Errorf("fieldapp: landing page template: %w", err)
	}
	return a, nil
}

func newAsset(name string, b []byte) (*asset, error) {
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // not every system's MIME table knows these
	case ".webmanifest":
		ctype = "application/manifest+json"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		return nil, fmt.Errorf("fieldapp: no content type for %s", name)
	}
	sum := sha256.Sum256(b)
	as := &asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("fieldapp: gzip %s: %w", name, err)
	}
	if z.Len() < len(b) {
		as.gz = z.Bytes()
	}
	return as, nil
}

// Version is the digest of the app's assets, the service worker's cache name.
func (a *App) Version() string { return a.version }

// Size returns the bytes of the asset at name (a path under /app/) as
// sent with gzip and without; ok is false for an unknown asset.
func (a *App) Size(name string) (gzipped, plain int, ok bool) {
	as := a.assets[name]
	if as == nil {
		return 0, 0, false
	}
	if as.gz == nil {
		return len(as.body), len(as.body), true
	}
	return len(as.gz), len(as.body), true
}

// Mount adds GET /app/…, the address QR codes under /app/qr/ and the
// landing page at / to r.
func (a *App) Mount(r *mux.Router) {
	r.Handle("/app", http.RedirectHandler(Prefix, http.StatusMovedPermanently)).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix(Prefix+"qr/").HandlerFunc(a.addressQR).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix(Prefix).HandlerFunc(a.serveAsset).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/", a.serveLanding).Methods(http.MethodGet, http.MethodHead)
}

// csp keeps every resource of the app on this origin; data: and blob:
// images are the camera preview and downloaded backups.
const csp = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

func (a *App) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	if name == "" {
		name = "index.html"
	}
	as := a.assets[name]
	if as == nil {
		http.Error(w, "no such file in the field app", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", as.ctype)
	h.Set("ETag", as.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("Vary", "Accept-Encoding")
	if name == "sw.js" {
		h.Set("Service-Worker-Allowed", Prefix)
	}
	if etagMatch(r.Header.Get("If-None-Match"), as.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := as.body
	if as.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = as.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// etagMatch reports whether an If-None-Match header names etag (RFC 9110
// §13.1.2: weak comparison, so W/"x" matches "x").
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip with a
// non-zero quality (RFC 9110 §12.5.3).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		return !strings.HasPrefix(params, "q=0") || strings.HasPrefix(params, "q=0.") && strings.Trim(params[4:], "0") != ""
	}
	return false
}
