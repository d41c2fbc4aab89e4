package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/api/consumer"
	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/node"
)

func runServe(ctx context.Context, args []string) error {
	fs := newFlags("serve")
	var (
		dataDir       = fs.String("data", "", "data directory (state, Raft log, snapshots, keys)")
		httpAddr      = fs.String("http", "127.0.0.1:8080", "HTTP listen address HOST:PORT")
		raftAddr      = fs.String("raft", "127.0.0.1:8089", "Raft listen address HOST:PORT")
		nodeID        = fs.String("node-id", "", "unique, stable node id")
		httpAdvertise = fs.String("http-advertise", "", "base URL peers and clients reach this node at (default http://<http address>)")
		raftAdvertise = fs.String("raft-advertise", "", "HOST:PORT peers reach this node's Raft at (default the --raft address)")
		bootstrap     = fs.Bool("bootstrap", false, "start a new cluster with this node as its only voter (ignored when the data dir holds cluster state)")
		join          = fs.String("join", "", "URL of a running member to join (ignored when the data dir holds cluster state)")
		nonVoter      = fs.Bool("non-voter", false, "with --join: join as a non-voting member, a read replica that replicates the log, serves every read and forwards writes, without counting for the write quorum")
		readLimit     = fs.Float64("read-limit", 0, "provenance bundles or EPCIS documents one client IP may cause to be built per second (0: 2; negative: unlimited); cached answers are free; beyond it: 429")
		memoryLimit   = fs.Int64("memory-limit-mib", 0, "soft limit of the process's Go memory in MiB, e.g. 384 on a small machine (0: none; GOMEMLIMIT, when set, takes precedence); the collector works harder near it instead of letting garbage double the heap")
		dev           = fs.Bool("dev", false, "one node in ./data with a dev admin key and the demo history")
		logLevel      = fs.String("log-level", "info", "debug, info, warn or error")
		writeLimit    = fs.Float64("write-limit", 0, "KiB of envelopes per second one client IP may submit, about one envelope per KiB (0: unlimited); beyond it: 429")
		bodyBudget    = fs.Int64("body-budget-mib", 0, "MiB of request bodies held at once across all connections (0: 64; negative: unlimited); beyond it: 503 with Retry-After")
		connsPerIP    = fs.Int("max-conns-per-client", 0, "connections one client address (IPv4, or IPv6 /64) may hold open (0: 64; negative: unlimited); beyond it the connection is closed")
		raftTimeout   = fs.Duration("raft-timeout", time.Second, "Raft heartbeat and election timeout: how long followers wait for a silent leader before electing another")
		secretFile    = fs.String("cluster-secret-file", "", "file holding the cluster secret that guards joins, removals and fault injection (or set TRACELEDGER_CLUSTER_SECRET); all nodes need the same")
		faults        = fs.Bool("fault-injection", false, "serve POST /v1/debug/faults to cut Raft links (fault tests only; never in production)")
		peerCA        = fs.String("peer-ca", "", "CA certificate (PEM) of the cluster's members: with --peer-cert and --peer-key, Raft and node-to-node traffic is mutual TLS 1.3 and plaintext peers are refused (see traceledger certs)")
		peerCert      = fs.String("peer-cert", "", "this node's certificate (PEM), issued by --peer-ca and naming --node-id")
		peerKey       = fs.String("peer-key", "", "this node's private key (PEM) for --peer-cert")
		tlsCert       = fs.String("tls-cert", "", "certificate (PEM) to serve the public API over HTTPS")
		tlsKey        = fs.String("tls-key", "", "private key (PEM) for --tls-cert")
		publicURL     = fs.String("public-url", "", "base URL printed in QR codes and consumer links, e.g. https://truyxuat.example.vn (default the node's HTTP URL)")
		operatorName  = fs.String("operator-name", "", "who operates this ledger, shown on every consumer page (e.g. Sở Công Thương Bắc Giang)")
		operatorURL   = fs.String("operator-url", "", "the operator's web site (http or https), linked from every consumer page")
		operatorPhone = fs.String("operator-phone", "", "a phone number shoppers may call, shown on every consumer page")
		witnessFile   = fs.String("witness-policy", "", "C2SP tlog-policy file naming outside witnesses (witness NAME VKEY URL, group, quorum): the leader sends each checkpoint to them and publishes their cosignatures")
		debugAddr     = fs.String("debug-addr", "", "HOST:PORT serving Go's runtime profiles at /debug/pprof/ (heap, CPU) on a listener of their own, e.g. 127.0.0.1:6060 (default: off)")
		admins        listFlag
	)
	fs.Var(&admins, "admin", "genesis admin address 0x… (repeatable; used at bootstrap only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// Badger's memtables and table builders are Go memory, and with the
	// default GOGC the heap may grow to twice what is live: a node that
	// holds 170 MiB ends up resident at 500 MiB after a burst of writes
	// (bench storage, BENCHMARKS.md). A soft limit
	// (runtime/debug.SetMemoryLimit) keeps it near what is live, at the
	// price of more collections while writes pour in; it is soft, so a
	// node that needs more gets it. Off by default: the operator chooses.
	if *memoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(*memoryLimit << 20)
	}

	if *debugAddr != "" {
		if _, err := serveDebug(ctx, *debugAddr, logger); err != nil {
			return err
		}
	}

	var adminKey *ecdsa.PrivateKey
	if *dev {
		if *dataDir == "" {
			*dataDir = "data"
		}
		if *nodeID == "" {
			*nodeID = "dev"
		}
		*bootstrap = true
		var err error
		if adminKey, err = devAdminKey(filepath.Join(*dataDir, "dev-admin.key")); err != nil {
			return err
		}
		admins = append(admins, ledger.AddressOf(adminKey).Hex())
	}
	if *dataDir == "" || *nodeID == "" {
		return errors.New("--data and --node-id are required (or use --dev)")
	}
	if *bootstrap && *join != "" {
		return errors.New("--bootstrap and --join exclude each other")
	}
	if *nonVoter && *join == "" {
		return errors.New("--non-voter needs --join")
	}
	if *join != "" {
		if u, err := url.Parse(*join); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--join %q is not an http(s) URL", *join)
		}
		*join = strings.TrimRight(*join, "/")
	}
	secret, err := clusterSecret(*secretFile)
	if err != nil {
		return err
	}
	if secret == "" && !*dev {
		logger.Info("no cluster secret: membership changes and fault injection are refused; set --cluster-secret-file to allow them")
	}
	var peerTLS *consensus.PeerTLS
	switch {
	case *peerCA != "" || *peerCert != "" || *peerKey != "":
		if *peerCA == "" || *peerCert == "" || *peerKey == "" {
			return errors.New("--peer-ca, --peer-cert and --peer-key go together")
		}
		if peerTLS, err = consensus.LoadPeerTLS(*peerCA, *peerCert, *peerKey); err != nil {
			return err
		}
		if peerTLS.NodeID() != *nodeID {
			return fmt.Errorf("--peer-cert names node %q, but this is --node-id %q", peerTLS.NodeID(), *nodeID)
		}
	case !loopbackAddr(*raftAddr) || (*raftAdvertise != "" && !loopbackAddr(*raftAdvertise)):
		logger.Warn("Raft without peer TLS: anyone who reaches the Raft port can write to the log; set --peer-ca, --peer-cert and --peer-key (traceledger certs)", "raft", *raftAddr)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	witnesses, err := readWitnessPolicy("--witness-policy", *witnessFile)
	if err != nil {
		return err
	}
	var adminAddrs []common.Address
	for _, a := range admins {
		addr, err := ledger.ParseAddress(a)
		if err != nil {
			return fmt.Errorf("--admin: %w", err)
		}
		adminAddrs = append(adminAddrs, addr)
	}

	n, err := node.Start(ctx, node.Config{
		ID: *nodeID, DataDir: *dataDir, HTTPAddr: *httpAddr, RaftAddr: *raftAddr,
		HTTPAdvertise: strings.TrimRight(*httpAdvertise, "/"), RaftAdvertise: *raftAdvertise,
		Bootstrap: *bootstrap, Join: *join, NonVoter: *nonVoter, HeavyReadLimit: *readLimit, Admins: adminAddrs, Logger: logger, FaultInjection: *faults,
		HeartbeatTimeout: *raftTimeout, ElectionTimeout: *raftTimeout, WriteLimit: *writeLimit, ClusterSecret: secret,
		PeerTLS: peerTLS, TLSCert: *tlsCert, TLSKey: *tlsKey, WitnessPolicy: witnesses,
		BodyBudget: *bodyBudget << 20, MaxConnsPerClient: *connsPerIP,
		// The consumer pages, GS1 Digital Link resolver, QR images and labels.
		PublicURL: *publicURL,
		Pages:     consumer.Config{OperatorName: *operatorName, OperatorURL: *operatorURL, OperatorPhone: *operatorPhone},
	})
	if err != nil {
		return err
	}
	// One machine-readable line for scripts and the test harness.
	fmt.Printf("traceledger: node %s serving http=%s raft=%s\n", *nodeID, n.HTTPURL(), n.RaftAddr())
	if *bootstrap && len(adminAddrs) == 0 && !n.Raft().Resumed() {
		logger.Warn("bootstrapped without --admin: nobody can register participants")
	}
	if *dev {
		if err := seedDemo(ctx, n, adminKey, *dataDir, logger); err != nil {
			n.Stop()
			return err
		}
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-n.Err():
		logger.Error("http server failed", "err", err)
	}
	return n.Stop()
}

