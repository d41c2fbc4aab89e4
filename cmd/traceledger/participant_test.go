package main

// participant add, and the field app's key backups on the command line.

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/api/fieldapp"
	"github.com/traceledger/traceledger/ledger"
)

func TestParticipantAddAndKeyBackups(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	base := n.HTTPURL()
	dir := t.TempDir()
	adminFile, pinFile, badPin := filepath.Join(dir, "admin.key"), filepath.Join(dir, "pin"), filepath.Join(dir, "bad")
	if err := savePlainKey(adminFile, admin); err != nil {
		t.Fatal(err)
	}
	writeFile(t, pinFile, []byte("482916\n"))
	writeFile(t, badPin, []byte("000000\n"))

	// keygen --backup writes what the app imports.
	phone := filepath.Join(dir, "phone.json")
	r := run(t, nil, "keygen", "--backup", "--pin-file", pinFile, "--out", phone)
	if r.code != 0 {
		t.Fatalf("keygen --backup: %d %s", r.code, r.stderr)
	}
	addr := address(t, r.stdout)
	blob, _ := os.ReadFile(phone)
	if k, err := fieldapp.OpenBackup(blob, "482916"); err != nil || ledger.AddressOf(k).Hex() != addr {
		t.Fatalf("the app cannot open keygen's backup: %v", err)
	}
	if r := run(t, nil, "keygen", "--backup", "--out", filepath.Join(dir, "x.json")); r.code == 0 || !strings.Contains(r.stderr, "TRACELEDGER_PIN") {
		t.Errorf("keygen --backup without a PIN or a terminal: %d %s", r.code, r.stderr)
	}
	// An existing key, rewritten as a backup, keeps its address.
	conv := filepath.Join(dir, "admin.json")
	if r := run(t, []string{"TRACELEDGER_PIN=135790"}, "keygen", "--backup", "--from", adminFile, "--out", conv); r.code != 0 || address(t, r.stdout) != ledger.AddressOf(admin).Hex() {
		t.Fatalf("keygen --backup --from: %d %s %s", r.code, r.stdout, r.stderr)
	}

	size := func() uint64 { c, _ := cluster(base); return c.Size }
	before := size()
	// Refused before anything is signed or sent: an unknown role, a bad address.
	for _, args := range [][]string{{"--role", "farmer", "--address", addr}, {"--role", "producer", "--address", "0x1234"}} {
		args = append([]string{"participant", "add", "--url", base, "--key", adminFile, "--name", "HTX Phì Điền"}, args...)
		if r := run(t, nil, args...); r.code == 0 || !strings.Contains(r.stderr, "invalid") {
			t.Errorf("%v: %d %s", args, r.code, r.stderr)
		}
	}
	if size() != before {
		t.Fatal("a refused registration changed the ledger")
	}
	// The admin's key as a backup, its PIN from the environment.
	r = run(t, []string{"TRACELEDGER_PIN=135790"}, "participant", "add", "--url", base, "--key", conv,
		"--address", addr, "--name", "HTX Vải thiều Phì Điền", "--role", "producer", "--role", "retailer", "--gln", "893600000012"+string(ledger.CheckDigit("893600000012")))
	if r.code != 0 || !strings.Contains(r.stdout, "registered "+addr) {
		t.Fatalf("participant add: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if code, body := get(t, base, "/v1/participants/"+addr); code != http.StatusOK || !strings.Contains(string(body), `"roles":["producer","retailer"]`) {
		t.Fatalf("after participant add: %d %s", code, body)
	}
	// The producer's own key may not register anyone: the ledger's 403.
	if r := run(t, nil, "participant", "add", "--url", base, "--key", phone, "--pin-file", pinFile, "--address", addr, "--name", "X", "--role", "admin"); r.code == 0 || !strings.Contains(r.stderr, "403 wrong_role") {
		t.Errorf("participant add with a producer's key: %d %s", r.code, r.stderr)
	}

	// sign --key reads the app's backup: with the PIN it signs, with a
	// wrong one or none (and no terminal) it says so.
	rec := filepath.Join(dir, "harvest.json")
	writeFile(t, rec, []byte(`{"type":"harvest","id":"cli-1","time":"2026-06-01T06:00:00+07:00","lot":{"gtin":"08936000000127","lot":"CLI1"},
		"product":{"name":"Vải thiều"},"quantity":{"amount":10,"unit":"KGM"},"place":{"name":"Phì Điền"}}`))
	env := filepath.Join(dir, "harvest.env")
	if r := run(t, nil, "sign", "--offline", "--key", phone, "--pin-file", pinFile, "--out", env, rec); r.code != 0 {
		t.Fatalf("sign with the backup: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, "submit", "--url", base, env); r.code != 0 || !strings.Contains(r.stdout, "201") {
		t.Fatalf("submit: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, "sign", "--offline", "--key", phone, "--pin-file", badPin, rec); r.code == 0 || !strings.Contains(r.stderr, "wrong PIN") {
		t.Errorf("sign with a wrong PIN: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, "sign", "--offline", "--key", phone, rec); r.code == 0 || !strings.Contains(r.stderr, "--pin-file or TRACELEDGER_PIN") {
		t.Errorf("sign with no PIN and no terminal: %d %s", r.code, r.stderr)
	}
}
