// Package api serves traceledger over HTTP with gorilla/mux: signed record
// submission, reads of lots, entries and participants, cluster membership,
// backups, health and metrics.
//
// The package declares what it consumes (Cluster) and never reaches into
// Raft or Badger directly. Every error goes through classify (errors.go),
// the single mapping from ledger and consensus errors to HTTP statuses and
// the JSON error body of DESIGN §3.4.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"

	"github.com/traceledger/traceledger/api/httpcache"
	"github.com/traceledger/traceledger/api/ratelimit"
	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

// Cluster is what the HTTP layer needs from the replicated ledger.
// *consensus.Node implements it; handler tests use a fake.
type Cluster interface {
	// Submit commits admitted envelopes; consensus.ErrNotLeader elsewhere
	// than on the leader.
	Submit(ctx context.Context, envs []*ledger.Admitted) ([]ledger.Result, error)
	// Linearize makes the next local read linearizable (leader only).
	Linearize(ctx context.Context) error
	// Store is the local state, for reads.
	Store() ledger.Store
	IsLeader() bool
	// LeaderPeerURL is the base URL of the leader's node-to-node HTTP
	// (reached with Config.Client), "" if unknown.
	LeaderPeerURL() string
	Status() consensus.Status
	Join(id, raftAddr, httpURL, checkpointKey string) error
	// JoinNonvoter adds a read replica: a member that replicates the log
	// and serves reads but never votes.
	JoinNonvoter(id, raftAddr, httpURL, checkpointKey string) error
	Remove(id string) error

	// Cosign signs a checkpoint that matches the local log.
	Cosign(ctx context.Context, c ledger.Checkpoint) ([]byte, error)
	// LatestCheckpoint is the latest cosigned checkpoint held locally.
	LatestCheckpoint() (ledger.Checkpoint, []byte, bool, error)
	// WaitCheckpoint waits for a cosigned checkpoint covering size entries.
	WaitCheckpoint(ctx context.Context, size uint64) (ledger.Checkpoint, []byte, error)
}

// Config configures a Server.
type Config struct {
	Cluster Cluster
	Logger  *slog.Logger
	Clock   func() time.Time
	// Registry receives the server's metrics; nil creates a private one.
	Registry *prometheus.Registry
	// Client makes node-to-node requests (forwarded writes, status of
	// peers) to the URLs the cluster names; nil uses a plain client with a
	// 30 s timeout. A node passes consensus.Node.PeerClient.
	Client *http.Client
	// MaxBodyBytes bounds a request body; default 4 MiB (DESIGN §3.2).
	MaxBodyBytes int64
	// BodyBudget bounds the request-body bytes held at once across all
	// connections; a body that would exceed it is refused with 503 and
	// Retry-After, unread. Default DefaultBodyBudget (64 MiB; the reasons
	// are on the constant); negative: unlimited. See bodybudget.go.
	BodyBudget int64
	// MinBodyRate is the lowest average rate, in bytes per second, at which
	// a request body may arrive (after BodyStallTimeout of grace); slower
	// bodies are cut with 408. Default DefaultMinBodyRate (8 KiB/s);
	// negative: no minimum.
	MinBodyRate float64
	// BodyStallTimeout is the longest wait for the next bytes of a request
	// body; default DefaultBodyStallTimeout (20 s).
	BodyStallTimeout time.Duration
	// MaxBatch bounds the envelopes of one request; default 1 000.
	MaxBatch int
	// AdmitWorkers verify signatures in parallel; default GOMAXPROCS.
	AdmitWorkers int
	// WriteRate limits what one client IP may submit, in KiB of request
	// body per second (an envelope is about 1 KiB), with a burst of
	// WriteBurst KiB; 0 means no limit. A forwarded request is limited on
	// the node the client reached, not again on the leader.
	WriteRate  float64
	WriteBurst int
	// ReadCacheBytes bounds the memory of cached read answers (lot JSON,
	// provenance bundles, EPCIS documents; see readcache.go); default
	// DefaultReadCacheBytes.
	ReadCacheBytes int64
	// HeavyReadRate limits how many provenance bundles or EPCIS documents
	// one client IP may cause to be built (answers from the cache are
	// free), per second, with bursts of HeavyReadBurst. Default 2 a second
	// with bursts of 30: a person browsing never meets it, a script
	// walking every lot of the ledger does. Negative: no limit.
	HeavyReadRate  float64
	HeavyReadBurst int
	// BundleRefresh is how long a cached provenance bundle of an unchanged
	// lot is served after a newer checkpoint exists; default 30 s. See
	// getProvenance.
	BundleRefresh time.Duration
	// ClusterSecret guards membership changes, fault injection and
	// backups (see auth.go); without it they are refused.
	ClusterSecret string
	// Faults, when set, serves /v1/debug/faults (faults.go), behind the
	// cluster secret: multi-process fault tests and the chaos workload
	// only, never in production.
	Faults FaultInjector
	// Snapshots serves GET /v1/backup (backup.go); nil: no backups.
	Snapshots Snapshots
}

