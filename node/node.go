// Package node assembles one traceledger node from its parts: the Badger
// state store (ledger/badgerkv), the Raft member (consensus), the HTTP API
// (api) and its listener. The serve command, the benchmark and the
// in-process cluster tests all start nodes through Start, so there is one
// wiring to get right.
package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/api"
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
	// Mount adds routes (consumer pages, resolver) beside the API.
	Mount func(r *mux.Router, n *Node) error
}

// Node is a running node.
type Node struct {
	cfg     Config
	Store   *badgerkv.DB
	Raft    *consensus.Node
	API     *api.Server
	ln      net.Listener
	srv     *http.Server
	peerSrv *http.Server // node-to-node HTTP on the Raft port
	httpURL string
	logger  *slog.Logger

	serveErr  chan error
	stopGC    context.CancelFunc // stops collectGarbage
	gcDone    chan struct{}      // closed when collectGarbage has returned
	cpSummary checkpointSummary
	stopOnce  sync.Once
	stopErr   error
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
	if n.Store, err = badgerkv.Open(badgerkv.Options{Dir: filepath.Join(cfg.DataDir, "state"), Logger: n.logger}); err != nil {
		ln.Close()
		return nil, err
	}
	skey, vkey, err := loadCheckpointKey(filepath.Join(cfg.DataDir, "node.key"), cfg.ID)
	if err != nil {
		n.Store.Close()
		ln.Close()
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		n.Store.Close()
		ln.Close()
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	stream, err := consensus.NewStreamLayer(cfg.RaftAddr, cfg.RaftAdvertise, cfg.ID, cfg.PeerTLS)
	if err != nil {
		n.Store.Close()
		ln.Close()
		return nil, err
	}
	n.Raft, err = consensus.New(consensus.Config{
		CheckpointKey: signer, CheckpointVerifier: vkey, Cosigner: api.CosignClient{HTTP: stream.Client()}, Stream: stream,
		ID: cfg.ID, Dir: filepath.Join(cfg.DataDir, "raft"), RaftBind: cfg.RaftAddr, RaftAdvertise: cfg.RaftAdvertise,
		HTTPAdvertise: n.httpURL, Bootstrap: cfg.Bootstrap, Admins: cfg.Admins, Logger: n.logger,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs,
	}, n.Store)
	if err != nil {
		stream.Close()
		n.Store.Close()
		ln.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.registerGauges(reg)
	if n.API, err = api.New(api.Config{Cluster: n.Raft, Logger: n.logger, Registry: reg, Client: n.Raft.PeerClient(), WriteRate: cfg.WriteLimit, WriteBurst: int(4 * cfg.WriteLimit), ClusterSecret: cfg.ClusterSecret,
		BodyBudget: cfg.BodyBudget, MinBodyRate: cfg.MinBodyRate, BodyStallTimeout: cfg.BodyStallTimeout,
		HeavyReadRate: cfg.HeavyReadLimit, HeavyReadBurst: int(max(30, 4*cfg.HeavyReadLimit))}); err != nil {
		n.closeParts()
		return nil, err
	}
	if cfg.FaultInjection {
		n.API.Router().HandleFunc("/v1/debug/faults", api.RequireSecret(cfg.ClusterSecret, n.faults)).Methods(http.MethodPost, http.MethodGet)
	}
	if cfg.Mount != nil {
		if err := cfg.Mount(n.API.Router(), n); err != nil {
			n.closeParts()
			return nil, err
		}
	}
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
	go n.peerSrv.Serve(n.Raft.PeerListener())
	gcCtx, stopGC := context.WithCancel(context.Background())
	n.stopGC = stopGC
	n.gcDone = make(chan struct{})
	go n.collectGarbage(gcCtx)

	if cfg.Join != "" && !n.Raft.Resumed() {
		if err := n.join(ctx); err != nil {
			n.Stop()
			return nil, err
		}
	}
	return n, nil
}

// httpServer is an HTTP server of the node's API with its limits;
// connContext, when not nil, tags each connection's requests.
func (n *Node) httpServer(connContext func(context.Context, net.Conn) context.Context) *http.Server {
	return &http.Server{
		Handler:           n.API.Handler(),
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
func (n *Node) RaftAddr() string { return n.Raft.RaftAddr() }

// join asks the cluster at cfg.Join to add this node, with backoff: the
// member it asks may still be starting or between leaders. It learns the
// leader's Raft address from the member's public GET /v1/cluster and sends
// the join on the members' channel there, where, with peer TLS, this
// node's certificate vouches for its id; the cluster secret, when set,
// goes with it.
func (n *Node) join(ctx context.Context) error {
	join := map[string]any{"id": n.cfg.ID, "raft": n.RaftAddr(), "http": n.httpURL, "checkpoint_key": n.Raft.CheckpointKey()}
	if n.cfg.NonVoter {
		join["non_voter"] = true
	}
	body, _ := json.Marshal(join)
	public := &http.Client{Timeout: 15 * time.Second}
	if n.cfg.PeerTLS != nil {
		// Trust the system's roots and the cluster's CA for --join https://….
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		roots = roots.Clone()
		for _, c := range n.cfg.PeerTLS.CACerts() {
			roots.AddCert(c)
		}
		public.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	}
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		done, err := n.tryJoin(ctx, public, body)
		if done {
			if err == nil {
				n.logger.Info("joined cluster", "via", n.cfg.Join)
			}
			return err
		}
		n.logger.Info("join not yet possible; retrying", "via", n.cfg.Join, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %s: %w", n.cfg.Join, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// tryJoin makes one attempt; done is false when it is worth retrying.
func (n *Node) tryJoin(ctx context.Context, public *http.Client, body []byte) (done bool, err error) {
	leader, err := leaderRaftAddr(ctx, public, n.cfg.Join)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, consensus.PeerURL(leader)+"/v1/cluster/nodes", bytes.NewReader(body))
	if err != nil {
		return true, fmt.Errorf("join %s: %w", n.cfg.Join, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if n.cfg.ClusterSecret != "" {
		req.Header.Set("Authorization", "Bearer "+n.cfg.ClusterSecret)
	}
	resp, err := n.Raft.PeerClient().Do(req)
	if err != nil {
		return false, fmt.Errorf("reach leader at %s: %w", leader, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusServiceUnavailable:
		return false, fmt.Errorf("%s", resp.Status)
	}
	return true, fmt.Errorf("join %s: %s: %s", n.cfg.Join, resp.Status, bytes.TrimSpace(msg))
}

// leaderRaftAddr asks a member's public API for the leader's Raft address.
func leaderRaftAddr(ctx context.Context, c *http.Client, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/v1/cluster?local=true", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct {
		Leader string `json:"leader"`
		Nodes  []struct {
			ID   string `json:"id"`
			Raft string `json:"raft"`
		} `json:"nodes"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s/v1/cluster: %s", base, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return "", fmt.Errorf("GET %s/v1/cluster: %w", base, err)
	}
	for _, m := range v.Nodes {
		if m.ID == v.Leader && v.Leader != "" && m.Raft != "" {
			return m.Raft, nil
		}
	}
	return "", fmt.Errorf("%s knows no leader yet", base)
}

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
	res, err := n.Raft.Submit(ctx, adm)
	if err != nil {
		return nil, err
	}
	for k, i := range idx {
		results[i] = res[k]
	}
	return results, nil
}

// WaitLeader waits until this node is the leader or knows one.
func (n *Node) WaitLeader(ctx context.Context) error { return n.Raft.WaitLeader(ctx) }

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
		n.stopGC()
		<-n.gcDone
		n.stopErr = n.closeParts()
	})
	return n.stopErr
}

func (n *Node) closeParts() error {
	var errs []error
	if n.Raft != nil {
		errs = append(errs, n.Raft.Shutdown())
	}
	errs = append(errs, n.Store.Close())
	n.ln.Close()
	return errors.Join(errs...)
}

// faultRequest is the body of POST /v1/debug/faults: cut the Raft links to
// the peers at these Raft addresses, or heal every link.
type faultRequest struct {
	Block []string `json:"block"`
	Heal  bool     `json:"heal"`
}

func (n *Node) faults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var fr faultRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&fr); err != nil {
			http.Error(w, "bad fault request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if fr.Heal {
			n.Raft.Faults().Heal()
		}
		n.Raft.Faults().Block(fr.Block...)
		n.logger.Warn("fault injection", "blocked", n.Raft.Faults().Blocked())
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string][]string{"blocked": n.Raft.Faults().Blocked()})
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

// checkpointSummary caches what the consumer pages show of the latest
// checkpoint; verifying its cosignatures on every page would cost more
// than rendering it.
type checkpointSummary struct {
	mu            sync.Mutex // guards the fields below
	size          uint64
	signed, total int
	ok            bool
	// applied and last are the node's applied index and last Raft log
	// index when the summary was made: a checkpoint and a membership
	// change each move one of them.
	applied, last uint64
}

// CheckpointSummary returns the latest cosigned checkpoint's size, how many
// of the cluster's node keys validly signed it, and how many keys there are.
// Every consumer page asks, so while neither the applied index nor the Raft
// log moved it answers from memory, without reading the cluster's status.
func (n *Node) CheckpointSummary() (size uint64, signed, total int, ok bool) {
	applied, last := n.Raft.Applied(), n.Raft.LastIndex()
	s := &n.cpSummary
	s.mu.Lock()
	if s.ok && s.applied == applied && s.last == last {
		defer s.mu.Unlock()
		return s.size, s.signed, s.total, true
	}
	s.mu.Unlock()
	cp, msg, have, err := n.Raft.LatestCheckpoint()
	if err != nil || !have {
		return 0, 0, 0, false
	}
	keys := n.Raft.Status().CheckpointKeys()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied, s.last = applied, last
	if s.ok && s.size == cp.Size && s.total == len(keys) {
		return s.size, s.signed, s.total, true
	}
	_, names, _ := ledger.OpenCheckpoint(msg, keys)
	s.size, s.signed, s.total, s.ok = cp.Size, len(names), len(keys), true
	return s.size, s.signed, s.total, true
}

// registerGauges exposes the node's replication and ledger state on
// /metrics, read when Prometheus scrapes.
func (n *Node) registerGauges(reg *prometheus.Registry) {
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("traceledger_raft_applied_index", "Last Raft log index applied to this node's state.", func() float64 { return float64(n.Raft.Applied()) })
	gauge("traceledger_raft_commit_index", "Last Raft log index known committed.", func() float64 { return float64(n.Raft.Status().Commit) })
	gauge("traceledger_raft_leader", "1 if this node is the Raft leader.", func() float64 {
		if n.Raft.IsLeader() {
			return 1
		}
		return 0
	})
	gauge("traceledger_ledger_entries", "Entries in the ledger on this node.", func() float64 {
		var size uint64
		n.Store.View(func(r ledger.Reader) (err error) { size, err = ledger.Size(r); return err })
		return float64(size)
	})
	gauge("traceledger_checkpoint_size", "Size of the latest cosigned checkpoint this node holds.", func() float64 {
		cp, _, _, _ := n.Raft.LatestCheckpoint()
		return float64(cp.Size)
	})
	counter := func(name, help string, f func() int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
	}
	counter("traceledger_apply_refused_log_entries_total", "Committed Raft log entries refused because they do not decode, are of an unknown kind or are oversized (no honest leader proposes one).", n.Raft.RefusedLogs)
	counter("traceledger_apply_unverified_records_total", "Logged envelopes refused in apply because their record or signature did not verify (no honest leader proposes one).", n.Raft.UnverifiedRecords)
	gauge("traceledger_snapshot_restores", "Raft snapshots installed since the node started.", func() float64 { return float64(n.Raft.Restores()) })
}

// gcEvery is how often the node reclaims space in Badger's value log.
const gcEvery = 10 * time.Minute

// collectGarbage runs Badger's value-log GC now and then, for as long as
// the node runs. Started by Start; it returns when ctx is cancelled (Stop),
// closing gcDone.
func (n *Node) collectGarbage(ctx context.Context) {
	defer close(n.gcDone)
	t := time.NewTicker(gcEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.Store.RunGC()
		}
	}
}
