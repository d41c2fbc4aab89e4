// Package node assembles one traceledger node from its parts: the Badger
// state store (ledger/badgerkv) with the lot-head map in memory
// (ledger.LotMapStore), the Raft member (consensus), the HTTP API
// (api) with the consumer pages (api/consumer) and the field app
// (api/fieldapp), and the listeners. It holds
// wiring only: every behaviour lives in the part it belongs to (see
// DESIGN.md). The serve command, the benchmark and the in-process cluster
// tests all start nodes through Start, so there is one wiring to get
// right.
package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/api/consumer"
	"github.com/traceledger/traceledger/api/fieldapp"
	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// Config configures a node. Addresses may use port 0; the bound ones are
// reported by HTTPURL and RaftAddr.
type Config struct {
	ID            string
	DataDir       string
	HTTPAddr      string // listen address, e.g. 127.0.0.1:8080
	RaftAddr      string
	HTTPAdvertise string // URL peers and clients use; default http://<bound HTTP address>
	RaftAdvertise string
	Bootstrap     bool
	Join          string // URL of any member, for a new node
	// NonVoter makes the Join ask for a non-voting membership: a read
	// replica (see consensus.Node.JoinNonvoter).
	NonVoter bool
	Admins   []common.Address
	Logger   *slog.Logger

	// Consensus tuning; zero values take the consensus defaults.
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64

	// WriteLimit is the most KiB of envelopes per second one client IP may
	// submit (0: unlimited); see api.Config.WriteRate.
	WriteLimit float64
	// HeavyReadLimit is how many provenance bundles or EPCIS documents
	// one client IP may cause to be built per second (answers from the
	// read cache are free); 0: the API's default, negative: unlimited.
	// See api.Config.HeavyReadRate.
	HeavyReadLimit float64
	// BodyBudget bounds the request-body bytes held at once across all
	// connections (0: api.DefaultBodyBudget, 64 MiB; negative: unlimited);
	// MinBodyRate and BodyStallTimeout time each body. See api.Config.
	BodyBudget       int64
	MinBodyRate      float64
	BodyStallTimeout time.Duration
	// MaxConnsPerClient bounds the connections one client address (IPv4,
	// or IPv6 /64) holds open; excess ones are closed on accept. 0:
	// DefaultMaxConnsPerClient (64); negative: unlimited. Loopback is not
	// exempt: tests that open many connections raise it.
	MaxConnsPerClient int
	// ClusterSecret guards membership changes and fault injection; empty
	// refuses them.
	ClusterSecret string
	// PeerTLS authenticates members to each other with mutual TLS on the
	// Raft port (Raft and node-to-node HTTP); nil: plaintext, for a
	// loopback dev cluster only.
	PeerTLS *consensus.PeerTLS
	// TLSCert and TLSKey, when set, serve the public API over HTTPS.
	TLSCert, TLSKey string
	// FaultInjection serves POST /v1/debug/faults, which cuts this node's
	// Raft links to chosen peers (multi-process fault tests only).
	FaultInjection bool
	// PublicURL is the base URL consumers reach this ledger at, printed on
	// labels and in QR codes; default the node's HTTP URL.
	PublicURL string
	// Pages configures the consumer pages and the Digital Link resolver
	// (operator, scan limits); Start fills in their store, public URL,
	// checkpoint summary and logger.
	Pages consumer.Config
	// WitnessPolicy names the outside witnesses (C2SP tlog-policy) the
	// leader sends each checkpoint to; nil: none.
	WitnessPolicy *ledger.WitnessPolicy
}

var _ api.ApplyCounters = (*consensus.Node)(nil)

// The layout of a node's data directory: the ledger state (badgerkv) in
// StateDir, the Raft log and snapshots in RaftDir, and the checkpoint key
// in node.key. A directory with neither state nor Raft log is new.

// StateDir is where a node keeps its ledger state.
func StateDir(dataDir string) string { return filepath.Join(dataDir, "state") }

// RaftDir is where a node keeps its Raft log and snapshots.
func RaftDir(dataDir string) string { return filepath.Join(dataDir, "raft") }

// Node is a running node.
type Node struct {
	cfg     Config
	store   *badgerkv.DB
	state   *ledger.LotMapStore // store, with the lot-head map in memory
	raft    *consensus.Node
	api     *api.Server
	ln      net.Listener
	srv     *http.Server
	peerSrv *http.Server // node-to-node HTTP on the Raft port
	httpURL string
	logger  *slog.Logger

	serveErr chan error
	stopOnce sync.Once
	stopErr  error
}