// Server is the HTTP API of one node.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	cluster Cluster
	client  *http.Client
	metrics *metrics
	router  *mux.Router
	limit   *ratelimit.Limiter // nil: no write limit
	budget  *bodyBudget
	guard   *bodyGuard

	// Cached reads (readcache.go).
	reads      *httpcache.Cache[string, *cachedRead]
	flight     singleflight.Group
	building   sync.Map           // flight keys of the builds running now
	heavyLimit *ratelimit.Limiter // nil: no limit
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Cluster == nil {
		return nil, fmt.Errorf("api: a cluster is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.BodyBudget == 0 {
		cfg.BodyBudget = DefaultBodyBudget
	}
	if cfg.MinBodyRate == 0 {
		cfg.MinBodyRate = DefaultMinBodyRate
	}
	if cfg.BodyStallTimeout <= 0 {
		cfg.BodyStallTimeout = DefaultBodyStallTimeout
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.ReadCacheBytes <= 0 {
		cfg.ReadCacheBytes = DefaultReadCacheBytes
	}
	if cfg.HeavyReadRate == 0 {
		cfg.HeavyReadRate, cfg.HeavyReadBurst = 2, max(cfg.HeavyReadBurst, 30)
	}
	if cfg.BundleRefresh <= 0 {
		cfg.BundleRefresh = 30 * time.Second
	}
	if cfg.AdmitWorkers == 0 {
		cfg.AdmitWorkers = runtime.GOMAXPROCS(0)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, cluster: cfg.Cluster, client: cfg.Client}
	var err error
	s.budget = newBodyBudget(cfg.BodyBudget)
	if s.metrics, err = newMetrics(cfg.Registry, s.budget, cfg.Cluster); err != nil {
		return nil, err
	}
	if err := cfg.Registry.Register(newWitnessCollector(cfg.Cluster.Status)); err != nil {
		return nil, err
	}
	s.guard = &bodyGuard{budget: s.budget, maxBody: cfg.MaxBodyBytes, minRate: max(cfg.MinBodyRate, 0), stall: cfg.BodyStallTimeout,
		refused: func(reason string) { s.metrics.bodyRefusals.WithLabelValues(reason).Inc() }, write: s.writeGuardError}
	if cfg.WriteRate > 0 {
		// A runaway field device cannot crowd out the others.
		s.limit = ratelimit.New(cfg.WriteRate, max(cfg.WriteBurst, int(cfg.WriteRate)), maxWriteClients)
	}
	if cfg.HeavyReadRate > 0 {
		s.heavyLimit = ratelimit.New(cfg.HeavyReadRate, max(cfg.HeavyReadBurst, 1), maxWriteClients)
	}
	s.reads = httpcache.New[string](maxCachedReads, cfg.ReadCacheBytes, func(c *cachedRead) int64 {
		return c.body.Size() + int64(len(c.etag)) + 256
	})
	s.routes()
	return s, nil
}

// maxWriteClients bounds the write limiter's table of clients.
const maxWriteClients = 10_000

func (s *Server) routes() {
	notFound := unlabelled(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errNotFound.with("no route "+r.URL.Path))
	}))
	notAllowed := unlabelled(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errMethod.with(r.Method+" is not allowed on "+r.URL.Path))
	}))
	newRouter := func() *mux.Router {
		r := mux.NewRouter()
		// Lot codes may contain '/' (GS1 CSET 82); clients send it as %2F.
		r.UseEncodedPath()
		r.NotFoundHandler, r.MethodNotAllowedHandler = notFound, notAllowed
		r.Use(labelRoute)
		return r
	}
	r := newRouter()
	// Each family of routes is a router of its own behind its prefix, so
	// that a request tries only its family's patterns: gorilla/mux tries
	// routes in order, and a consumer page used to be matched against
	// every /v1/ pattern first, a quarter of what serving it from cache
	// cost. A family answers its own 404 and 405 (mux's subrouters would
	// lose a 405 found before the family's last route).
	family := func(prefix string) *mux.Router {
		f := newRouter()
		r.PathPrefix(prefix).Handler(f)
		return f
	}
	v1, ep, lg := family("/v1/"), family("/epcis/"), family("/log/")
	v1.HandleFunc("/v1/records", s.postRecords).Methods(http.MethodPost)
	v1.HandleFunc("/v1/lots/{gtin}/{lot}", s.getLot).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/lots/{gtin}/{lot}/provenance", s.getProvenance).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/lots/{gtin}/{lot}/epcis", s.getEPCIS).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/checkpoint", s.getCheckpoint).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/checkpoint/cosign", s.postCosign).Methods(http.MethodPost)
	v1.HandleFunc("/v1/proofs/inclusion/{seq}", s.getInclusion).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/proofs/consistency", s.getConsistency).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/entries/{seq}", s.getEntry).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/participants", s.listParticipants).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/participants/{address}", s.getParticipant).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/participants/{address}/lots", s.getParticipantLots).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/cluster", s.getCluster).Methods(http.MethodGet, http.MethodHead)
	v1.HandleFunc("/v1/cluster/nodes", s.postNode).Methods(http.MethodPost) // authorizes itself: secret or the joiner's certificate
	v1.HandleFunc("/v1/cluster/nodes/{id}", RequireSecret(s.cfg.ClusterSecret, s.deleteNode)).Methods(http.MethodDelete)
	if s.cfg.Faults != nil {
		v1.HandleFunc("/v1/debug/faults", RequireSecret(s.cfg.ClusterSecret, s.faults)).Methods(http.MethodGet, http.MethodPost)
	}
	v1.HandleFunc("/v1/backup", RequireSecret(s.cfg.ClusterSecret, s.getBackup)).Methods(http.MethodGet)
	ep.HandleFunc("/epcis/events", s.getEPCISEvents).Methods(http.MethodGet, http.MethodHead) // EPCIS 2.0 query binding (epcisquery.go)
	ep.HandleFunc("/epcis/events/{eventID}", s.getEPCISEvent).Methods(http.MethodGet, http.MethodHead)
	ep.HandleFunc("/epcis/epcs/{epc}/events", s.getEPCISEPCEvents).Methods(http.MethodGet, http.MethodHead)
	ep.HandleFunc("/epcis/{rest:.*}", s.optionsEPCIS).Methods(http.MethodOptions)
	lg.HandleFunc("/log/checkpoint", s.getCheckpoint).Methods(http.MethodGet, http.MethodHead) // c2sp.org/tlog-tiles (tiles.go)
	lg.PathPrefix("/log/tile/").HandlerFunc(s.getTile).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	s.router = r
}

// writeGuardError answers a request the body bounds refused; a refused
// write of records is counted as an answer to it.
func (s *Server) writeGuardError(w http.ResponseWriter, r *http.Request, err error) {
	if isRecordsPost(r) {
		s.refuseRecords(w, r, err)
		return
	}
	s.writeError(w, r, err)
}

// Router exposes the router so that other handlers (the consumer pages,
// the resolver) can be mounted beside the API.
func (s *Server) Router() *mux.Router { return s.router }

// Handler returns the root handler: the router behind the request-body
// bounds, panic recovery and request metrics.
func (s *Server) Handler() http.Handler {
	return s.instrument(s.recoverPanics(cors(s.guard.wrap(s.router))))
}

// recoverPanics turns a panic in a handler into a logged 500 instead of a
// dropped connection. A panic is always a bug; the log names the path.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: "internal", Message: "internal error"}})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 once the node knows a leader and can serve reads.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	st := s.cluster.Status()
	if st.Leader == "" {
		s.writeError(w, r, consensus.ErrNoLeader)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "leader": st.Leader, "applied_index": st.Applied})
}
