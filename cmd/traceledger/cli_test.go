package main

// The client commands, run as the built binary: keygen, sign, submit, lot.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet/harness"
)

const passEnv = "TRACELEDGER_PASSPHRASE=correct horse battery staple"

// address parses the address keygen prints.
func address(t *testing.T, stdout string) string {
	t.Helper()
	a, err := ledger.ParseAddress(strings.TrimSpace(stdout))
	if err != nil {
		t.Fatalf("keygen printed %q, not an address: %v", stdout, err)
	}
	return a.Hex()
}

func TestKeygen(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		args     []string
		ok       bool
		keystore bool
	}{
		{"plain", nil, []string{"--plain"}, true, false},
		{"keystore with a passphrase from the environment", []string{passEnv}, []string{"--light-kdf"}, true, true},
		{"keystore with a passphrase file", nil, []string{"--light-kdf", "--passphrase-file", "PASSFILE"}, true, true},
		{"keystore without a passphrase", nil, []string{"--light-kdf"}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "key")
			passFile := filepath.Join(dir, "pass")
			writeFile(t, passFile, []byte("correct horse battery staple\n"))
			args := []string{"keygen", "--out", out}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "PASSFILE", passFile))
			}
			r := run(t, tc.env, args...)
			if !tc.ok {
				if r.code == 0 {
					t.Errorf("keygen succeeded: %q", r.stdout)
				}
				// Without a terminal to ask on, it says how to give one.
				if !strings.Contains(r.stderr, "no terminal to ask") || !strings.Contains(r.stderr, "TRACELEDGER_PASSPHRASE") {
					t.Errorf("keygen without a passphrase or a terminal says %q", r.stderr)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a refused keygen left a key file (%v)", err)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("keygen exit %d: %s", r.code, r.stderr)
			}
			printed := address(t, r.stdout)
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
			}
			data, _ := os.ReadFile(out)
			var got string
			if tc.keystore {
				k, err := keystore.DecryptKey(data, "correct horse battery staple")
				if err != nil {
					t.Fatalf("not a keystore file for the passphrase: %v", err)
				}
				got = ledger.AddressOf(k.PrivateKey).Hex()
			} else {
				k, err := crypto.HexToECDSA(strings.TrimSpace(string(data)))
				if err != nil {
					t.Fatalf("not a plain hex key: %v", err)
				}
				got = ledger.AddressOf(k).Hex()
			}
			if got != printed {
				t.Errorf("file holds the key of %s, keygen printed %s", got, printed)
			}

			// A second keygen never overwrites the key.
			if r := run(t, tc.env, args...); r.code == 0 {
				t.Error("keygen overwrote an existing key file")
			}
			if again, _ := os.ReadFile(out); !bytes.Equal(again, data) {
				t.Error("the existing key file changed")
			}
		})
	}
}