// Start opens the store, starts the Raft member and serves HTTP. With Join
// set and no Raft state on disk, it asks the cluster to add it, retrying
// until the cluster answers or ctx ends.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ID == "" || cfg.DataDir == "" {
		return nil, errors.New("node: id and data dir are required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	n := &Node{cfg: cfg, logger: cfg.Logger.With("node", cfg.ID), serveErr: make(chan error, 1)}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTPAddr, err)
	}
	scheme := "http://"
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("HTTPS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
		scheme = "https://"
	}
	n.ln = ln
	n.httpURL = cfg.HTTPAdvertise
	if n.httpURL == "" {
		n.httpURL = scheme + ln.Addr().String()
	}
	if n.store, err = badgerkv.Open(badgerkv.Options{Dir: StateDir(cfg.DataDir), GCInterval: gcEvery, ReleaseIdle: releaseIdle,
		MissFilter: ledger.MissPrefixes(), Logger: n.logger}); err != nil {
		ln.Close()
		return nil, err
	}
	// A ledger written before the EPCIS event indexes gets them now,
	// before Raft applies anything.
	if err := ledger.IndexEvents(n.store); err != nil {
		n.store.Close()
		ln.Close()
		return nil, err
	}
	// The lot-head map lives in memory, derived from the lot heads the
	// store holds while the node starts; every write from here on goes
	// through n.state. A failed derivation leaves each reader to derive
	// its own, which fails the same way on corrupt lot heads: it is
	// logged, and the node serves what it can.
	n.state = ledger.NewLotMapStore(n.store)
	go func() {
		if err := n.state.Wait(); err != nil {
			n.logger.Error("derive the lot-head map", "err", err)
		}
	}()
	skey, vkey, err := loadCheckpointKey(filepath.Join(cfg.DataDir, "node.key"), cfg.ID)
	if err != nil {
		n.closeStore()
		ln.Close()
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		n.closeStore()
		ln.Close()
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	stream, err := consensus.NewStreamLayer(cfg.RaftAddr, cfg.RaftAdvertise, cfg.ID, cfg.PeerTLS)
	if err != nil {
		n.closeStore()
		ln.Close()
		return nil, err
	}
	n.raft, err = consensus.New(consensus.Config{
		CheckpointKey: signer, CheckpointVerifier: vkey, Cosigner: api.CosignClient{HTTP: stream.Client()}, Stream: stream,
		ID: cfg.ID, Dir: RaftDir(cfg.DataDir), RaftBind: cfg.RaftAddr, RaftAdvertise: cfg.RaftAdvertise,
		HTTPAdvertise: n.httpURL, Bootstrap: cfg.Bootstrap, Admins: cfg.Admins, Logger: n.logger,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs,
		WitnessPolicy: cfg.WitnessPolicy,
	}, n.state)
	if err != nil {
		stream.Close()
		n.closeStore()
		ln.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	apiCfg := api.Config{Cluster: n.raft, Logger: n.logger, Registry: reg, Client: n.raft.PeerClient(), WriteRate: cfg.WriteLimit, WriteBurst: int(4 * cfg.WriteLimit), ClusterSecret: cfg.ClusterSecret, Snapshots: n.store,
		BodyBudget: cfg.BodyBudget, MinBodyRate: cfg.MinBodyRate, BodyStallTimeout: cfg.BodyStallTimeout,
		HeavyReadRate: cfg.HeavyReadLimit, HeavyReadBurst: int(max(30, 4*cfg.HeavyReadLimit))}
	if cfg.FaultInjection {
		apiCfg.Faults = stream
	}
	if n.api, err = api.New(apiCfg); err != nil {
		n.closeParts()
		return nil, err
	}
	pages := cfg.Pages
	pages.Store, pages.PublicURL = n.state, strings.TrimRight(cfg.PublicURL, "/")
	if pages.PublicURL == "" {
		pages.PublicURL = n.httpURL
	}
	pages.Checkpoints = consumer.CheckpointFunc(n.raft.CheckpointSummary)
	if pages.Logger == nil {
		pages.Logger = n.logger.With("component", "consumer")
	}
	c, err := consumer.New(pages)
	if err != nil {
		n.closeParts()
		return nil, fmt.Errorf("consumer pages: %w", err)
	}
	c.Mount(n.api.Router())
	// The field app at /app/ and the landing page at /.
	app, err := fieldapp.New(fieldapp.Config{OperatorName: pages.OperatorName, OperatorURL: pages.OperatorURL,
		Logger: n.logger.With("component", "fieldapp")})
	if err != nil {
		n.closeParts()
		return nil, fmt.Errorf("field app: %w", err)
	}
	app.Mount(n.api.Router())
	n.srv = n.httpServer(nil)
	// Node-to-node HTTP arrives on the Raft port's members' channel and
	// is served by the same handler, each request tagged with the member
	// it came from.
	n.peerSrv = n.httpServer(func(ctx context.Context, c net.Conn) context.Context {
		id, authed := consensus.PeerOf(c)
		return api.WithPeer(ctx, api.Peer{ID: id, Authenticated: authed})
	})
	if cfg.MaxConnsPerClient == 0 {
		cfg.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "traceledger_http_connections_refused_total",
		Help: "Connections closed on accept: their client address already had the most open (see --max-conns-per-client)."})
	reg.MustRegister(refused)
	limited := limitConns(ln, cfg.MaxConnsPerClient, refused.Inc, n.logger)
	go func() { n.serveErr <- n.srv.Serve(limited) }()
	go n.peerSrv.Serve(n.raft.PeerListener())

	if cfg.Join != "" && !n.raft.Resumed() {
		jc := api.JoinClient{Public: publicClient(cfg.PeerTLS), Peer: n.raft.PeerClient(), Secret: cfg.ClusterSecret, Logger: n.logger}
		req := api.JoinRequest{ID: cfg.ID, Raft: n.RaftAddr(), HTTP: n.httpURL, Key: n.raft.CheckpointKey(), NonVoter: cfg.NonVoter}
		if err := jc.Join(ctx, cfg.Join, req); err != nil {
			n.Stop()
			return nil, err
		}
	}
	return n, nil
}

