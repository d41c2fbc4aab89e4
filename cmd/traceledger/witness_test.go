package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

// litewitnessVersion is the C2SP witness the tests run against our
// checkpoints: third-party software, built from its module.
const litewitnessVersion = "filippo.io/torchwood/cmd/litewitness@v0.6.1"

// liteWitness is a litewitness process with its ssh-agent and database.
type liteWitness struct {
	t                   testing.TB
	bin, dir, db, sock  string
	name, vkey, keyHash string // keyHash: the SSH SHA-256 fingerprint
	addr                string
	cmd                 *exec.Cmd
	exited              chan struct{}
	stderr              strings.Builder
}

// newLiteWitness builds litewitness, starts an ssh-agent holding a new
// Ed25519 key and computes the witness's cosignature/v1 verifier key. It
// skips the test if litewitness cannot be built (no module proxy).
func newLiteWitness(t testing.TB, name string) *liteWitness {
	t.Helper()
	for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen", "sqlite3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (Debian openssh-client, sqlite3; .ci/run installs them): %v", tool, err)
		}
	}
	// A short directory: a Unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &liteWitness{t: t, dir: dir, db: filepath.Join(dir, "w.db"), sock: filepath.Join(dir, "s"), name: name}
	gobin := filepath.Join(dir, "bin")
	install := exec.Command("go", "install", litewitnessVersion)
	install.Env = append(os.Environ(), "GOBIN="+gobin)
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("cannot build %s, skipping the witness round trip: %v\n%s", litewitnessVersion, err, out)
	}
	w.bin = filepath.Join(gobin, "litewitness")

	agent := exec.Command("ssh-agent", "-a", w.sock, "-D")
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	if err := harness.Poll(context.Background(), 10*time.Second, func() bool { _, err := os.Stat(w.sock); return err == nil }); err != nil {
		t.Fatalf("ssh-agent socket: %v", err)
	}
	key := filepath.Join(dir, "key")
	w.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "witness", "-f", key)
	w.run("ssh-add", key)
	fp := strings.Fields(w.run("ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))
	if len(fp) < 2 {
		t.Fatalf("ssh-keygen -l: %v", fp)
	}
	w.keyHash = fp[1]
	pubLine, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	blob, err := base64.StdEncoding.DecodeString(strings.Fields(string(pubLine))[1])
	if err != nil || len(blob) < 32 {
		t.Fatalf("public key %q: %v", pubLine, err)
	}
	vk := append([]byte{0x04}, blob[len(blob)-32:]...) // cosignature/v1 (c2sp.org/tlog-cosignature)
	sum := sha256.Sum256(append([]byte(name+"\n"), vk...))
	w.vkey = fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(sum[:4]), base64.StdEncoding.EncodeToString(vk))
	if w.addr, err = harness.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *liteWitness) run(name string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+w.sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// trust adds the ledger to the witness's database, as its operator would:
// the origin, at size 0, and the node keys that may sign its checkpoints.
func (w *liteWitness) trust(origin string, nodeKeys []string) {
	w.t.Helper()
	empty := sha256.Sum256(nil)
	sql := []string{
		"CREATE TABLE IF NOT EXISTS log (origin TEXT PRIMARY KEY, tree_size INTEGER NOT NULL, tree_hash TEXT NOT NULL);",
		"CREATE TABLE IF NOT EXISTS key (origin TEXT NOT NULL, key TEXT NOT NULL, FOREIGN KEY(origin) REFERENCES log(origin));",
		fmt.Sprintf("INSERT INTO log (origin, tree_size, tree_hash) VALUES ('%s', 0, '%s');", origin, base64.StdEncoding.EncodeToString(empty[:])),
	}
	for _, k := range nodeKeys {
		sql = append(sql, fmt.Sprintf("INSERT INTO key (origin, key) VALUES ('%s', '%s');", origin, k))
	}
	w.run("sqlite3", w.db, strings.Join(sql, "\n"))
}

func (w *liteWitness) start() {
	w.t.Helper()
	w.cmd = exec.Command(w.bin, "-db", w.db, "-ssh-agent", w.sock, "-key", w.keyHash, "-name", w.name, "-listen", w.addr)
	w.stderr.Reset()
	w.cmd.Stderr = &w.stderr
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.exited = make(chan struct{})
	go func() { w.cmd.Wait(); close(w.exited) }()
	w.t.Cleanup(w.stop)
	err := harness.Poll(context.Background(), 20*time.Second, func() bool {
		resp, err := http.Get("http://" + w.addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if err != nil {
		w.t.Fatalf("litewitness did not listen: %v\n%s", err, w.stderr.String())
	}
}

func (w *liteWitness) stop() {
	if w.cmd == nil {
		return
	}
	w.cmd.Process.Kill()
	<-w.exited
	w.cmd = nil
}

func (w *liteWitness) url() string { return "http://" + w.addr }

// witnessView is the witness part of GET /v1/cluster.
func witnessView(t *testing.T, base string) consensus.WitnessStatus {
	t.Helper()
	_, body := get(t, base, "/v1/cluster")
	var v struct {
		Witnesses []consensus.WitnessStatus `json:"witnesses"`
	}
	if err := json.Unmarshal(body, &v); err != nil || len(v.Witnesses) != 1 {
		t.Fatalf("witnesses in /v1/cluster: %v %s", err, body)
	}
	return v.Witnesses[0]
}

// TestWitnessLitewitness runs a 3-node cluster with litewitness as its
// outside witness: a witness that is down blocks no write and shows its
// lag; once up it cosigns our checkpoints, and `verify --policy` accepts a
// bundle with its cosignature (and refuses one whose policy needs more);
// it refuses a checkpoint with another root at a size it knows; and when
// it has been shown a fork of the ledger, the leader reports it.
func TestWitnessLitewitness(t *testing.T) {
	lw := newLiteWitness(t, "witness.traceledger.test/w1")
	dir := t.TempDir()
	policyText := fmt.Sprintf("witness w1 %s %s\nquorum w1\n", lw.vkey, lw.url())
	policyFile := filepath.Join(dir, "witnesses.policy")
	writeFile(t, policyFile, []byte(policyText))
	policy, err := ledger.ParseWitnessPolicy([]byte(policyText))
	if err != nil {
		t.Fatal(err)
	}
	c := testnet.StartLocal(t, 3, testnet.LocalOptions{WitnessPolicy: policy})
	leader := c.Leader()
	base := c.Nodes[leader].HTTPURL()
	admin := c.Admin
	producer := genKey(t)

	// The witness is down: writes go on, its lag and error show.
	for _, env := range [][]byte{
		mustJSON(t, registration(t, admin, producer, "p1", "producer")),
		mustJSON(t, signRec(t, producer, harvestRecord("h1", "08936000000127", "W1"))),
	} {
		if st, body := postRetry(t, base, env); st != http.StatusCreated {
			t.Fatalf("write with the witness down: %d %s", st, body)
		}
	}
	c.WaitFor("the witness's lag and error", 20*time.Second, func() bool {
		w := witnessView(t, base)
		return w.Lag > 0 && w.LastError != "" && w.Name == "w1"
	})
	// Only the leader exports the witness series.
	if _, m := get(t, c.Nodes[c.Leader()].HTTPURL(), "/metrics"); !strings.Contains(string(m), `traceledger_witness_lag_entries{witness="w1"}`) ||
		!strings.Contains(string(m), `traceledger_witness_last_error{error=`) {
		t.Errorf("/metrics lacks the witness's lag or last error:\n%s", grepLines(string(m), "traceledger_witness_"))
	}

	// The operator adds the ledger to the witness and starts it.
	var origin string
	c.Nodes[leader].Store().View(func(r ledger.Reader) (err error) { origin, err = ledger.Origin(r); return err })
	lw.trust(origin, c.Nodes[leader].Raft().Status().CheckpointKeys())
	lw.start()
	var size uint64
	c.WaitFor("the witness to cosign the latest checkpoint", 30*time.Second, func() bool {
		cp, _, ok, _ := c.Nodes[leader].Raft().LatestCheckpoint()
		w := witnessView(t, base)
		size = cp.Size
		return ok && w.Lag == 0 && w.Cosigned == cp.Size && w.LastError == ""
	})
	_, cpNote := get(t, base, "/v1/checkpoint")
	if !strings.Contains(string(cpNote), "— "+lw.name+" ") {
		t.Errorf("GET /v1/checkpoint lacks the witness's cosignature:\n%s", cpNote)
	}

	// verify --policy: the bundle's checkpoint carries the quorum.
	st, bundle := get(t, base, "/v1/lots/08936000000127/W1/provenance")
	if st != http.StatusOK {
		t.Fatalf("provenance: %d %s", st, bundle)
	}
	bundleFile, keyFile := filepath.Join(dir, "bundle.json"), filepath.Join(dir, "nodes.keys")
	writeFile(t, bundleFile, bundle)
	writeFile(t, keyFile, []byte(strings.Join(c.Nodes[leader].Raft().Status().CheckpointKeys(), "\n")+"\n"))
	if r := run(t, nil, "verify", "--state-dir", filepath.Join(dir, "s1"), "--trust", keyFile, "--policy", policyFile, bundleFile); r.code != 0 ||
		!strings.Contains(r.stdout, `witnesses: quorum "w1" met by w1`) || !strings.Contains(r.stdout, "the witness quorum") {
		t.Fatalf("verify --policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	other := newCosignKey(t, "witness.traceledger.test/w2")
	strict := filepath.Join(dir, "strict.policy")
	writeFile(t, strict, fmt.Appendf(nil, "witness w1 %s\nwitness w2 %s\ngroup both all w1 w2\nquorum both\n", lw.vkey, other))
	if r := run(t, nil, "verify", "--state-dir", filepath.Join(dir, "s2"), "--trust", keyFile, "--policy", strict, bundleFile); r.code != 1 ||
		!strings.Contains(r.stdout, `FAIL witnesses: witness quorum not met: quorum "both"`) {
		t.Fatalf("verify with a policy needing two witnesses: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Another root at a size the witness knows: refused (422).
	nodeSigner := nodeNoteSigner(t, c.Config(leader).DataDir)
	forked := ledger.Checkpoint{Origin: origin, Size: size, Root: tlog.Hash{0xf0, 0x0d}}
	forkNote, err := ledger.SignCheckpoint(forked, nodeSigner)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := consensus.AddCheckpoint(ctx, http.DefaultClient, lw.url(), size, nil, forkNote); !errors.Is(err, consensus.ErrWitnessFork) {
		t.Fatalf("a forked checkpoint at size %d: %v, want ErrWitnessFork", size, err)
	}

	// Someone holding a node key shows the witness a fork one entry on:
	// our log's first size entries and another entry. The witness accepts
	// it (the proof holds), and the leader, when its next checkpoint
	// reaches the witness, reports the fork.
	hashes := map[int64]tlog.Hash{}
	c.Nodes[leader].Store().View(func(r ledger.Reader) error {
		for i := int64(0); i < tlog.StoredHashIndex(0, int64(size)); i++ {
			h, err := ledger.HashReader(r).ReadHashes([]int64{i})
			if err != nil {
				t.Fatalf("stored hash %d: %v", i, err)
			}
			hashes[i] = h[0]
		}
		return nil
	})
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			h, ok := hashes[x]
			if !ok {
				return nil, fmt.Errorf("no hash %d", x)
			}
			out[i] = h
		}
		return out, nil
	})
	more, err := tlog.StoredHashes(int64(size), []byte(`{"a":"forged entry"}`), hr)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range more {
		hashes[tlog.StoredHashIndex(0, int64(size))+int64(i)] = h
	}
	forkRoot, err := tlog.TreeHash(int64(size)+1, hr)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := tlog.ProveTree(int64(size)+1, int64(size), hr)
	if err != nil {
		t.Fatal(err)
	}
	forkNote, err = ledger.SignCheckpoint(ledger.Checkpoint{Origin: origin, Size: size + 1, Root: forkRoot}, nodeSigner)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := consensus.AddCheckpoint(ctx, http.DefaultClient, lw.url(), size, ledger.EncodeProof(proof), forkNote); err != nil {
		t.Fatalf("the witness refused the fork one entry on (the test's premise): %v", err)
	}
	for i, id := range []string{"h2", "h3"} {
		if st, body := postRetry(t, base, mustJSON(t, signRec(t, producer, harvestRecord(id, "08936000000127", fmt.Sprintf("W%d", i+2))))); st != http.StatusCreated {
			t.Fatalf("write after the fork: %d %s", st, body)
		}
	}
	c.WaitFor("the leader to report the fork", 30*time.Second, func() bool {
		w := witnessView(t, base)
		return strings.Contains(w.LastError, "fork") && w.Lag > 0
	})

	// A stopped witness stops nothing either.
	lw.stop()
	if st, body := postRetry(t, base, mustJSON(t, signRec(t, producer, harvestRecord("h4", "08936000000127", "W4")))); st != http.StatusCreated {
		t.Fatalf("write with the witness stopped: %d %s", st, body)
	}
}

// newCosignKey returns the cosignature/v1 verifier key of a new witness
// key that never signs anything.
func newCosignKey(t *testing.T, name string) string {
	t.Helper()
	var pub [32]byte
	copy(pub[:], name) // any 32 bytes: this witness never cosigns
	vk := append([]byte{0x04}, pub[:]...)
	sum := sha256.Sum256(append([]byte(name+"\n"), vk...))
	return fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(sum[:4]), base64.StdEncoding.EncodeToString(vk))
}

// nodeNoteSigner reads a node's checkpoint key from its data directory.
func nodeNoteSigner(t *testing.T, dataDir string) note.Signer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(strings.Fields(string(data))[0])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postRetry posts a write and, on a 503 (no leader for a moment, or a
// leadership change with the outcome unknown), posts the same envelope
// again, as a client in the field does. It is answered idempotently: a
// 200 after a 503 means the first attempt was committed, and counts as
// the 201 it would have been.
func postRetry(t testing.TB, base string, body []byte) (int, []byte) {
	t.Helper()
	var st int
	var ans []byte
	retried := false
	harness.Poll(context.Background(), 30*time.Second, func() bool {
		st, ans = post(t, base, body)
		if st == http.StatusServiceUnavailable {
			retried = true
			return false
		}
		return true
	})
	if retried && st == http.StatusOK {
		st = http.StatusCreated
	}
	return st, ans
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// BenchmarkCheckpointLatency measures, on a 3-node cluster, the time from
// a write's 201 to a checkpoint that covers it: cosigned by the nodes
// with no witness, and cosigned by every witness too (quorum all) with 1
// and 3 litewitness processes.
//
//	go test -run '^$' -bench CheckpointLatency -benchtime 20x ./cmd/traceledger/
func BenchmarkCheckpointLatency(b *testing.B) {
	for _, k := range []int{0, 1, 3} {
		b.Run(fmt.Sprintf("witnesses=%d", k), func(b *testing.B) {
			var lws []*liteWitness
			var text strings.Builder
			var names []string
			for i := range k {
				lw := newLiteWitness(b, fmt.Sprintf("witness.traceledger.test/w%d", i+1))
				lws = append(lws, lw)
				fmt.Fprintf(&text, "witness w%d %s %s\n", i+1, lw.vkey, lw.url())
				names = append(names, fmt.Sprintf("w%d", i+1))
			}
			var policy *ledger.WitnessPolicy
			if k > 0 {
				fmt.Fprintf(&text, "group all all %s\nquorum all\n", strings.Join(names, " "))
				var err error
				if policy, err = ledger.ParseWitnessPolicy([]byte(text.String())); err != nil {
					b.Fatal(err)
				}
			}
			c := testnet.StartLocal(b, 3, testnet.LocalOptions{WitnessPolicy: policy})
			leader := c.Leader()
			n := c.Nodes[leader]
			var origin string
			n.Store().View(func(r ledger.Reader) (err error) { origin, err = ledger.Origin(r); return err })
			for _, lw := range lws {
				lw.trust(origin, n.Raft().Status().CheckpointKeys())
				lw.start()
			}
			producer := genKey(b)
			base := n.HTTPURL()
			if st, body := postRetry(b, base, mustJSON(b, registration(b, c.Admin, producer, "p1", "producer"))); st != http.StatusCreated {
				b.Fatalf("registration: %d %s", st, body)
			}
			covered := func(size uint64) bool {
				var ok bool
				n.Store().View(func(r ledger.Reader) error {
					get := ledger.LatestCheckpoint
					if policy != nil {
						get = ledger.WitnessedCheckpoint
					}
					cp, msg, have, err := get(r)
					if err != nil || !have || cp.Size < size {
						return err
					}
					if policy != nil {
						if _, err := policy.CheckQuorum(msg); err != nil {
							return nil
						}
					}
					ok = true
					return nil
				})
				return ok
			}
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st, body := postRetry(b, base, mustJSON(b, signRec(b, producer, harvestRecord(fmt.Sprintf("h%d", i), "08936000000127", fmt.Sprintf("B%d", i)))))
				start := time.Now()
				if st != http.StatusCreated {
					b.Fatalf("write: %d %s", st, body)
				}
				var res struct{ Seq uint64 }
				json.Unmarshal(body, &res)
				if err := harness.Poll(context.Background(), 30*time.Second, func() bool { return covered(res.Seq + 1) }); err != nil {
					b.Fatalf("entry %d never covered: %v", res.Seq, err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/checkpoint")
		})
	}
}
