package main

// backup and restore, as the built binary: a backup of a running node is
// refused without the cluster secret, written with it, restored into a
// new data directory that passes audit and serves the same ledger as a
// new single-node cluster, which then takes new writes whose tree is
// consistent with the old checkpoint. Corrupted files are refused by name
// and leave no data directory behind.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/backup"
	"github.com/traceledger/traceledger/ledger/badgerkv"
	"github.com/traceledger/traceledger/node"
	"github.com/traceledger/traceledger/testnet"
	"github.com/traceledger/traceledger/testnet/harness"
)

const testSecret = "backup-test-secret-0123456789"

// getAuth fetches base+path with a bearer token ("" for none).
func getAuth(t *testing.T, base, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func errorCode(body []byte) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(body, &e)
	return e.Error.Code
}

func TestBackupAndRestore(t *testing.T) {
	admin, producer := genKey(t), genKey(t)
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(context.Background(), node.Config{
		ID: "b1", DataDir: t.TempDir(), HTTPAddr: addr, RaftAddr: "127.0.0.1:0", Bootstrap: true,
		Admins: []common.Address{ledger.AddressOf(admin)}, ClusterSecret: testSecret,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	base := n.HTTPURL()
	waitLeader(t, base, 1)
	for _, env := range [][]byte{
		mustJSON(t, registration(t, admin, producer, "p1", "producer")),
		mustJSON(t, signRec(t, producer, harvestRecord("h1", "08936000000127", "VF1"))),
		mustJSON(t, signRec(t, producer, harvestRecord("h2", "08936000000127", "VF2"))),
	} {
		if st, body := post(t, base, env); st != http.StatusCreated {
			t.Fatalf("seed: %d %s", st, body)
		}
	}
	oldKey := n.Raft().CheckpointKey()

	// Who may take a backup: the cluster secret, nobody else.
	if st, body := getAuth(t, base, "/v1/backup", ""); st != http.StatusUnauthorized || errorCode(body) != "unauthorized" {
		t.Errorf("backup without the secret: %d %s", st, body)
	}
	if st, body := getAuth(t, base, "/v1/backup", "not-the-secret-at-all"); st != http.StatusUnauthorized {
		t.Errorf("backup with a wrong secret: %d %s", st, body)
	}
	other := startNode(t, "127.0.0.1:0", admin) // no cluster secret configured
	if st, body := getAuth(t, other.HTTPURL(), "/v1/backup", testSecret); st != http.StatusForbidden || errorCode(body) != "cluster_secret_required" {
		t.Errorf("backup from a node without a secret: %d %s", st, body)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "ledger.backup")
	secretEnv := []string{"TRACELEDGER_CLUSTER_SECRET=" + testSecret}
	if r := run(t, nil, "backup", "--url", base, "--out", file); r.code == 0 || !strings.Contains(r.stderr, "cluster secret") {
		t.Errorf("backup without a secret: exit %d: %s", r.code, r.stderr)
	}
	r := run(t, secretEnv, "backup", "--url", base, "--out", file)
	if r.code != 0 {
		t.Fatalf("backup: exit %d: %s", r.code, r.stderr)
	}
	t.Logf("backup: %s", r.stdout)
	if r := run(t, secretEnv, "backup", "--url", base, "--out", file); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("a second backup over the first: exit %d: %s", r.code, r.stderr)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	h, err := backup.Verify(f)
	f.Close()
	if err != nil {
		t.Fatalf("the written backup: %v", err)
	}
	// The node was quiet: the backup waited for the checkpoint of its
	// whole tree.
	if h.Size != 4 || h.CheckpointSize != h.Size || h.Node != "b1" || h.Applied == 0 {
		t.Errorf("header %+v", h)
	}

	// Damaged copies are refused by name, and leave no data directory.
	good, _ := os.ReadFile(file)
	damaged := map[string][]byte{
		"checksum mismatch": func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 1; return b }(),
		"truncated":         good[:len(good)-100],
		"bad magic":         append([]byte("NOTABACK"), good[8:]...),
	}
	for want, data := range damaged {
		bad := filepath.Join(dir, strings.ReplaceAll(want, " ", "-"))
		writeFile(t, bad, data)
		target := filepath.Join(dir, "restored-"+filepath.Base(bad))
		r := run(t, nil, "restore", "--from", bad, "--data", target)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("restore of a file with %s: exit %d: %s", want, r.code, r.stderr)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("a refused restore (%s) left %s (%v)", want, target, err)
		}
	}
	// Keys the checkpoint is not signed by: refused.
	strangers := filepath.Join(dir, "strangers.keys")
	_, strangerKey, err := note.GenerateKey(rand.Reader, "traceledger-x")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, strangers, []byte(strangerKey+"\n"))
	if r := run(t, nil, "restore", "--from", file, "--data", filepath.Join(dir, "untrusted"), "--trust", strangers); r.code == 0 || !strings.Contains(r.stderr, "trusted") {
		t.Errorf("restore trusting other keys: exit %d: %s", r.code, r.stderr)
	}

	// The real thing, checked against the old node's key.
	oldKeys := filepath.Join(dir, "old.keys")
	writeFile(t, oldKeys, []byte(oldKey+"\n"))
	data := filepath.Join(dir, "restored")
	if r := run(t, nil, "restore", "--from", file, "--data", data, "--trust", oldKeys); r.code != 0 {
		t.Fatalf("restore: exit %d: %s", r.code, r.stderr)
	} else {
		t.Logf("restore: %s", r.stdout)
	}
	if r := run(t, nil, "restore", "--from", file, "--data", data); r.code == 0 || !strings.Contains(r.stderr, "already holds") {
		t.Errorf("restore over a node's data: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, nil, "audit", "--data", data, "--trust", oldKeys); r.code != 0 || !strings.Contains(r.stdout, "audit OK") {
		t.Fatalf("audit of the restored data: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A new single-node cluster on it serves the same ledger …
	p := startServe(t, "", "serve", "--data", data, "--node-id", "r1", "--bootstrap",
		"--http", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--raft-timeout", "200ms")
	c := waitLeader(t, p.url, h.Size)
	if c.Size != h.Size || c.Head != h.Root {
		t.Errorf("restored node serves size %d head %s, the backup %d %s", c.Size, c.Head, h.Size, h.Root)
	}
	st, cp := get(t, p.url, "/v1/checkpoint")
	if st != http.StatusOK {
		t.Fatalf("checkpoint: %d %s", st, cp)
	}
	if old, _, err := ledger.OpenCheckpoint(cp, []string{oldKey}); err != nil || old.Size != h.Size {
		t.Errorf("the restored node's checkpoint under the old node key: %+v %v", old, err)
	}
	// … and takes new writes: its fresh Raft log is applied, not skipped
	// as already applied by the old cluster.
	if st, body := post(t, p.url, mustJSON(t, signRec(t, producer, harvestRecord("h3", "08936000000127", "VF3")))); st != http.StatusCreated {
		t.Fatalf("write to the restored node: %d %s", st, body)
	}
	// The grown tree is consistent with the old checkpoint.
	var newHead ledger.Head
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body := get(t, p.url, "/v1/checkpoint")
		if st == http.StatusOK {
			text, _, _ := ledger.SplitNote(body)
			if c, err := ledger.ParseCheckpoint(text); err == nil && c.Size == h.Size+1 {
				newHead = ledger.Head{Size: c.Size, Root: c.Root}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint of the grown ledger within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, body := get(t, p.url, fmt.Sprintf("/v1/proofs/consistency?old=%d&new=%d", h.Size, newHead.Size))
	if st != http.StatusOK {
		t.Fatalf("consistency proof: %d %s", st, body)
	}
	var proof struct {
		Proof []string `json:"proof"`
	}
	if err := json.Unmarshal(body, &proof); err != nil {
		t.Fatal(err)
	}
	hashes, err := ledger.DecodeProof(proof.Proof)
	if err != nil {
		t.Fatal(err)
	}
	oldCP, _, _ := ledger.OpenCheckpoint(cp, []string{oldKey})
	if err := tlog.CheckTree(hashes, int64(newHead.Size), newHead.Root, int64(oldCP.Size), oldCP.Root); err != nil {
		t.Errorf("the restored ledger's new tree is not consistent with the old checkpoint: %v", err)
	}
	p.stop()
}

var backupEntries = flag.Int("backup-entries", 100_000, "entries in the ledger BenchmarkBackupRoundTrip backs up")

// BenchmarkBackupRoundTrip measures backup and restore of a large ledger,
// as an operator runs them: a node serving a ledger of -backup-entries
// entries (written straight through the ledger's applier, then started
// with serve --bootstrap), traceledger backup over HTTP, traceledger
// restore into a new data directory, traceledger audit of the result.
//
//	go test -run '^$' -bench BackupRoundTrip -benchtime 1x ./cmd/traceledger/
func BenchmarkBackupRoundTrip(b *testing.B) {
	dir := b.TempDir()
	data := filepath.Join(dir, "node")
	db, err := badgerkv.Open(badgerkv.Options{Dir: node.StateDir(data)})
	if err != nil {
		b.Fatal(err)
	}
	admin, _ := crypto.GenerateKey()
	start := time.Now()
	if err := testnet.FillLedger(db, admin, *backupEntries, time.Now()); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled a ledger of %d entries in %s", *backupEntries, time.Since(start).Round(time.Millisecond))
	env := []string{"TRACELEDGER_CLUSTER_SECRET=" + testSecret}
	srv := exec.Command(binPath, "serve", "--data", data, "--node-id", "s1", "--bootstrap",
		"--http", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--raft-timeout", "200ms")
	srv.Env = cleanEnv(env...)
	out, err := srv.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }()
	lines := collect(out)
	var base string
	deadline := time.Now().Add(time.Minute)
	for base == "" {
		for _, l := range lines.snapshot() {
			if m := servingLine.FindStringSubmatch(l); m != nil {
				base = m[2]
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("serve printed no serving line within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	timed := func(what string, args ...string) time.Duration {
		cmd := exec.Command(binPath, args...)
		cmd.Env = cleanEnv(env...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", what, err, out)
		} else {
			b.Logf("%s: %s", what, bytes.TrimSpace(out))
		}
		return time.Since(start)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		file := filepath.Join(dir, fmt.Sprintf("b%d.backup", i))
		restored := filepath.Join(dir, fmt.Sprintf("r%d", i))
		tb := timed("backup", "backup", "--url", base, "--out", file)
		tr := timed("restore", "restore", "--from", file, "--data", restored)
		b.StopTimer()
		ta := timed("audit", "audit", "--data", restored)
		b.StartTimer()
		st, err := os.Stat(file)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
		b.ReportMetric(tb.Seconds(), "backup-s")
		b.ReportMetric(tr.Seconds(), "restore-s")
		b.ReportMetric(ta.Seconds(), "audit-s")
	}
}
