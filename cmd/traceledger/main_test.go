package main

// Test harness of the command: TestMain builds the binary once; helpers run
// it as a real process (serve, and the client commands), start in-process
// nodes for the client commands to talk to, and speak HTTP to either.

import (
	"bufio"
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
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/node"
	"github.com/traceledger/traceledger/testnet/harness"
)

// binPath is the traceledger binary built by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "traceledger-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "traceledger")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-o", binPath, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the test process's environment without TRACELEDGER_*
// variables, plus extra: the commands read their flags from the
// environment, and the tests must not depend on the caller's.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRACELEDGER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// result is the outcome of a finished command.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary to completion (at most a minute).
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = cleanEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%v did not finish within a minute; stderr:\n%s", args, r.stderr)
	}
	return r
}

// lines collects a reader's lines as they come.
type lines struct {
	mu   sync.Mutex
	all  []string
	done chan struct{}
}

func collect(r io.Reader) *lines {
	l := &lines{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *lines) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

func (l *lines) String() string { return strings.Join(l.snapshot(), "\n") }

// process is a running traceledger command.
type process struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdout  *lines
	stderr  *lines
	exited  chan struct{}
	waitErr error
	url     string
}

var servingLine = regexp.MustCompile(`^traceledger: node (\S+) serving http=(\S+) raft=(\S+)$`)

// execCommandIn starts `traceledger args...` in dir (the test's working
// directory when empty), with env added to the environment, without waiting for it; the process is killed when
// the test ends if it still runs.
func execCommandIn(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env...)
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: cmd, stdout: collect(outPipe), stderr: collect(errPipe), exited: make(chan struct{})}
	go func() {
		<-p.stdout.done
		<-p.stderr.done
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func execCommand(t *testing.T, args ...string) *process {
	t.Helper()
	return execCommandIn(t, "", nil, args...)
}

// startServe starts `traceledger args...` in dir and waits for its
// "serving" line.
func startServe(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	return startServeEnv(t, dir, nil, args...)
}

// startServeEnv is startServe with env added to the environment.
func startServeEnv(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	p := execCommandIn(t, dir, env, args...)
	p.waitLine("the serving line", func(line string) bool {
		if m := servingLine.FindStringSubmatch(line); m != nil {
			p.url = m[2]
			return true
		}
		return false
	})
	return p
}

// waitLine waits until a stdout line satisfies match, failing if the
// process exits or 30 s pass first.
func (p *process) waitLine(what string, match func(string) bool) {
	p.t.Helper()
	exited := false
	err := harness.Poll(context.Background(), 30*time.Second, func() bool {
		for _, l := range p.stdout.snapshot() {
			if match(l) {
				return true
			}
		}
		select {
		case <-p.exited:
			exited = true
			return true
		default:
			return false
		}
	})
	switch {
	case exited:
		p.t.Fatalf("the process exited (%v) before printing %s; stdout:\n%s\nstderr:\n%s", p.waitErr, what, p.stdout, p.stderr)
	case err != nil:
		p.t.Fatalf("no %s within 30 s; stdout:\n%s\nstderr:\n%s", what, p.stdout, p.stderr)
	}
}

// stop sends SIGTERM and requires a clean exit within 30 s.
func (p *process) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("serve did not exit within 30 s of SIGTERM; stderr:\n%s", p.stderr)
	}
	if p.waitErr != nil {
		p.t.Errorf("serve exited with %v after SIGTERM; stderr:\n%s", p.waitErr, p.stderr)
	}
}

// httpClient is shared by the helpers below.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// get fetches base+path.
func get(t *testing.T, base, path string) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b
}

// post sends raw JSON to base/v1/records.
func post(t testing.TB, base string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Post(base+"/v1/records", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /v1/records: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST /v1/records: %v", err)
	}
	return resp.StatusCode, b
}

type clusterView struct {
	State string `json:"state"`
	Size  uint64 `json:"ledger_size"`
	Head  string `json:"ledger_head"`
}

func cluster(base string) (clusterView, bool) {
	var c clusterView
	resp, err := httpClient.Get(base + "/v1/cluster")
	if err != nil {
		return c, false
	}
	defer resp.Body.Close()
	return c, resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&c) == nil
}

// waitLeader polls /v1/cluster until the node leads a ledger of at least
// minSize entries, and returns what it reported.
func waitLeader(t *testing.T, base string, minSize uint64) clusterView {
	t.Helper()
	var c clusterView
	if err := harness.Poll(context.Background(), 30*time.Second, func() bool {
		var ok bool
		c, ok = cluster(base)
		return ok && c.State == "Leader" && c.Size >= minSize
	}); err != nil {
		t.Fatalf("%s did not lead a ledger of %d entries within 30 s", base, minSize)
	}
	return c
}

// startNode starts an in-process node at httpAddr with admin as genesis
// admin, for the client commands to talk to, and waits for its genesis.
func startNode(t *testing.T, httpAddr string, admin *ecdsa.PrivateKey) *node.Node {
	t.Helper()
	n, err := node.Start(context.Background(), node.Config{
		ID: "c1", DataDir: t.TempDir(), HTTPAddr: httpAddr, RaftAddr: "127.0.0.1:0", Bootstrap: true,
		Admins:           []common.Address{ledger.AddressOf(admin)},
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("node.Start: %v", err)
	}
	t.Cleanup(func() { n.Stop() })
	waitLeader(t, n.HTTPURL(), 1)
	return n
}

func genKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signRec signs a record with key, filling signer and time.
func signRec(t testing.TB, key *ecdsa.PrivateKey, rec map[string]any) ledger.Envelope {
	t.Helper()
	rec["signer"] = ledger.AddressOf(key).Hex()
	if _, ok := rec["time"]; !ok {
		rec["time"] = "2026-06-12T05:30:00+07:00"
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ledger.SignEnvelope(key, raw)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func registration(t testing.TB, admin, who *ecdsa.PrivateKey, id string, roles ...string) ledger.Envelope {
	return signRec(t, admin, map[string]any{"type": "participant", "id": id,
		"address": ledger.AddressOf(who).Hex(), "name": "Hợp tác xã " + id, "roles": roles})
}

func harvestRecord(id, gtin, lot string) map[string]any {
	return map[string]any{"type": "harvest", "id": id, "lot": map[string]string{"gtin": gtin, "lot": lot},
		"product":  map[string]string{"name": "Vải thiều Lục Ngạn"},
		"quantity": map[string]any{"amount": 500, "unit": "KGM"},
		"place":    map[string]string{"name": "Phì Điền, Lục Ngạn"}}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