// clusterSecret reads the cluster secret from file, or else from
// TRACELEDGER_CLUSTER_SECRET. A named file that cannot be read, or holds
// nothing, is an error: a typo must not silently mean "no secret".
func clusterSecret(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv("TRACELEDGER_CLUSTER_SECRET")), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--cluster-secret-file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("--cluster-secret-file %s is empty: put a long random secret in it (e.g. openssl rand -hex 32 > %s)", file, file)
	}
	if len(secret) < 16 {
		return "", fmt.Errorf("--cluster-secret-file %s: the secret is %d characters; use at least 16", file, len(secret))
	}
	return secret, nil
}

// loopbackAddr reports whether a HOST:PORT names only this machine.
func loopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// devAdminKey loads the dev admin key, creating it on first start.
func devAdminKey(path string) (*ecdsa.PrivateKey, error) {
	if k, err := loadKey(path, ""); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	if err := savePlainKey(path, k); err != nil {
		return nil, err
	}
	return k, nil
}

// seedDemo submits the demo history. The envelopes are deterministic, so a
// restart re-submits identical envelopes and the ledger answers each with
// its existing entry: nothing is duplicated.
func seedDemo(ctx context.Context, n *node.Node, admin *ecdsa.PrivateKey, dataDir string, logger *slog.Logger) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitGenesis(wctx, n); err != nil {
		return fmt.Errorf("wait for genesis: %w", err)
	}
	var origin string
	if err := n.Store().View(func(r ledger.Reader) (err error) { origin, err = ledger.Origin(r); return err }); err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	envs, err := demo.EnvelopesFor(admin, origin)
	if err != nil {
		return err
	}
	res, err := n.Submit(wctx, envs)
	if err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	if len(res) > 0 && errors.Is(res[0].Err, ledger.ErrIDReused) {
		// A data directory seeded before demo records named their
		// ledger: its history stays as it was.
		if envs, err = demo.Envelopes(admin); err != nil {
			return err
		}
		if res, err = n.Submit(wctx, envs); err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
	}
	created, existing := 0, 0
	for i, r := range res {
		switch {
		case r.Err != nil:
			return fmt.Errorf("seed demo: envelope %d refused: %w", i, r.Err)
		case r.Existing:
			existing++
		default:
			created++
		}
	}
	logger.Info("demo history", "new_entries", created, "already_present", existing)
	u := n.HTTPURL()
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	fmt.Printf("\ntraceledger dev node is up at %s (data in %s, admin key %s)\n\nTry:\n", u, dataDir, filepath.Join(dataDir, "dev-admin.key"))
	fmt.Printf("  curl %s/v1/cluster\n", u)
	fmt.Printf("  curl %s/v1/entries/1\n", u)
	for _, l := range demo.Lots() {
		fmt.Printf("  curl %s/v1/lots/%s/%s        # %s\n", u, l.GTIN, l.Lot, l.What)
	}
	first, recalled := demo.Lots()[0], demo.Lots()[len(demo.Lots())-1]
	fmt.Printf("  curl %s/v1/participants/%s\n", u, ledger.AddressOf(admin).Hex())
	fmt.Printf("  curl %s/v1/checkpoint\n", u)
	fmt.Printf("  curl %s/v1/lots/%s/%s/provenance > bundle.json && traceledger verify --tofu bundle.json\n", u, first.GTIN, first.Lot)
	fmt.Printf("  traceledger lot --url %s %s %s\n", u, first.GTIN, first.Lot)
	fmt.Printf("\nIn a browser (what a consumer sees after scanning the QR code):\n")
	fmt.Printf("  %s/01/%s/10/%s\n", u, first.GTIN, first.Lot)
	fmt.Printf("  %s/01/%s/10/%s        # recalled\n", u, recalled.GTIN, recalled.Lot)
	fmt.Printf("  %s/qr/01/%s/10/%s.svg     # the QR code\n", u, first.GTIN, first.Lot)
	fmt.Printf("  %s/labels/01/%s/10/%s     # a printable A4 label sheet\n", u, first.GTIN, first.Lot)
	fmt.Printf("\nThe field app (sign on a phone, offline too) and the landing page:\n")
	fmt.Printf("  %s/app/     # to act as the admin, import %s with a PIN of your choice\n", u, filepath.Join(dataDir, "dev-admin.key"))
	fmt.Printf("  %s/\n\n", u)
	return nil
}

func waitGenesis(ctx context.Context, n *node.Node) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		var size uint64
		if err := n.Store().View(func(r ledger.Reader) (err error) { size, err = ledger.Size(r); return err }); err != nil {
			return err
		}
		if size > 0 && n.Raft().IsLeader() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
