package testnet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/testnet/harness"
)

// Procs is a cluster of real traceledger processes on loopback: what the
// fault tests and `traceledger testnet` run. Each node keeps its ports and
// data directory across kills and restarts. Nodes run with
// --fault-injection so that Partition can cut their Raft links.
type Procs struct {
	Bin   string
	Dir   string
	Admin *ecdsa.PrivateKey
	Nodes []*Proc
	// Stderr receives the nodes' logs (default: a log file per node in its
	// data directory).
	Stderr io.Writer
	// CertDir holds the cluster's CA and each node's certificate (see
	// MakePeerCerts); the nodes run with peer TLS.
	CertDir string
	client  *http.Client
	secret  string   // the cluster secret every node shares
	extra   []string // flags every node's serve command gets
}

// Proc is one node process.
type Proc struct {
	ID, DataDir, HTTPAddr, RaftAddr string
	args                            []string

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// URL is the node's HTTP base URL.
func (p *Proc) URL() string { return "http://" + p.HTTPAddr }

// BuildBinary builds the traceledger binary into dir and returns its path.
// moduleDir is the module root (where go.mod is).
func BuildBinary(moduleDir, dir string) (string, error) {
	bin := filepath.Join(dir, "traceledger")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/traceledger")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// MainWithBinary is the TestMain of a package whose tests run traceledger
// processes: it builds the binary from the module at moduleDir into a
// temporary directory, hands its path to use, runs the tests, removes
// the directory and returns the exit code for os.Exit.
func MainWithBinary(m interface{ Run() int }, moduleDir string, use func(bin string)) int {
	dir, err := os.MkdirTemp("", "traceledger-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := BuildBinary(moduleDir, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	use(bin)
	return m.Run()
}

// StartProcs starts n nodes from bin under dir: the first bootstraps with a
// fresh admin key, the others join it. It returns once every node has
// joined and the ledger has its genesis entry. extra flags are passed to
// every node's serve command.
func StartProcs(ctx context.Context, bin, dir string, n int, extra ...string) (*Procs, error) {
	admin, err := crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	c := &Procs{Bin: bin, Dir: dir, Admin: admin, client: &http.Client{Timeout: 30 * time.Second},
		secret: fmt.Sprintf("%x", crypto.FromECDSA(admin)[:16])}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.SecretFile(), []byte(c.secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	// Members authenticate each other with certificates from a CA made
	// for this cluster, as a production cluster should.
	c.CertDir = filepath.Join(dir, "certs")
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, fmt.Sprintf("n%d", i+1))
	}
	if err := MakePeerCerts(c.CertDir, ids, []string{"127.0.0.1", "localhost"}); err != nil {
		return nil, err
	}
	c.extra = extra
	for i := 0; i < n; i++ {
		enter := []string{"--bootstrap", "--admin", crypto.PubkeyToAddress(admin.PublicKey).Hex()}
		if i > 0 {
			enter = []string{"--join", c.Nodes[0].URL()}
		}
		p, err := c.newProc(fmt.Sprintf("n%d", i+1), enter...)
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, p)
	}
	for i := range c.Nodes {
		if err := c.Start(i); err != nil {
			c.StopAll()
			return nil, err
		}
		if i == 0 {
			if err := harness.Poll(ctx, 30*time.Second, func() bool { v, err := c.View(0); return err == nil && v.Size > 0 }); err != nil {
				c.StopAll()
				return nil, fmt.Errorf("genesis on n1: %w", err)
			}
		}
	}
	if err := harness.Poll(ctx, 30*time.Second, func() bool {
		v, err := c.View(0)
		return err == nil && len(v.Members) == n
	}); err != nil {
		c.StopAll()
		return nil, fmt.Errorf("%d members: %w", n, err)
	}
	return c, nil
}

// newProc prepares a node: its addresses, data directory and serve
// command line, with how it enters the cluster (--bootstrap or --join).
func (c *Procs) newProc(id string, enter ...string) (*Proc, error) {
	p := &Proc{ID: id, DataDir: filepath.Join(c.Dir, id)}
	var err error
	if p.HTTPAddr, err = harness.FreeAddr(); err != nil {
		return nil, err
	}
	if p.RaftAddr, err = harness.FreeAddr(); err != nil {
		return nil, err
	}
	p.args = []string{"serve", "--data", p.DataDir, "--http", p.HTTPAddr, "--raft", p.RaftAddr,
		"--node-id", p.ID, "--fault-injection", "--log-level", "warn", "--cluster-secret-file", c.SecretFile()}
	ca, cert, key := PeerFiles(c.CertDir, p.ID)
	p.args = append(p.args, "--peer-ca", ca, "--peer-cert", cert, "--peer-key", key)
	p.args = append(p.args, c.extra...)
	p.args = append(p.args, enter...)
	return p, nil
}

// AddNonVoter starts a read replica (serve --join … --non-voter) with a
// certificate from the cluster's CA, and returns its index once the
// cluster lists it as a member.
func (c *Procs) AddNonVoter(ctx context.Context) (int, error) {
	id := fmt.Sprintf("r%d", len(c.Nodes)+1)
	if err := consensus.WriteNodeCert(filepath.Join(c.CertDir, "ca"), id, []string{"127.0.0.1", "localhost"}, filepath.Join(c.CertDir, id)); err != nil {
		return 0, fmt.Errorf("certificate of %s: %w", id, err)
	}
	p, err := c.newProc(id, "--join", c.Nodes[0].URL(), "--non-voter")
	if err != nil {
		return 0, err
	}
	c.Nodes = append(c.Nodes, p)
	i := len(c.Nodes) - 1
	if err := c.Start(i); err != nil {
		return 0, err
	}
	err = harness.Poll(ctx, 30*time.Second, func() bool {
		v, err := c.View(0)
		return err == nil && len(v.Members) == len(c.Nodes)
	})
	if err != nil {
		return 0, fmt.Errorf("%s a member: %w", id, err)
	}
	return i, nil
}

// SecretFile is the file holding the cluster secret the nodes share.
func (c *Procs) SecretFile() string { return filepath.Join(c.Dir, "cluster.secret") }

// Start starts (or restarts) node i and waits until it answers /healthz.
func (c *Procs) Start(i int) error {
	p := c.Nodes[i]
	if err := os.MkdirAll(p.DataDir, 0o700); err != nil {
		return err
	}
	cmd := exec.Command(c.Bin, p.args...)
	cmd.Stdout = io.Discard
	if c.Stderr != nil {
		cmd.Stderr = c.Stderr
	} else {
		f, err := os.OpenFile(filepath.Join(p.DataDir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close() // the child holds its own descriptor
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.ID, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return harness.Poll(context.Background(), 30*time.Second, func() bool {
		select {
		case <-done:
			return true // exited: reported below
		default:
		}
		resp, err := c.client.Get(p.URL() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Pid is node i's process id, 0 when it is not running.
func (c *Procs) Pid(i int) int {
	if !c.Running(i) {
		return 0
	}
	p := c.Nodes[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Running reports whether node i's process is alive.
func (c *Procs) Running(i int) bool {
	p := c.Nodes[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (c *Procs) signal(i int, sig syscall.Signal, wait bool) error {
	p := c.Nodes[i]
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if wait {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s did not exit after %v", p.ID, sig)
		}
	}
	return nil
}

// Kill sends SIGKILL to node i and waits for it to die.
func (c *Procs) Kill(i int) error { return c.signal(i, syscall.SIGKILL, true) }

// Stop sends SIGTERM to node i and waits for it to exit.
func (c *Procs) Stop(i int) error { return c.signal(i, syscall.SIGTERM, true) }

// Pause freezes node i (SIGSTOP); Resume thaws it.
func (c *Procs) Pause(i int) error  { return c.signal(i, syscall.SIGSTOP, false) }
func (c *Procs) Resume(i int) error { return c.signal(i, syscall.SIGCONT, false) }

// StopAll stops every node (SIGTERM, then SIGKILL for a node that hangs).
func (c *Procs) StopAll() {
	var wg sync.WaitGroup
	for i := range c.Nodes {
		wg.Add(1)
		go func(i int) { defer wg.Done(); c.Resume(i); c.Stop(i) }(i)
	}
	wg.Wait()
}

func (c *Procs) postJSON(ctx context.Context, url string, v any) error {
	b, _ := json.Marshal(v)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.secret)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, body)
	}
	return nil
}

// Partition cuts node i's Raft links to every other node, both ways. The
// nodes keep running and serving HTTP.
func (c *Procs) Partition(i int) error {
	var others []string
	for j, p := range c.Nodes {
		if j == i {
			continue
		}
		others = append(others, p.RaftAddr)
		if err := c.postJSON(context.Background(), p.URL()+"/v1/debug/faults", map[string]any{"block": []string{c.Nodes[i].RaftAddr}}); err != nil {
			return err
		}
	}
	return c.postJSON(context.Background(), c.Nodes[i].URL()+"/v1/debug/faults", map[string]any{"block": others})
}

// Heal restores every Raft link of every running node.
func (c *Procs) Heal() error {
	for i, p := range c.Nodes {
		if !c.Running(i) {
			continue
		}
		if err := c.postJSON(context.Background(), p.URL()+"/v1/debug/faults", map[string]any{"heal": true}); err != nil {
			return err
		}
	}
	return nil
}

// SetLinks makes node i's cut Raft links exactly those to the peers at
// the given Raft addresses (none: every link restored), in one
// fault-injection request: the node heals, then blocks. One side's block
// cuts a link both ways (its dials fail and it refuses the peer's), so a
// partition holds even while a node on the other side cannot be told.
func (c *Procs) SetLinks(ctx context.Context, i int, blocked []string) error {
	if blocked == nil {
		blocked = []string{}
	}
	return c.postJSON(ctx, c.Nodes[i].URL()+"/v1/debug/faults", map[string]any{"heal": true, "block": blocked})
}

// NodeView is what a node reports of itself (GET /v1/cluster?local=true).
type NodeView struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Leader  string `json:"leader"`
	Applied uint64 `json:"applied_index"`
	Size    uint64 `json:"ledger_size"`
	Head    string `json:"ledger_head"`
	Origin  string `json:"ledger_origin"`
	Members []struct {
		ID   string `json:"id"`
		Role string `json:"role"` // voter or nonvoter
	} `json:"nodes"`
}

// View asks node i about itself.
func (c *Procs) View(i int) (NodeView, error) {
	v, err := ViewAt(c.Nodes[i].URL())
	if err != nil {
		return v, fmt.Errorf("%s: %w", c.Nodes[i].ID, err)
	}
	return v, nil
}

// ViewAt asks the node at url about itself.
func ViewAt(url string) (NodeView, error) {
	var v NodeView
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url + "/v1/cluster?local=true")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%s", resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// Leader returns the index of the running node that reports itself leader.
func (c *Procs) Leader(ctx context.Context, d time.Duration) (int, error) {
	idx := -1
	err := harness.Poll(ctx, d, func() bool {
		for i := range c.Nodes {
			if v, err := c.View(i); err == nil && v.State == "Leader" {
				idx = i
				return true
			}
		}
		return false
	})
	return idx, err
}

// SameHead reports whether every running node has the same ledger size and
// head, and describes them.
func (c *Procs) SameHead() (bool, string) {
	var heads []string
	same := true
	for i := range c.Nodes {
		if !c.Running(i) {
			continue
		}
		v, err := c.View(i)
		if err != nil {
			return false, err.Error()
		}
		h := fmt.Sprintf("%s:%d/%s", v.ID, v.Size, v.Head)
		if len(heads) > 0 && h[strings.Index(h, ":"):] != heads[0][strings.Index(heads[0], ":"):] {
			same = false
		}
		heads = append(heads, h)
	}
	return same, strings.Join(heads, " ")
}

// Seed submits the demo history through node i (any node: followers
// forward).
func (c *Procs) Seed(ctx context.Context, i int) error {
	return SeedDemo(ctx, c.Nodes[i].URL(), c.Admin, 30*time.Second)
}

// SeedDemo submits the demo history, signed for the ledger the node at url
// serves, whose genesis admin is admin. It retries for up to wait until
// the node answers and accepts every envelope: the envelopes are
// deterministic, so a retry, or seeding a seeded ledger, is answered
// entry for entry and changes nothing.
func SeedDemo(ctx context.Context, url string, admin *ecdsa.PrivateKey, wait time.Duration) error {
	client := &http.Client{Timeout: 10 * time.Second}
	var body []byte
	var last error
	err := harness.Poll(ctx, wait, func() bool {
		if body == nil {
			v, err := ViewAt(url)
			if err != nil || v.Origin == "" {
				last = fmt.Errorf("no ledger at %s yet (%v)", url, err)
				return false
			}
			envs, err := demo.EnvelopesFor(admin, v.Origin)
			if err != nil {
				last = err
				return false
			}
			body, _ = json.Marshal(map[string]any{"records": envs})
		}
		resp, err := client.Post(url+"/v1/records", "application/json", bytes.NewReader(body))
		if err != nil {
			last = err
			return false
		}
		defer resp.Body.Close()
		var ans struct {
			Rejected int `json:"rejected"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ans) != nil || ans.Rejected != 0 {
			last = fmt.Errorf("%s answered %s with %d envelopes refused", url, resp.Status, ans.Rejected)
			return false
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("seed demo: %w (last: %v)", err, last)
	}
	return nil
}

// AdminAddress is the genesis admin's address.
func (c *Procs) AdminAddress() string { return ledger.AddressOf(c.Admin).Hex() }

// Checkpoint returns node i's latest cosigned checkpoint note.
func (c *Procs) Checkpoint(i int) ([]byte, error) {
	resp, err := c.client.Get(c.Nodes[i].URL() + "/v1/checkpoint")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", c.Nodes[i].ID, resp.Status)
	}
	return body, err
}

// NodeKeys returns the checkpoint keys the cluster publishes.
func (c *Procs) NodeKeys(i int) ([]string, error) {
	var v struct {
		Nodes []struct {
			Key string `json:"checkpoint_key"`
		} `json:"nodes"`
	}
	resp, err := c.client.Get(c.Nodes[i].URL() + "/v1/cluster?local=true")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	var keys []string
	for _, n := range v.Nodes {
		keys = append(keys, n.Key)
	}
	return keys, nil
}