func TestSignWithKeystoreIsAccepted(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "producer.json")
	r := run(t, []string{passEnv}, "keygen", "--light-kdf", "--out", keyFile)
	if r.code != 0 {
		t.Fatalf("keygen: %s", r.stderr)
	}
	producer := address(t, r.stdout)

	recFile := filepath.Join(dir, "harvest.json")
	rec := harvestRecord("", "08936000000127", "LN2606A")
	delete(rec, "id") // sign fills id, signer and time
	writeFile(t, recFile, mustJSON(t, rec))

	t.Run("wrong passphrase", func(t *testing.T) {
		if r := run(t, []string{"TRACELEDGER_PASSPHRASE=wrong"}, "sign", "--key", keyFile, recFile); r.code == 0 {
			t.Errorf("sign with a wrong passphrase succeeded: %s", r.stdout)
		}
	})
	t.Run("record naming another signer", func(t *testing.T) {
		other := filepath.Join(dir, "other.json")
		o := harvestRecord("h-1", "08936000000127", "LN2606A")
		o["signer"] = ledger.AddressOf(genKey(t)).Hex()
		writeFile(t, other, mustJSON(t, o))
		if r := run(t, []string{passEnv}, "sign", "--key", keyFile, other); r.code == 0 {
			t.Errorf("sign of a record naming someone else succeeded: %s", r.stdout)
		}
	})

	before := time.Now().Add(-2 * time.Second)
	r = run(t, []string{passEnv}, "sign", "--key", keyFile, recFile)
	if r.code != 0 {
		t.Fatalf("sign exit %d: %s", r.code, r.stderr)
	}
	var env ledger.Envelope
	if err := json.Unmarshal([]byte(r.stdout), &env); err != nil {
		t.Fatalf("sign printed %q: %v", r.stdout, err)
	}
	var signed map[string]any
	if err := json.Unmarshal(env.Record, &signed); err != nil {
		t.Fatal(err)
	}
	if s, _ := signed["signer"].(string); !strings.EqualFold(s, producer) {
		t.Errorf("signer %q, want %s", s, producer)
	}
	if id, _ := signed["id"].(string); id == "" || len(id) > 64 {
		t.Errorf("id %q, want 1–64 characters", id)
	}
	ts, _ := signed["time"].(string)
	if when, err := ledger.ParseTime(ts); err != nil || when.Before(before) || when.After(time.Now().Add(2*time.Second)) {
		t.Errorf("time %q (%v), want now with an offset", ts, err)
	}
	if adm, err := ledger.Admit(env, time.Now()); err != nil || adm.Signer.Hex() != producer {
		t.Fatalf("envelope does not verify to %s: %v", producer, err)
	}

	// Accepted once the admin registers the signer.
	reg := signRec(t, admin, map[string]any{"type": "participant", "id": "p-1", "address": producer, "name": "HTX Phì Điền", "roles": []string{"producer"}})
	if status, body := post(t, n.HTTPURL(), mustJSON(t, reg)); status != http.StatusCreated {
		t.Fatalf("registration: %d %s", status, body)
	}
	if status, body := post(t, n.HTTPURL(), []byte(r.stdout)); status != http.StatusCreated {
		t.Errorf("signed envelope: %d %s, want 201", status, body)
	}
}

// submitRow is one row of submit's table.
type submitRow struct {
	file   string
	status int
	seq    string
}

