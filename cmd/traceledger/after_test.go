package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

// TestSignFillsAfter: sign puts the digest of the lot's latest record in a
// transfer's or a receive's "after": from the node when it answers, else
// from the signer's own earlier record at hand, else not at all.
func TestSignFillsAfter(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	url := n.HTTPURL()
	dir := t.TempDir()
	keyOf := func(name string) (string, string) {
		f := filepath.Join(dir, name+".key")
		r := run(t, nil, "keygen", "--plain", "--out", f)
		if r.code != 0 {
			t.Fatalf("keygen: %s", r.stderr)
		}
		return f, address(t, r.stdout)
	}
	producerKey, producer := keyOf("producer")
	distKey, dist := keyOf("distributor")
	for i, p := range []struct{ addr, role string }{{producer, "producer"}, {dist, "distributor"}} {
		reg := signRec(t, admin, map[string]any{"type": "participant", "id": "p-" + string(rune('a'+i)), "address": p.addr, "name": p.role, "roles": []string{p.role}})
		if status, body := post(t, url, mustJSON(t, reg)); status != http.StatusCreated {
			t.Fatalf("registration: %d %s", status, body)
		}
	}
	const gtin = "08936000000127"
	lot := func(code string) map[string]string { return map[string]string{"gtin": gtin, "lot": code} }
	// sign writes rec into its own directory and signs it there.
	sign := func(key, sub string, rec map[string]any, args ...string) (ledger.Envelope, map[string]any, string) {
		t.Helper()
		d := filepath.Join(dir, sub)
		os.MkdirAll(d, 0o755)
		f := filepath.Join(d, rec["id"].(string)+".record")
		writeFile(t, f, mustJSON(t, rec))
		r := run(t, nil, append(append([]string{"sign", "--key", key}, args...), f)...)
		if r.code != 0 {
			t.Fatalf("sign %s: %s", rec["id"], r.stderr)
		}
		var env ledger.Envelope
		if err := json.Unmarshal([]byte(r.stdout), &env); err != nil {
			t.Fatal(err)
		}
		var signed map[string]any
		json.Unmarshal(env.Record, &signed)
		return env, signed, r.stderr
	}
	digest := func(env ledger.Envelope) string {
		canon, err := ledger.Canonicalize(env.Record)
		if err != nil {
			t.Fatal(err)
		}
		return ledger.RecordDigest(canon)
	}
	accept := func(env ledger.Envelope) {
		t.Helper()
		if status, body := post(t, url, mustJSON(t, env)); status != http.StatusCreated {
			t.Fatalf("post: %d %s", status, body)
		}
	}

	var origin string
	if _, body := get(t, url, "/v1/cluster?local=true"); true {
		var v struct {
			Origin string `json:"ledger_origin"`
		}
		if json.Unmarshal(body, &v); !strings.HasPrefix(v.Origin, "traceledger/") {
			t.Fatalf("cluster view names no origin: %s", body)
		}
		origin = v.Origin
	}

	// Online: the node names the lot's latest record, and its ledger.
	h, _, _ := sign(producerKey, "online", map[string]any{"type": "harvest", "id": "h-1", "lot": lot("AF1"),
		"product": map[string]string{"name": "Vải"}, "quantity": map[string]any{"amount": 5, "unit": "KGM"}, "place": map[string]string{"name": "Lục Ngạn"}}, "--url", url)
	accept(h)
	tr, rec, _ := sign(producerKey, "online", map[string]any{"type": "transfer", "id": "t-1", "lot": lot("AF1"), "to": dist}, "--url", url)
	if rec["after"] != digest(h) {
		t.Errorf("transfer after %v, want the harvest's digest %s", rec["after"], digest(h))
	}
	if rec["ledger"] != origin {
		t.Errorf("transfer names ledger %v, want %s", rec["ledger"], origin)
	}
	accept(tr)
	rc, rec, _ := sign(distKey, "online-dist", map[string]any{"type": "receive", "id": "r-1", "lot": lot("AF1")}, "--url", url)
	if rec["after"] != digest(tr) {
		t.Errorf("receive after %v, want the transfer's digest", rec["after"])
	}
	accept(rc)
	// An "after" the user wrote is kept.
	mine := strings.Repeat("ab", 32)
	if _, rec, _ := sign(distKey, "online-dist", map[string]any{"type": "transfer", "id": "t-2", "lot": lot("AF1"), "to": producer, "after": mine}, "--url", url); rec["after"] != mine {
		t.Errorf("after %v, want the user's %s", rec["after"], mine)
	}

	// Offline: the producer's own harvest in the same directory.
	unreachable := "http://127.0.0.1:1"
	h2, _, _ := sign(producerKey, "field", map[string]any{"type": "harvest", "id": "h-2", "lot": lot("AF2"),
		"product": map[string]string{"name": "Vải"}, "quantity": map[string]any{"amount": 5, "unit": "KGM"}, "place": map[string]string{"name": "Lục Ngạn"}}, "--offline")
	writeFile(t, filepath.Join(dir, "field", "h-2.json"), mustJSON(t, h2))
	tr2, rec, note := sign(producerKey, "field", map[string]any{"type": "transfer", "id": "t-3", "lot": lot("AF2"), "to": dist}, "--url", unreachable)
	if rec["after"] != digest(h2) || !strings.Contains(note, "h-2.json") {
		t.Errorf("offline transfer after %v (note %q), want the harvest's digest from h-2.json", rec["after"], note)
	}
	accept(h2)
	accept(tr2)

	// Nothing at hand: no "after", and a note; offline, no "ledger".
	_, rec, note = sign(producerKey, "empty", map[string]any{"type": "transfer", "id": "t-4", "lot": lot("AF3"), "to": dist}, "--offline")
	if _, ok := rec["after"]; ok || !strings.Contains(note, `no "after"`) {
		t.Errorf("after %v, note %q; want none and a note", rec["after"], note)
	}
	if _, ok := rec["ledger"]; ok {
		t.Errorf("offline record names ledger %v", rec["ledger"])
	}
	// A record signed for another ledger is refused there.
	foreign, _, _ := sign(producerKey, "foreign", map[string]any{"type": "harvest", "id": "h-9", "lot": lot("AF9"), "ledger": "traceledger/0123456789abcdef",
		"product": map[string]string{"name": "Vải"}, "quantity": map[string]any{"amount": 5, "unit": "KGM"}, "place": map[string]string{"name": "Lục Ngạn"}}, "--url", url)
	if status, body := post(t, url, mustJSON(t, foreign)); status != http.StatusConflict || !strings.Contains(string(body), "wrong_ledger") {
		t.Errorf("record for another ledger: %d %s, want 409 wrong_ledger", status, body)
	}
	// Someone else's record at hand does not count.
	_, rec, _ = sign(distKey, "field", map[string]any{"type": "receive", "id": "r-2", "lot": lot("AF2")}, "--url", unreachable)
	if _, ok := rec["after"]; ok {
		t.Errorf("receive took after %v from another signer's record", rec["after"])
	}
}
