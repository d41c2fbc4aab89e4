package main

// Process-level conformance: the public signed scenario replayed against a
// real `traceledger serve`, a SIGTERM restart that must change nothing, and
// the `serve --dev` demo node.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet/harness"
)

// scenario is testdata/scenario-public.json (DESIGN §3.2).
type scenario struct {
	Admin             string        `json:"admin"`
	Lot               ledger.LotRef `json:"lot"`
	HolderAtEnd       string        `json:"holder_at_end"`
	HistoryTypesAtEnd []string      `json:"history_types_at_end"`
	Steps             []struct {
		Name     string          `json:"name"`
		Envelope json.RawMessage `json:"envelope"`
		Expect   int             `json:"expect"`
	} `json:"steps"`
}

func loadScenario(t *testing.T) scenario {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "scenario-public.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatal(err)
	}
	if len(sc.Steps) == 0 || sc.Admin == "" || len(sc.HistoryTypesAtEnd) == 0 {
		t.Fatalf("scenario file is incomplete: %d steps", len(sc.Steps))
	}
	return sc
}

// ledgerState is everything a client can read of a ledger: each entry, one
// lot, and the size and head.
type ledgerState struct {
	size    uint64
	head    string
	entries [][]byte
	lot     []byte
}

func readState(t *testing.T, base, lotPath string) ledgerState {
	t.Helper()
	c, ok := cluster(base)
	if !ok {
		t.Fatal("GET /v1/cluster failed")
	}
	s := ledgerState{size: c.Size, head: c.Head}
	for seq := uint64(0); seq < c.Size; seq++ {
		status, body := get(t, base, "/v1/entries/"+strconv.FormatUint(seq, 10))
		if status != http.StatusOK {
			t.Fatalf("GET /v1/entries/%d: %d %s", seq, status, body)
		}
		s.entries = append(s.entries, body)
	}
	if status, _ := get(t, base, "/v1/entries/"+strconv.FormatUint(c.Size, 10)); status != http.StatusNotFound {
		t.Errorf("GET /v1/entries/%d (one past the end): %d, want 404", c.Size, status)
	}
	status, body := get(t, base, lotPath)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", lotPath, status, body)
	}
	s.lot = body
	return s
}

