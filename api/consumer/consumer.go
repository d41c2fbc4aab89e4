// Package consumer serves what a shopper sees after scanning the QR code on
// a jar of Hà Giang honey or a box of Lục Ngạn lychee: a GS1-conformant
// Digital Link resolver (GET /01/{gtin}/10/{lot}[/21/{serial}]) that
// redirects a scan to the lot's page (/lot/01/…), answers the lot's JSON
// or its RFC 9264 linkset, and walks an unknown lot up to its product's
// page (/product/01/{gtin}); the pages themselves, server-rendered in
// Vietnamese or English; the QR images (PNG and SVG); printable A4 label
// sheets; and, for serialised units, a count of scans that warns when a
// code seems to have been copied.
//
// The page works with JavaScript off and weighs a few tens of kilobytes:
// inline CSS, no web fonts, no images. Every entry's EIP-191 signature is
// re-verified when a page's model is built (model.go); models are cached by
// the lot and its updated_seq, rendered pages by their ETag, so a page
// answered from memory costs a handful of key-value reads.
//
// Layout: consumer.go (construction, routes, caching headers), resolver.go
// (Digital Link resolution, link types, linksets, the lot page's handler),
// product.go (the product page a walk-up leads to), model.go (reading the
// lot's history), render.go and templates/ (HTML), i18n.go (vi and en), qr.go and
// labels.go (images and label sheets), scans.go (scan counts and their rate
// limit), cache.go (the bounded caches everything above shares, over package httpcache).
//
// Concurrency: a Consumer is safe for concurrent use. Its configuration and
// templates never change after New; its caches lock internally (cache.go).
package consumer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/api/httpcache"
	"github.com/traceledger/traceledger/api/ratelimit"
	"github.com/traceledger/traceledger/ledger"
)

// CheckpointInfo tells the verification panel about the ledger's latest
// cosigned checkpoint (DESIGN §4, Verifiability). The checkpoint signer
// implements it; with none configured the panel says that checkpoints and
// inclusion proofs are not yet available on this node.
type CheckpointInfo interface {
	// Latest returns the tree size of the newest checkpoint this node
	// holds, how many node keys signed it and how many keys the cluster
	// has; ok is false while there is none.
	Latest() (size uint64, signed, total int, ok bool)
}

// CheckpointFunc adapts a function to CheckpointInfo, as http.HandlerFunc
// does for handlers: the wiring can pass a closure over the node.
type CheckpointFunc func() (size uint64, signed, total int, ok bool)

// Latest calls f.
func (f CheckpointFunc) Latest() (uint64, int, int, bool) { return f() }

// Config configures a Consumer. Store and PublicURL are required.
type Config struct {
	// Store is the node's ledger state, read in View transactions.
	Store ledger.Store
	// PublicURL is the base URL printed in QR codes and linksets, e.g.
	// https://truyxuat.example.vn (no trailing slash needed).
	PublicURL string
	Logger    *slog.Logger
	// Checkpoints may be nil (see CheckpointInfo).
	Checkpoints CheckpointInfo
	Clock       func() time.Time

	// MaxAge is the Cache-Control max-age of pages and lot JSON; default
	// 60 s. ETags let a client revalidate cheaply after that.
	MaxAge time.Duration
	// ScanThreshold is the scan count past which a serial's page warns
	// that the code may have been copied; default 20.
	ScanThreshold int
	// MaxSerials caps the serials whose scans are counted (scans.go);
	// default 100 000.
	MaxSerials int
	// ScanRate (scans per second) and ScanBurst bound how fast one client
	// IP's scans are counted; default 10 per minute, bursts of 10.
	ScanRate  float64
	ScanBurst int
	// MaxClients caps the rate limiter's table of client IPs; default 10 000.
	MaxClients int
	// PartyRecheck is how long a page may show a participant's previous
	// name or town after an admin re-registers it; default 1 s.
	PartyRecheck time.Duration
	// ClientIP identifies a request's client for the rate limit; default
	// ratelimit.Client: the connection's peer address (IPv6 per /64).
	ClientIP func(*http.Request) string

	// OperatorName, OperatorURL and OperatorPhone say who runs this
	// ledger (serve --operator-name, --operator-url, --operator-phone):
	// the pages show them in their header and footer, so that a shopper
	// knows whom the provenance comes from and whom to call. All optional;
	// OperatorURL must be an http(s) URL.
	OperatorName, OperatorURL, OperatorPhone string
}