// submitRows parses the FILE STATUS SEQ DETAIL table submit prints.
func submitRows(t *testing.T, stdout string) []submitRow {
	t.Helper()
	var rows []submitRow
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("submit row %q", l)
		}
		status, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("submit row %q: status %q", l, f[1])
		}
		row := submitRow{file: filepath.Base(f[0]), status: status}
		if len(f) > 2 {
			if _, err := strconv.ParseUint(f[2], 10, 64); err == nil {
				row.seq = f[2]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// chainDir writes, in a new directory, envelopes by which admin registers a
// producer and a distributor, the producer harvests and transfers a lot:
// one file holds a JSON array, one an envelope, one a batch.
func chainDir(t *testing.T, admin *ecdsa.PrivateKey, lot string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	producer, distributor := genKey(t), genKey(t)
	writeFile(t, filepath.Join(dir, "01-participants.json"), mustJSON(t, []ledger.Envelope{
		registration(t, admin, producer, "p-"+lot, "producer"), registration(t, admin, distributor, "d-"+lot, "distributor")}))
	writeFile(t, filepath.Join(dir, "02-harvest.json"), mustJSON(t, signRec(t, producer, harvestRecord("h-"+lot, "08936000000127", lot))))
	writeFile(t, filepath.Join(dir, "03-transfer.json"), mustJSON(t, map[string]any{"records": []ledger.Envelope{
		signRec(t, producer, map[string]any{"type": "transfer", "id": "t-" + lot,
			"lot": map[string]string{"gtin": "08936000000127", "lot": lot}, "to": ledger.AddressOf(distributor).Hex()})}}))
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not an envelope: ignored"))
	return dir, 4
}

func TestSubmitDirectory(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	for _, batch := range []string{"100", "1"} {
		t.Run("batch "+batch, func(t *testing.T) {
			dir, count := chainDir(t, admin, "LOT-B"+batch)
			for _, want := range []int{http.StatusCreated, http.StatusOK} { // the second run is safe
				r := run(t, nil, "submit", "--url", n.HTTPURL(), "--batch", batch, dir)
				if r.code != 0 {
					t.Fatalf("submit exit %d: %s\n%s", r.code, r.stdout, r.stderr)
				}
				rows := submitRows(t, r.stdout)
				if len(rows) != count {
					t.Fatalf("%d rows, want %d:\n%s", len(rows), count, r.stdout)
				}
				for i, row := range rows {
					if row.status != want || row.seq == "" {
						t.Errorf("row %d %+v, want status %d with a seq", i, row, want)
					}
				}
			}
		})
	}
}

func TestSubmitRejectedExitsNonZero(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	dir := t.TempDir()
	good := registration(t, admin, genKey(t), "p-1", "producer")
	bad := registration(t, admin, genKey(t), "p-2", "producer")
	bad.Record = bytes.Replace(bad.Record, []byte(`"producer"`), []byte(`"admin"`), 1) // changed after signing
	writeFile(t, filepath.Join(dir, "1-good.json"), mustJSON(t, good))
	writeFile(t, filepath.Join(dir, "2-bad.json"), mustJSON(t, bad))
	done := filepath.Join(t.TempDir(), "done")

	r := run(t, nil, "submit", "--url", n.HTTPURL(), "--done", done, dir)
	if r.code == 0 {
		t.Errorf("submit exited 0 with a rejected envelope:\n%s", r.stdout)
	}
	rows := submitRows(t, r.stdout)
	if len(rows) != 2 || rows[0].status != http.StatusCreated || rows[1].status != http.StatusUnauthorized {
		t.Errorf("rows %+v, want 201 then 401", rows)
	}
	// --done moves the accepted file only.
	if _, err := os.Stat(filepath.Join(done, "1-good.json")); err != nil {
		t.Errorf("accepted file not moved to --done: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "2-bad.json")); err != nil {
		t.Errorf("rejected file moved: %v", err)
	}

	// A request refused as a whole (not JSON) also ends non-zero.
	junk := filepath.Join(t.TempDir(), "junk.json")
	writeFile(t, junk, []byte("{not json"))
	if r := run(t, nil, "submit", "--url", n.HTTPURL(), junk); r.code == 0 {
		t.Errorf("submit of a non-JSON file exited 0:\n%s", r.stdout)
	}
}

// submit sends registrations, then harvests, then the rest by record time,
// whatever the files are named; sends a 404 again once the others are in;
// and moves a refused file to --rejected with the ledger's answer beside it.
func TestSubmitOrdersRetriesAndSetsAsideRefusals(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	producer, distributor := genKey(t), genKey(t)
	g := "08936000000127"
	in := map[string]string{"gtin": g, "lot": "LOT-IN"}
	out := map[string]string{"gtin": g, "lot": "LOT-OUT"}
	dir := t.TempDir()
	// Named in the worst order. The transfer of the transform's output says
	// it happened before the transform (a phone with a wrong clock): sent
	// first, it is answered 404, and again after the transform, 201.
	writeFile(t, filepath.Join(dir, "a-transfer.json"), mustJSON(t, signRec(t, producer, map[string]any{"type": "transfer", "id": "t-1",
		"time": "2026-06-10T08:00:00+07:00", "lot": out, "to": ledger.AddressOf(distributor).Hex()})))
	writeFile(t, filepath.Join(dir, "b-transform.json"), mustJSON(t, signRec(t, producer, map[string]any{"type": "transform", "id": "x-1",
		"time":    "2026-06-13T08:00:00+07:00",
		"inputs":  []any{map[string]any{"lot": in, "quantity": map[string]any{"amount": 100, "unit": "KGM"}}},
		"outputs": []any{map[string]any{"lot": out, "product": map[string]string{"name": "Vải sấy"}, "quantity": map[string]any{"amount": 20, "unit": "KGM"}}}})))
	writeFile(t, filepath.Join(dir, "c-harvest.json"), mustJSON(t, signRec(t, producer, harvestRecord("h-1", g, "LOT-IN"))))
	writeFile(t, filepath.Join(dir, "d-orphan.json"), mustJSON(t, signRec(t, producer, map[string]any{"type": "transfer", "id": "t-2",
		"lot": map[string]string{"gtin": g, "lot": "NOSUCH"}, "to": ledger.AddressOf(distributor).Hex()})))
	writeFile(t, filepath.Join(dir, "e-participants.json"), mustJSON(t, []ledger.Envelope{
		registration(t, admin, producer, "p-1", "producer"), registration(t, admin, distributor, "d-1", "distributor")}))
	done, rejected := filepath.Join(t.TempDir(), "done"), filepath.Join(t.TempDir(), "rejected")

	r := run(t, nil, "submit", "--url", n.HTTPURL(), "--done", done, "--rejected", rejected, dir)
	if r.code != 1 {
		t.Fatalf("submit exit %d, want 1 (one refusal):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	status := map[string][]int{}
	var order []string
	for _, row := range submitRows(t, r.stdout) {
		status[row.file] = append(status[row.file], row.status)
		order = append(order, row.file)
	}
	want := map[string][]int{"e-participants.json": {201, 201}, "c-harvest.json": {201}, "b-transform.json": {201}, "a-transfer.json": {201}, "d-orphan.json": {404}}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Errorf("answers %v, want %v:\n%s", status, want, r.stdout)
	}
	// Rows come in the order sent: registrations, the harvest, then by time.
	if got := strings.Join(order, " "); got != "e-participants.json e-participants.json c-harvest.json a-transfer.json d-orphan.json b-transform.json" {
		t.Errorf("rows in order %s", got)
	}
	if !strings.Contains(r.stderr, "sending them again") {
		t.Errorf("no retry reported on stderr: %q", r.stderr)
	}
	for _, f := range []string{"a-transfer.json", "b-transform.json", "c-harvest.json", "e-participants.json"} {
		if _, err := os.Stat(filepath.Join(done, f)); err != nil {
			t.Errorf("accepted %s not in --done: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(rejected, "d-orphan.json")); err != nil {
		t.Errorf("refused file not in --rejected: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(left) != 0 {
		t.Errorf("files left in the outbox: %v", left)
	}
	var note struct {
		File    string
		Answers []struct {
			Index  int
			Status int
			Error  struct{ Code, Message string }
		}
	}
	b, err := os.ReadFile(filepath.Join(rejected, "d-orphan.error.json"))
	if err != nil {
		t.Fatalf("no answer beside the refused file: %v", err)
	}
	if err := json.Unmarshal(b, &note); err != nil || note.File != "d-orphan.json" || len(note.Answers) != 1 ||
		note.Answers[0].Status != http.StatusNotFound || note.Answers[0].Error.Code != "unknown_lot" || note.Answers[0].Error.Message == "" {
		t.Errorf("d-orphan.error.json = %s (%v), want the 404 unknown_lot answer", b, err)
	}

	// Submitting the --rejected directory again reads the envelope, not the
	// answer beside it.
	r = run(t, nil, "submit", "--url", n.HTTPURL(), rejected)
	if rows := submitRows(t, r.stdout); len(rows) != 1 || rows[0].file != "d-orphan.json" || rows[0].status != http.StatusNotFound {
		t.Errorf("resubmitting --rejected: rows %+v", rows)
	}
}

func TestSubmitWaitsForServer(t *testing.T) {
	hostPort, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	admin := genKey(t)
	dir, count := chainDir(t, admin, "LOT-W")

	cmd := execCommand(t, "submit", "--url", "http://"+hostPort, "--max-wait", "60s", dir)
	// submit reports each retry on stderr: once it has, nothing listens
	// yet and it is waiting; then the server starts on that port.
	if err := harness.Poll(context.Background(), 30*time.Second, func() bool { return len(cmd.stderr.snapshot()) > 0 }); err != nil {
		t.Fatalf("submit did not report a retry within 30 s; stdout:\n%s", cmd.stdout)
	}
	startNode(t, hostPort, admin)
	select {
	case <-cmd.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("submit did not finish within 60 s of the server starting; stderr:\n%s", cmd.stderr)
	}
	if cmd.waitErr != nil {
		t.Fatalf("submit: %v\nstdout:\n%s\nstderr:\n%s", cmd.waitErr, cmd.stdout, cmd.stderr)
	}
	rows := submitRows(t, cmd.stdout.String())
	if len(rows) != count {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), count, cmd.stdout)
	}
	for i, row := range rows {
		if row.status != http.StatusCreated {
			t.Errorf("row %d %+v, want 201", i, row)
		}
	}
}

func TestLotCommand(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	producer, distributor := genKey(t), genKey(t)
	g := "08936000000127"
	lotRef := map[string]string{"gtin": g, "lot": "A/B-1"}
	envs := []ledger.Envelope{
		registration(t, admin, producer, "p-1", "producer"),
		registration(t, admin, distributor, "d-1", "distributor"),
		signRec(t, producer, harvestRecord("h-1", g, "A/B-1")),
		signRec(t, producer, map[string]any{"type": "transfer", "id": "t-1", "lot": lotRef, "to": ledger.AddressOf(distributor).Hex()}),
		signRec(t, distributor, map[string]any{"type": "receive", "id": "r-1", "lot": lotRef}),
	}
	for _, e := range envs {
		if status, body := post(t, n.HTTPURL(), mustJSON(t, e)); status != http.StatusCreated {
			t.Fatalf("setup: %d %s", status, body)
		}
	}
	_, body := get(t, n.HTTPURL(), "/v1/lots/"+g+"/A%2FB-1")
	var view ledger.LotView
	if err := json.Unmarshal(body, &view); err != nil {
		t.Fatal(err)
	}

	urlFlag := []string{"--url", n.HTTPURL()}
	tests := []struct {
		name string
		env  []string
		args []string
		ok   bool
	}{
		{"GTIN-14", nil, append(urlFlag, g, "A/B-1"), true},
		{"GTIN-13", nil, append(urlFlag, g[1:], "A/B-1"), true},
		{"URL from TRACELEDGER_URL", []string{"TRACELEDGER_URL=" + n.HTTPURL()}, []string{g, "A/B-1"}, true},
		{"unknown lot", nil, append(urlFlag, g, "NOSUCH"), false},
		{"bad GTIN", nil, append(urlFlag, "08936000000120", "A/B-1"), false},
		{"one argument", nil, append(urlFlag, g), false},
		{"bad URL", nil, []string{"--url", "ftp://x", g, "A/B-1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, append([]string{"lot"}, tc.args...)...)
			if !tc.ok {
				if r.code == 0 {
					t.Errorf("lot exited 0:\n%s", r.stdout)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("lot exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "Vải thiều Lục Ngạn") {
				t.Errorf("the product name is missing:\n%s", r.stdout)
			}
			if !strings.Contains(r.stdout, "quantity: 500 kg\n") {
				t.Errorf("a whole lot's quantity should read \"quantity: 500 kg\":\n%s", r.stdout)
			}
			// One history row per entry, in order, each starting with its seq.
			var seqs []string
			inTable := false
			for _, l := range strings.Split(r.stdout, "\n") {
				f := strings.Fields(l)
				switch {
				case len(f) > 0 && f[0] == "SEQ":
					inTable = true
				case inTable && len(f) > 0:
					seqs = append(seqs, f[0])
				}
			}
			var want []string
			for _, e := range view.Entries {
				want = append(want, strconv.FormatUint(e.Seq, 10))
			}
			if len(want) != 3 || strings.Join(seqs, ",") != strings.Join(want, ",") {
				t.Errorf("history rows %v, want one per entry %v:\n%s", seqs, want, r.stdout)
			}
		})
	}
}

func TestQuantityLine(t *testing.T) {
	q := func(a, u string) ledger.Quantity { return ledger.Quantity{Amount: json.Number(a), Unit: u} }
	for _, tc := range []struct {
		now, initial ledger.Quantity
		want         string
	}{
		{q("2000", "H87"), q("2000", "H87"), "2000 pieces"},
		{q("1", "XBX"), q("2", "XBX"), "1 box left of 2 boxes"},
		{q("1.0", "XPO"), q("3", "XPO"), "1.0 pouch left of 3 pouches"},
		{q("12", "XBO"), ledger.Quantity{}, "12 bottles"},
		{q("500", "KGM"), q("500.0", "KGM"), "500 kg"},
		{q("120", "KGM"), q("500", "KGM"), "120 kg left of 500 kg"},
		{q("0", "KGM"), q("500", "KGM"), "0 kg left of 500 kg"},
		{q("7", "KGM"), ledger.Quantity{}, "7 kg"},
	} {
		if got := quantityLine(tc.now, tc.initial); got != tc.want {
			t.Errorf("quantityLine(%v, %v) = %q, want %q", tc.now, tc.initial, got, tc.want)
		}
	}
}

func TestBatchesRespectCountAndBytes(t *testing.T) {
	var envs []pending
	for i := 0; i < 10; i++ {
		envs = append(envs, pending{env: make([]byte, 100)})
	}
	for _, tc := range []struct {
		n, bytes int
		want     []int
	}{
		{n: 4, bytes: 1 << 20, want: []int{4, 4, 2}},
		{n: 1000, bytes: 303, want: []int{3, 3, 3, 1}},
		{n: 1, bytes: 1 << 20, want: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{n: 1000, bytes: 50, want: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}, // an oversize envelope still goes alone
	} {
		got := batches(envs, tc.n, tc.bytes)
		var sizes []int
		for _, b := range got {
			sizes = append(sizes, len(b))
		}
		if fmt.Sprint(sizes) != fmt.Sprint(tc.want) {
			t.Errorf("batches(n=%d, bytes=%d) = %v, want %v", tc.n, tc.bytes, sizes, tc.want)
		}
	}
}