func TestScenarioConformanceAndRestart(t *testing.T) {
	sc := loadScenario(t)
	data := t.TempDir()
	args := []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0",
		"--node-id", "n1", "--bootstrap", "--admin", sc.Admin}
	p := startServe(t, "", args...)
	waitLeader(t, p.url, 1)

	// Replay every step in order; each must get exactly its status.
	created := 0
	seqOf := map[string]uint64{} // accepted envelope → its seq
	for i, step := range sc.Steps {
		size0, _ := cluster(p.url)
		status, body := post(t, p.url, step.Envelope)
		if status != step.Expect {
			t.Errorf("step %d %q: status %d, want %d: %s", i, step.Name, status, step.Expect, body)
			continue
		}
		size1, _ := cluster(p.url)
		switch status {
		case http.StatusCreated, http.StatusOK:
			var a api.Accepted
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatalf("step %d %q: answer %s: %v", i, step.Name, body, err)
			}
			if status == http.StatusCreated {
				created++
				if a.Seq != size0.Size || size1.Size != size0.Size+1 {
					t.Errorf("step %d %q: seq %d, ledger size %d→%d", i, step.Name, a.Seq, size0.Size, size1.Size)
				}
			} else if size1 != size0 {
				t.Errorf("step %d %q: a 200 changed the ledger", i, step.Name)
			}
			seqOf[canonicalKey(t, step.Envelope)] = a.Seq
		default:
			if size1 != size0 {
				t.Errorf("step %d %q: a refused envelope changed the ledger: %+v → %+v", i, step.Name, size0, size1)
			}
		}
	}
	if c, _ := cluster(p.url); c.Size != uint64(1+created) {
		t.Errorf("ledger size %d after the scenario, want genesis + %d entries", c.Size, created)
	}

	lotPath := "/v1/lots/" + sc.Lot.GTIN + "/" + sc.Lot.Lot
	status, body := get(t, p.url, lotPath)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", lotPath, status, body)
	}
	var view ledger.LotView
	if err := json.Unmarshal(body, &view); err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(view.Lot.Holder, sc.HolderAtEnd) {
		t.Errorf("holder at the end %s, want %s", view.Lot.Holder, sc.HolderAtEnd)
	}
	var types []string
	for _, e := range view.Entries {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != strings.Join(sc.HistoryTypesAtEnd, ",") {
		t.Errorf("history %v, want %v", types, sc.HistoryTypesAtEnd)
	}

	// SIGTERM, then the same command line: nothing changes.
	before := readState(t, p.url, lotPath)
	p.stop()
	p2 := startServe(t, "", args...)
	waitLeader(t, p2.url, before.size)
	after := readState(t, p2.url, lotPath)
	if after.size != before.size || after.head != before.head {
		t.Errorf("after restart size/head %d/%s, want %d/%s", after.size, after.head, before.size, before.head)
	}
	for seq := range min(len(before.entries), len(after.entries)) {
		if !bytes.Equal(before.entries[seq], after.entries[seq]) {
			t.Errorf("entry %d changed across restart:\n%s\n%s", seq, before.entries[seq], after.entries[seq])
		}
	}
	if !bytes.Equal(before.lot, after.lot) {
		t.Errorf("lot changed across restart:\n%s\n%s", before.lot, after.lot)
	}

	// Every accepted envelope is answered 200 with its original seq.
	for i, step := range sc.Steps {
		if step.Expect != http.StatusCreated {
			continue
		}
		status, body := post(t, p2.url, step.Envelope)
		var a api.Accepted
		json.Unmarshal(body, &a)
		if want := seqOf[canonicalKey(t, step.Envelope)]; status != http.StatusOK || a.Seq != want {
			t.Errorf("step %d %q resubmitted after restart: %d %s, want 200 with seq %d", i, step.Name, status, body, want)
		}
	}
	if c, _ := cluster(p2.url); c.Size != before.size || c.Head != before.head {
		t.Errorf("resubmissions changed the ledger: %d/%s", c.Size, c.Head)
	}
}

// canonicalKey identifies an envelope by its canonical record and signature.
func canonicalKey(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var env ledger.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	canon, err := ledger.Canonicalize(env.Record)
	if err != nil {
		return string(raw)
	}
	return string(canon) + "|" + strings.ToLower(env.Signature)
}

func TestServeDev(t *testing.T) {
	dir := t.TempDir()
	args := []string{"serve", "--dev", "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0",
		"--operator-name", "Sở Công Thương Bắc Giang", "--operator-url", "https://soct.bacgiang.example.vn", "--operator-phone", "+84 204 3854 000"}
	p := startServe(t, dir, args...)
	waitDemo := func(p *process) {
		t.Helper()
		// The URLs of the demo lots are printed once the demo history is in.
		p.waitLine("the demo lot URLs", func(l string) bool { return strings.Contains(l, p.url+"/v1/lots/") })
	}
	waitDemo(p)

	tests := []struct {
		path, status string
	}{
		{"/v1/lots/08936000100025/LNB2606A", ledger.StatusActive},
		{"/v1/lots/08936000600020/HG2607R", ledger.StatusRecalled},
	}
	for _, tc := range tests {
		status, body := get(t, p.url, tc.path)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d %s", tc.path, status, body)
			continue
		}
		var v ledger.LotView
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Lot.Holder == "" || v.Lot.Status != tc.status || len(v.Entries) == 0 {
			t.Errorf("GET %s: holder %q status %q with %d entries, want a holder and status %q", tc.path, v.Lot.Holder, v.Lot.Status, len(v.Entries), tc.status)
		}
	}
	// The consumer page, reached through the Digital Link's redirect,
	// names the operator given on the command line.
	if status, body := get(t, p.url, "/01/08936000100025/10/LNB2606A"); status != http.StatusOK ||
		!strings.Contains(string(body), "Sở Công Thương Bắc Giang") || !strings.Contains(string(body), `href="tel:&#43;842043854000"`) ||
		!strings.Contains(string(body), "https://soct.bacgiang.example.vn") {
		t.Errorf("consumer page: %d, operator missing", status)
	}
	key := filepath.Join(dir, "data", "dev-admin.key")
	// The output says where the field app is and which key makes its user the admin.
	p.waitLine("the field app's address", func(l string) bool { return strings.Contains(l, p.url+"/app/") && strings.Contains(l, key) })
	if status, body := get(t, p.url, "/"); status != http.StatusOK || !strings.Contains(string(body), "Sở Công Thương Bắc Giang") || !strings.Contains(string(body), `href="/app/"`) {
		t.Errorf("landing page: %d, operator or app link missing", status)
	}
	if status, _ := get(t, p.url, "/app/"); status != http.StatusOK {
		t.Errorf("GET /app/: %d", status)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("dev admin key %s: %v, mode %v; want a 0600 file", key, err, st)
	}
	before, ok := cluster(p.url)
	if !ok || before.Size < 2 {
		t.Fatalf("cluster view %+v", before)
	}
	p.stop()

	// A restart re-seeds the same envelopes: answered 200, not duplicated.
	p2 := startServe(t, dir, args...)
	waitDemo(p2)
	if after, ok := cluster(p2.url); !ok || after.Size != before.Size || after.Head != before.Head {
		t.Errorf("after a restart of the dev node: %+v, want size %d head %s", after, before.Size, before.Head)
	}
	p2.stop()
}

