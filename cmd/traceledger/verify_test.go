package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/testnet/harness"
)

// The offline verification workflow: fetch a bundle, verify it with the
// cluster's keys, refuse to trust a bundle's own keys unless asked, catch
// tampering, catch a checkpoint that contradicts the one remembered, and
// audit the whole ledger through the API.
func TestVerifyAndAuditCommands(t *testing.T) {
	admin, producer := genKey(t), genKey(t)
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, addr, admin)
	base := n.HTTPURL()
	for _, env := range [][]byte{
		mustJSON(t, registration(t, admin, producer, "p1", "producer")),
		mustJSON(t, signRec(t, producer, harvestRecord("h1", "08936000000127", "VF1"))),
	} {
		if st, body := post(t, base, env); st != http.StatusCreated {
			t.Fatalf("seed: %d %s", st, body)
		}
	}
	// A bundle fetched right after the write covers it (the server waits
	// for the checkpoint).
	st, bundle := get(t, base, "/v1/lots/08936000000127/VF1/provenance")
	if st != http.StatusOK {
		t.Fatalf("provenance: %d %s", st, bundle)
	}
	dir := t.TempDir()
	bundleFile := filepath.Join(dir, "bundle.json")
	writeFile(t, bundleFile, bundle)
	state := filepath.Join(dir, "state")

	// No trusted keys: refused, not "OK".
	if r := run(t, nil, "verify", "--state-dir", state, bundleFile); r.code != 2 || !strings.Contains(r.stdout, "UNTRUSTED") {
		t.Fatalf("verify without keys: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// With the cluster's keys.
	_, cl := get(t, base, "/v1/cluster")
	var view struct {
		Nodes []struct {
			Key string `json:"checkpoint_key"`
		} `json:"nodes"`
	}
	json.Unmarshal(cl, &view)
	keyFile := filepath.Join(dir, "nodes.keys")
	writeFile(t, keyFile, []byte(view.Nodes[0].Key+"\n"))
	if r := run(t, nil, "verify", "--state-dir", state, "--trust", keyFile, bundleFile); r.code != 0 || !strings.Contains(r.stdout, "OK") {
		t.Fatalf("verify with the cluster's key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Trust on first use, then remembered.
	state2 := filepath.Join(dir, "state2")
	if r := run(t, nil, "verify", "--state-dir", state2, "--tofu", base+"/v1/lots/08936000000127/VF1/provenance"); r.code != 0 {
		t.Fatalf("verify --tofu from a URL: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	} else if !strings.Contains(r.stdout, "trusting this ledger's 1 node key from now on") || strings.Contains(r.stdout, "1 node keys") {
		t.Errorf("verify --tofu on one node: %s", r.stdout)
	}
	if r := run(t, nil, "verify", "--state-dir", state2, "--url", base, "08936000000127", "VF1"); r.code != 0 {
		t.Fatalf("verify --url GTIN LOT: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, "verify", "--state-dir", state2, bundleFile); r.code != 0 {
		t.Fatalf("verify with remembered keys: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Tampering is caught and named.
	tampered := strings.Replace(string(bundle), `"amount":500`, `"amount":5000`, 1)
	if tampered == string(bundle) {
		t.Fatal("test bug: nothing tampered")
	}
	tamperedFile := filepath.Join(dir, "tampered.json")
	writeFile(t, tamperedFile, []byte(tampered))
	if r := run(t, nil, "verify", "--state-dir", state, "--trust", keyFile, tamperedFile); r.code != 1 || !strings.Contains(r.stdout, "FAIL entry") {
		t.Fatalf("verify tampered: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A remembered checkpoint of the same size with another root: a fork.
	stateFile := filepath.Join(state, "checkpoints.json")
	data, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs struct {
		Ledgers map[string]map[string]any `json:"ledgers"`
	}
	json.Unmarshal(data, &vs)
	for _, l := range vs.Ledgers {
		l["root"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	}
	writeFile(t, stateFile, mustJSON(t, vs))
	if r := run(t, nil, "verify", "--state-dir", state, "--trust", keyFile, bundleFile); r.code != 3 || !strings.Contains(r.stdout, "FORK") {
		t.Fatalf("verify against a contradicting remembered checkpoint: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A checkpoint larger than the server can prove consistent with: not a
	// proven fork, but not OK either.
	for _, l := range vs.Ledgers {
		l["size"] = 1_000_000
	}
	writeFile(t, stateFile, mustJSON(t, vs))
	if r := run(t, nil, "verify", "--state-dir", state, "--trust", keyFile, base+"/v1/lots/08936000000127/VF1/provenance"); r.code != 4 || !strings.Contains(r.stdout, "UNVERIFIED") {
		t.Fatalf("verify against an unprovable remembered checkpoint: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A server answering for one lot with another lot's bundle.
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(bundle) }))
	defer fake.Close()
	if r := run(t, nil, "verify", "--state-dir", t.TempDir(), "--trust", keyFile, "--url", fake.URL, "08936000000127", "OTHER"); r.code != 1 {
		t.Fatalf("verify of a substituted bundle: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The whole ledger audits clean through the API.
	if r := run(t, nil, "audit", "--url", base, "--trust", keyFile); r.code != 0 || !strings.Contains(r.stdout, "audit OK") {
		t.Fatalf("audit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// And through its tiles alone (c2sp.org/tlog-tiles), as a mirror would.
	if r := run(t, nil, "audit", "--url", base, "--tiles", "--trust", keyFile); r.code != 0 || !strings.Contains(r.stdout, "audit OK") {
		t.Fatalf("audit --tiles: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A mirror that altered one byte of an entry is caught.
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := httpClient.Get(base + r.URL.Path)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if strings.HasPrefix(r.URL.Path, "/log/tile/entries/") && len(body) > 100 {
			body = []byte(strings.Replace(string(body), `"p1"`, `"p2"`, 1))
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	defer mirror.Close()
	if r := run(t, nil, "audit", "--url", mirror.URL, "--tiles", "--trust", keyFile); r.code != 1 || !strings.Contains(r.stdout, "does not hash to its leaf") {
		t.Fatalf("audit --tiles of an altered mirror: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