// publicClient reaches members' public APIs (the --join URL). With peer
// TLS it trusts the cluster's CA beside the system's roots, for
// --join https://….
func publicClient(p *consensus.PeerTLS) *http.Client {
	c := &http.Client{Timeout: 15 * time.Second}
	if p == nil {
		return c
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	roots = roots.Clone()
	for _, ca := range p.CACerts() {
		roots.AddCert(ca)
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	return c
}

// httpServer is an HTTP server of the node's API with its limits;
// connContext, when not nil, tags each connection's requests.
func (n *Node) httpServer(connContext func(context.Context, net.Conn) context.Context) *http.Server {
	return &http.Server{
		Handler:           n.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Requests with a body are timed by the API instead, by rate: a
		// 4 MiB batch over a weak 3G uplink takes longer than this.
		ReadTimeout:    2 * time.Minute,
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(n.logger.Handler(), slog.LevelDebug),
		ConnContext:    connContext,
	}
}

// HTTPURL is the base URL the node serves at.
func (n *Node) HTTPURL() string { return n.httpURL }

// RaftAddr is the address of the node's Raft transport.
func (n *Node) RaftAddr() string { return n.raft.RaftAddr() }

// Store is the node's state store, for reads in process (tools, tests).
func (n *Node) Store() ledger.Store { return n.state }

// Raft is the node's Raft member.
func (n *Node) Raft() *consensus.Node { return n.raft }

// Submit admits and commits envelopes in process, bypassing HTTP (demo
// seeding, benchmarks). Refused envelopes come back as results with Err.
func (n *Node) Submit(ctx context.Context, envs []ledger.Envelope) ([]ledger.Result, error) {
	results := make([]ledger.Result, len(envs))
	var adm []*ledger.Admitted
	var idx []int
	for i, e := range envs {
		a, err := ledger.Admit(e, time.Now())
		if err != nil {
			results[i].Err = err
			continue
		}
		adm = append(adm, a)
		idx = append(idx, i)
	}
	res, err := n.raft.Submit(ctx, adm)
	if err != nil {
		return nil, err
	}
	for k, i := range idx {
		results[i] = res[k]
	}
	return results, nil
}

// WaitLeader waits until this node is the leader or knows one.
func (n *Node) WaitLeader(ctx context.Context) error { return n.raft.WaitLeader(ctx) }

// Err reports a failure of the HTTP server after Start.
func (n *Node) Err() <-chan error { return n.serveErr }

// Stop shuts the node down gracefully: stop accepting HTTP, finish
// requests in flight, hand leadership over, close the stores.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.srv.Shutdown(ctx); err != nil {
			n.srv.Close()
		}
		if err := n.peerSrv.Shutdown(ctx); err != nil {
			n.peerSrv.Close()
		}
		n.stopErr = n.closeParts()
	})
	return n.stopErr
}

func (n *Node) closeParts() error {
	var errs []error
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown())
	}
	errs = append(errs, n.closeStore())
	n.ln.Close()
	return errors.Join(errs...)
}

// closeStore closes the state store once the lot-head map's derivation,
// which reads it, is done.
func (n *Node) closeStore() error {
	n.state.Wait()
	return n.store.Close()
}

// loadCheckpointKey reads the node's checkpoint signing key, creating it
// (mode 0600) on first start. The file holds the note signer key and the
// verifier key, one per line.
func loadCheckpointKey(path, id string) (skey, vkey string, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		lines := strings.Fields(string(data))
		if len(lines) != 2 {
			return "", "", fmt.Errorf("%s: want a signer key and a verifier key", path)
		}
		return lines[0], lines[1], nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", "", err
	}
	skey, vkey, err = consensus.NewCheckpointKey(rand.Reader, id)
	if err != nil {
		return "", "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("create checkpoint key: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%s\n%s\n", skey, vkey); err != nil {
		f.Close()
		return "", "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", "", err
	}
	return skey, vkey, f.Close()
}

// gcEvery is how often the node reclaims space in Badger's value log.
const gcEvery = 10 * time.Minute

// releaseIdle is how long a node's store stays without writes before the
// node returns its free memory to the OS (badgerkv.Options.ReleaseIdle).
const releaseIdle = 10 * time.Second