func TestServeFromEnvironment(t *testing.T) {
	a1, a2 := ledger.AddressOf(genKey(t)).Hex(), ledger.AddressOf(genKey(t)).Hex()
	env := []string{"TRACELEDGER_DATA=" + t.TempDir(), "TRACELEDGER_HTTP=127.0.0.1:0", "TRACELEDGER_RAFT=127.0.0.1:0",
		"TRACELEDGER_NODE_ID=env1", "TRACELEDGER_BOOTSTRAP=true", "TRACELEDGER_ADMIN=" + a1 + "," + a2}
	p := startServeEnv(t, "", env, "serve")
	if m := servingLine.FindStringSubmatch(p.stdout.snapshot()[0]); m == nil || m[1] != "env1" {
		t.Errorf("serving line %q, want node env1", p.stdout.snapshot()[0])
	}
	waitLeader(t, p.url, 1)
	for _, a := range []string{a1, a2} {
		status, body := get(t, p.url, "/v1/participants/"+a)
		var v api.ParticipantView
		if status != http.StatusOK || json.Unmarshal(body, &v) != nil || !v.Participant.HasRole(ledger.RoleAdmin) {
			t.Errorf("admin %s from TRACELEDGER_ADMIN: %d %s", a, status, body)
		}
	}
	// A flag on the command line wins over the environment.
	p.stop()
	httpAddr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p2 := startServeEnv(t, "", env, "serve", "--http", httpAddr)
	if p2.url != "http://"+httpAddr {
		t.Errorf("served at %s, want the --http flag's %s", p2.url, httpAddr)
	}
	waitLeader(t, p2.url, 1)
	p2.stop()
}

func TestServeRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
	}{
		{"no data dir", []string{"--node-id", "n1", "--bootstrap"}},
		{"no node id", []string{"--data", dir, "--bootstrap"}},
		{"bootstrap and join", []string{"--data", dir, "--node-id", "n1", "--bootstrap", "--join", "http://127.0.0.1:1"}},
		{"join not a URL", []string{"--data", dir, "--node-id", "n1", "--join", "127.0.0.1:1"}},
		{"bad admin address", []string{"--data", dir, "--node-id", "n1", "--bootstrap", "--admin", "0x1234"}},
		{"bad log level", []string{"--data", dir, "--node-id", "n1", "--log-level", "loud"}},
		{"unknown flag", []string{"--data", dir, "--node-id", "n1", "--colour"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--http", "127.0.0.1:0", "--raft", "127.0.0.1:0"}, tc.args...)
			if r := run(t, nil, args...); r.code == 0 {
				t.Errorf("serve %v exited 0:\n%s", tc.args, r.stdout)
			}
		})
	}
}