// Consumer serves the consumer-facing routes. Build it with New.
type Consumer struct {
	cfg    Config
	public string // PublicURL without a trailing slash
	// cacheControl is the Cache-Control of cacheable answers.
	cacheControl string
	log          *slog.Logger
	tmpl         *template.Template
	texts        map[string]*texts
	version      string // digest of the templates: part of every ETag
	// counted is the store when it counts its changes, else nil.
	counted ledger.Versioned

	models  *boundedCache[modelKey, *model]
	current *boundedCache[ledger.LotRef, validModel]
	pages   *boundedCache[string, httpcache.Body] // rendered HTML by ETag
	lotJSON *boundedCache[modelKey, httpcache.Body]
	images  *boundedCache[imageKey, []byte]
	scans   *scanCounter
	limiter *ratelimit.Limiter // whose scans are counted (scans.go)
}

type modelKey struct {
	ref     ledger.LotRef
	updated uint64
}

// pageCacheBytes bounds each of the caches of rendered pages and of lot
// JSON: 32 MiB holds the pages of a few thousand ordinary lots, and a lot
// with a very long history cannot crowd the rest out for long.
const pageCacheBytes = 32 << 20

// New validates cfg, fills its defaults and parses the templates.
func New(cfg Config) (*Consumer, error) {
	if cfg.Store == nil {
		return nil, errors.New("consumer: a store is required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("consumer: public URL %q is not an http(s) base URL", cfg.PublicURL)
	}
	if cfg.OperatorURL != "" {
		if u, err := url.Parse(cfg.OperatorURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("consumer: operator URL %q is not an http(s) URL", cfg.OperatorURL)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = time.Minute
	}
	if cfg.ScanThreshold <= 0 {
		cfg.ScanThreshold = 20
	}
	if cfg.MaxSerials <= 0 {
		cfg.MaxSerials = 100_000
	}
	if cfg.ScanRate <= 0 {
		cfg.ScanRate = 10.0 / 60
	}
	if cfg.ScanBurst <= 0 {
		cfg.ScanBurst = 10
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 10_000
	}
	if cfg.PartyRecheck <= 0 {
		cfg.PartyRecheck = time.Second
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = ratelimit.Client
	}
	tmpl, version, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	// The operator is on every page: another operator, other ETags.
	opDigest := sha256.Sum256([]byte(cfg.OperatorName + "\x00" + cfg.OperatorURL + "\x00" + cfg.OperatorPhone))
	version += hex.EncodeToString(opDigest[:4])
	counted, _ := cfg.Store.(ledger.Versioned)
	return &Consumer{
		cfg: cfg, public: strings.TrimRight(cfg.PublicURL, "/"), log: cfg.Logger, counted: counted,
		cacheControl: "public, max-age=" + strconv.Itoa(int(cfg.MaxAge.Seconds())),
		tmpl:         tmpl, texts: catalog(), version: version,
		models:  newBoundedCache[modelKey, *model](1024),
		current: newBoundedCache[ledger.LotRef, validModel](4096),
		pages:   newBodyCache[string](512, pageCacheBytes),
		lotJSON: newBodyCache[modelKey](1024, pageCacheBytes),
		images:  newBoundedCache[imageKey, []byte](256),
		scans:   newScanCounter(cfg.MaxSerials),
		limiter: ratelimit.New(cfg.ScanRate, cfg.ScanBurst, cfg.MaxClients),
	}, nil
}

// Mount adds the consumer routes to r, which must use encoded paths
// (mux.Router.UseEncodedPath, as the API's router does): a lot code may
// hold a "/" sent as %2F, and the Digital Link parser splits the path
// before decoding it.
func (c *Consumer) Mount(r *mux.Router) {
	methods := []string{http.MethodGet, http.MethodHead, http.MethodOptions}
	r.PathPrefix("/01/").HandlerFunc(c.resolve).Methods(methods...)
	r.PathPrefix(pagePrefix+"/01/").HandlerFunc(c.lotPage).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix(productPrefix+"/01/").HandlerFunc(c.productPage).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix(recallPrefix + "/01/").HandlerFunc(c.recallStatus).Methods(methods...)
	r.HandleFunc(contextPath, c.linksetContext).Methods(methods...)
	r.HandleFunc("/.well-known/gs1resolver", c.wellKnown).Methods(methods...)
	r.PathPrefix("/qr/01/").HandlerFunc(c.qrImage).Methods(methods...)
	r.PathPrefix("/labels/01/").HandlerFunc(c.labels).Methods(http.MethodGet, http.MethodHead)
}

// Handler returns the consumer routes on a router of their own.
func (c *Consumer) Handler() http.Handler {
	r := mux.NewRouter()
	r.UseEncodedPath()
	c.Mount(r)
	return r
}

// lotModel returns the page model of a lot, rebuilt only when the lot or a
// participant it names changed, and answered from memory while the ledger
// itself has not changed.
//
// Three checks, cheapest first, all in one read transaction:
//  1. The ledger's size (its head, 8 bytes) equals the size at which this
//     lot's model was last validated: nothing was written since, the model
//     stands. Every change to a lot or a participant appends an entry, so
//     an unchanged size means unchanged state.
//  2. Otherwise the lot is read: a different updated_seq means another
//     model (built once, then cached by lot and updated_seq).
//  3. The participants the page names are compared at most once per
//     Config.PartyRecheck, since re-registering a participant is rare and
//     reading them all costs more than the rest of a cached page. A model
//     is remembered as valid at a head only when its participants were
//     checked at that head, so a re-registration is never hidden for long
//     in a quiet ledger.
//
// It returns an error wrapping ledger.ErrUnknownLot when the ledger has no
// such lot.
func (c *Consumer) lotModel(ref ledger.LotRef) (*model, error) {
	// A store that counts its changes spares the transaction when
	// nothing at all was written since the model was last found current
	// (read before the transaction: see ledger.Versioned).
	var version uint64
	if c.counted != nil {
		version = c.counted.Version()
		if v, ok := c.current.get(ref); ok && v.version == version {
			return v.m, nil
		}
	}
	var m *model
	err := c.cfg.Store.View(func(rd ledger.Reader) error {
		head, err := ledger.Size(rd)
		if err != nil {
			return fmt.Errorf("read ledger size: %w", err)
		}
		if v, ok := c.current.get(ref); ok && v.head == head {
			m = v.m
			if c.counted != nil && v.version != version {
				c.current.put(ref, validModel{head: head, version: version, m: m})
			}
			return nil
		}
		lot, err := ledger.GetLot(rd, ref)
		if err != nil {
			return fmt.Errorf("read lot %s: %w", ref, err)
		}
		if lot == nil {
			return ledger.ErrUnknownLot.Detail("%s", ref)
		}
		key := modelKey{ref, lot.UpdatedSeq}
		now := c.cfg.Clock().UnixNano()
		if cached, ok := c.models.get(key); ok {
			if now-cached.checked.Load() < int64(c.cfg.PartyRecheck) {
				m = cached
				return nil
			}
			stale, err := cached.stale(rd)
			if err != nil {
				return err
			}
			if !stale {
				cached.checked.Store(now)
				c.current.put(ref, validModel{head: head, version: version, m: cached})
				m = cached
				return nil
			}
		}
		if m, err = buildModel(rd, lot); err != nil {
			return fmt.Errorf("build page of %s: %w", ref, err)
		}
		m.checked.Store(now)
		c.models.put(key, m)
		c.current.put(ref, validModel{head: head, version: version, m: m})
		return nil
	})
	return m, err
}

// validModel is a lot's model and the ledger size at which it was last
// found up to date, and the store's version read before that (when the
// store counts its changes; 0 otherwise, and unread).
type validModel struct {
	head    uint64
	version uint64
	m       *model
}

// etag derives a strong entity tag from everything a response depends on:
// the templates, the kind of answer, its language and the data's
// fingerprint (lot, its updated_seq, the participants it names) plus any
// extra parts (checkpoint state, today's date for certificate validity).
func (c *Consumer) etag(parts ...string) string {
	return httpcache.ETag(append([]string{c.version}, parts...)...)
}

// notModified reports whether the request's If-None-Match matches etag.
func notModified(r *http.Request, etag string) bool { return httpcache.NotModified(r, etag) }

// setCaching marks a response cacheable by phones and CDNs until MaxAge,
// then revalidated with its ETag.
func (c *Consumer) setCaching(w http.ResponseWriter, etag string) {
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", c.cacheControl)
}

// gzipETag is the entity tag of a body's gzip-encoded representation.
func gzipETag(etag string) string { return httpcache.GzipETag(etag) }

// serveCached answers a cacheable body under etag, gzip-encoded when the
// client accepts it, or 304 when the client holds it already.
func (c *Consumer) serveCached(w http.ResponseWriter, r *http.Request, etag, contentType string, b httpcache.Body) {
	httpcache.Serve(w, r, etag, c.cacheControl, contentType, b)
}

// write sends a complete body with its length.
func write(w http.ResponseWriter, status int, contentType string, body []byte) {
	httpcache.Write(w, status, contentType, body)
}
