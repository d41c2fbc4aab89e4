package fieldapp

// The browser's signer and checks against the Go code: every conformance
// vector in testdata/, the same bytes for the same key, the same refusals
// with the same messages, and key backups read both ways.

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
)

// appServer serves the app alone: the signer needs no ledger.
func appServer(t *testing.T) string {
	t.Helper()
	_, h := newTestApp(t, Config{})
	r := h.(*mux.Router)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

type eip191Vector struct {
	Message   string `json:"message"`
	Address   string `json:"address"`
	Signature string `json:"signature"`
	Valid     bool   `json:"valid"`
	Why       string `json:"why"`
}

type scenarioStep struct {
	Name     string `json:"name"`
	Envelope struct {
		Record    json.RawMessage `json:"record"`
		Signature string          `json:"signature"`
	} `json:"envelope"`
	Canonical string `json:"canonical"`
	Expect    int    `json:"expect"`
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestBrowserSignerConformance(t *testing.T) {
	browser := startBrowser(t)
	base := appServer(t)
	b := newTab(t, browser, "signer")
	b.open(base + "/app/")

	var vectors []eip191Vector
	readJSON(t, "eip191-vectors.json", &vectors)
	var sc struct {
		Steps []scenarioStep `json:"steps"`
	}
	readJSON(t, "scenario-public.json", &sc)
	if len(vectors) < 30 || len(sc.Steps) < 20 {
		t.Fatalf("conformance files incomplete: %d vectors, %d steps", len(vectors), len(sc.Steps))
	}

	// Every wallet vector: the browser recovers the claimed address
	// exactly when the vector is valid, as ledger.Recover does.
	var recovered []string
	b.eval(fmt.Sprintf(`(async () => { const S = await import('/app/signer.js');
		return %s.map(v => { try { return S.recoverAddress(S.utf8(v.message), S.fromHex(v.signature)); } catch (e) { return 'error: ' + e.message; } }); })()`, mustJSON(vectors)), &recovered)
	for i, v := range vectors {
		sig, _ := hex.DecodeString(strings.TrimPrefix(v.Signature, "0x"))
		goAddr, goErr := ledger.Recover([]byte(v.Message), sig)
		goOK := goErr == nil && goAddr.Hex() == v.Address
		jsOK := recovered[i] == v.Address
		if jsOK != v.Valid || goOK != v.Valid {
			t.Errorf("vector %d (%s): valid=%v, browser %q, Go %v %v", i, v.Why, v.Valid, recovered[i], goAddr.Hex(), goErr)
		}
	}

	// Every scenario record: the browser's canonical bytes are the
	// file's and the Go code's, and it recovers the signer Go recovers.
	type canonAndSigner struct{ Canonical, Signer string }
	var records []json.RawMessage
	var sigs []string
	for _, st := range sc.Steps {
		records, sigs = append(records, st.Envelope.Record), append(sigs, st.Envelope.Signature)
	}
	var got []canonAndSigner
	b.eval(fmt.Sprintf(`(async () => { const S = await import('/app/signer.js'); const sigs = %s;
		return %s.map((r, i) => { const c = S.canonicalize(r); let s; try { s = S.recoverAddress(S.utf8(c), S.fromHex(sigs[i])); } catch (e) { s = 'error'; }
		return {Canonical: c, Signer: s}; }); })()`, mustJSON(sigs), mustJSON(records)), &got)
	for i, st := range sc.Steps {
		goCanon, err := ledger.Canonicalize(st.Envelope.Record)
		if err != nil {
			t.Fatalf("step %q: %v", st.Name, err)
		}
		if got[i].Canonical != string(goCanon) || (st.Canonical != "" && got[i].Canonical != st.Canonical) {
			t.Errorf("step %q: browser canonical bytes\n%s\nGo\n%s", st.Name, got[i].Canonical, goCanon)
		}
		sig, _ := ledger.ParseSignature(st.Envelope.Signature)
		goSigner := "error"
		if a, err := ledger.Recover(goCanon, sig); err == nil {
			goSigner = a.Hex()
		}
		if got[i].Signer != goSigner {
			t.Errorf("step %q: the browser recovers %s, Go %s", st.Name, got[i].Signer, goSigner)
		}
	}

	// With one key, the browser's signatures are Go's, byte for byte
	// (RFC 6979, low-S, v = 27/28), over every message in the vectors and
	// every canonical record of the scenario.
	key := demo.Key("fieldapp-signer")
	var msgs []string
	for _, v := range vectors {
		msgs = append(msgs, v.Message)
	}
	for _, c := range got {
		msgs = append(msgs, c.Canonical)
	}
	var jsSigs []string
	b.eval(fmt.Sprintf(`(async () => { const S = await import('/app/signer.js'); const k = S.fromHex(%q); const out = [];
		for (const m of %s) out.push(S.toHex(await S.signMessage(k, S.utf8(m)))); return out; })()`, hex.EncodeToString(crypto.FromECDSA(key)), mustJSON(msgs)), &jsSigs)
	for i, m := range msgs {
		goSig, err := ledger.Sign(key, []byte(m))
		if err != nil {
			t.Fatal(err)
		}
		if jsSigs[i] != hex.EncodeToString(goSig) {
			t.Errorf("message %d (%.40q…): browser %s, Go %x", i, m, jsSigs[i], goSig)
		}
	}
	var jsAddr string
	b.eval(fmt.Sprintf(`(async () => (await import('/app/signer.js')).addressOf((await import('/app/signer.js')).fromHex(%q)))()`, hex.EncodeToString(crypto.FromECDSA(key))), &jsAddr)
	if jsAddr != ledger.AddressOf(key).Hex() {
		t.Errorf("the browser's address of the key is %s, Go's %s", jsAddr, ledger.AddressOf(key).Hex())
	}

	// A whole envelope signed in the browser is admitted by the Go code.
	rec := fmt.Sprintf(`{"type":"harvest","id":"browser-1","signer":%q,"time":"2026-06-01T06:15:00+07:00","lot":{"gtin":"08936000000127","lot":"BR1"},
		"product":{"name":"Mật ong bạc hà"},"quantity":{"amount":12.5,"unit":"KGM"},"place":{"name":"Đồng Văn, Hà Giang","geo":"23.28,105.36"}}`, ledger.AddressOf(key).Hex())
	var env ledger.Envelope
	b.eval(fmt.Sprintf(`(async () => { const S = await import('/app/signer.js'); const e = (await S.signRecord(S.fromHex(%q), %s)).envelope;
		return {record: e.record, signature: e.signature}; })()`, hex.EncodeToString(crypto.FromECDSA(key)), rec), &env)
	adm, err := ledger.Admit(env, timeNow())
	if err != nil || adm.Signer != ledger.AddressOf(key) {
		t.Errorf("a browser-signed envelope is not admitted: %v", err)
	}
	// …and one changed after signing is not.
	env.Record = json.RawMessage(strings.Replace(string(env.Record), "12.5", "125", 1))
	if _, err := ledger.Admit(env, timeNow()); err == nil {
		t.Error("an envelope altered after signing in the browser was admitted")
	}
}

// TestBrowserChecksMatchServer runs the app's stateless checks and the
// ledger's on the same invalid records: same code, same English message.
func TestBrowserChecksMatchServer(t *testing.T) {
	browser := startBrowser(t)
	b := newTab(t, browser, "checks")
	b.open(appServer(t) + "/app/")

	signer := ledger.AddressOf(demo.Key("checks")).Hex()
	other := ledger.AddressOf(demo.Key("checks-other")).Hex()
	head := fmt.Sprintf(`"id":"c1","signer":%q,"time":"2026-06-01T06:15:00+07:00"`, signer)
	harvest := func(lot, product, qty, place string) string {
		return fmt.Sprintf(`{"type":"harvest",%s,"lot":%s,"product":%s,"quantity":%s,"place":%s}`, head, lot, product, qty, place)
	}
	okLot, okProduct, okQty, okPlace := `{"gtin":"08936000000127","lot":"A1"}`, `{"name":"Vải"}`, `{"amount":500,"unit":"KGM"}`, `{"name":"Phì Điền"}`
	bad := []string{
		harvest(`{"gtin":"08936000000128","lot":"A1"}`, okProduct, okQty, okPlace),
		harvest(`{"gtin":"0893600000012","lot":"A1"}`, okProduct, okQty, okPlace),
		harvest(`{"gtin":"0893600000012X","lot":"A1"}`, okProduct, okQty, okPlace),
		harvest(`{"gtin":"08936000000127","lot":"LÔ1"}`, okProduct, okQty, okPlace),
		harvest(`{"gtin":"08936000000127","lot":"A B"}`, okProduct, okQty, okPlace),
		harvest(`{"gtin":"08936000000127","lot":"ABCDEFGHIJKLMNOPQRSTU"}`, okProduct, okQty, okPlace),
		harvest(`{"gtin":"08936000000127","lot":""}`, okProduct, okQty, okPlace),
		harvest(okLot, `{"name":""}`, okQty, okPlace),
		harvest(okLot, `{"name":"   "}`, okQty, okPlace),
		harvest(okLot, okProduct, `{"amount":-5,"unit":"KGM"}`, okPlace),
		harvest(okLot, okProduct, `{"amount":0,"unit":"KGM"}`, okPlace),
		harvest(okLot, okProduct, `{"amount":1.1234567,"unit":"KGM"}`, okPlace),
		harvest(okLot, okProduct, `{"amount":2000000000000,"unit":"KGM"}`, okPlace),
		harvest(okLot, okProduct, `{"amount":5,"unit":"kg"}`, okPlace),
		harvest(okLot, okProduct, `{"amount":5,"unit":""}`, okPlace),
		harvest(okLot, okProduct, okQty, `{"name":""}`),
		harvest(okLot, okProduct, okQty, `{"name":"X","geo":"91,10"}`),
		harvest(okLot, okProduct, okQty, `{"name":"X","geo":"21.1234567891,105"}`),
		harvest(okLot, `{"name":"Vải\u202e"}`, okQty, okPlace),
		strings.Replace(harvest(okLot, okProduct, okQty, okPlace), "2026-06-01T06:15:00+07:00", "2026-06-01 06:15", 1),
		strings.Replace(harvest(okLot, okProduct, okQty, okPlace), `"c1"`, `"`+strings.Repeat("x", 65)+`"`, 1),
		strings.Replace(harvest(okLot, okProduct, okQty, okPlace), signer, "0x1234", 1),
		strings.Replace(harvest(okLot, okProduct, okQty, okPlace), signer, strings.ToUpper(signer[:12])+strings.ToLower(signer[12:]), 1),
		fmt.Sprintf(`{"type":"transfer",%s,"lot":%s,"to":%q}`, head, okLot, signer),
		fmt.Sprintf(`{"type":"transfer",%s,"lot":%s}`, head, okLot),
		fmt.Sprintf(`{"type":"transfer",%s,"lot":%s,"to":%q,"after":"abc"}`, head, okLot, other),
		fmt.Sprintf(`{"type":"receive",%s,"lot":%s,"after":"%s"}`, head, okLot, strings.Repeat("A", 64)),
		fmt.Sprintf(`{"type":"inspect",%s,"lot":%s,"result":"ok"}`, head, okLot),
		fmt.Sprintf(`{"type":"inspect",%s,"lot":%s,"result":"pass","certificate":{"scheme":"VietGAP","stars":6}}`, head, okLot),
		fmt.Sprintf(`{"type":"recall",%s,"lot":%s,"reason":""}`, head, okLot),
		fmt.Sprintf(`{"type":"participant",%s,"address":%q,"name":"HTX","roles":["farmer"]}`, head, other),
		fmt.Sprintf(`{"type":"participant",%s,"address":%q,"name":"HTX","roles":["producer","producer"]}`, head, other),
		fmt.Sprintf(`{"type":"participant",%s,"address":%q,"name":"HTX","roles":["producer"],"gln":"8936000000121"}`, head, other),
		fmt.Sprintf(`{"type":"participant",%s,"address":%q,"name":"HTX","roles":[]}`, head, other),
		fmt.Sprintf(`{"type":"transform",%s,"inputs":[{"lot":%s,"quantity":%s}],"outputs":[{"lot":%s,"product":%s,"quantity":%s}]}`, head, okLot, okQty, okLot, okProduct, okQty),
		fmt.Sprintf(`{"type":"transform",%s,"inputs":[],"outputs":[]}`, head),
		fmt.Sprintf(`{"type":"plant",%s}`, head),
	}
	good := []string{
		harvest(okLot, okProduct, okQty, `{"name":"Phì Điền","geo":"21.38, 106.59","growing_area_code":"VN-1"}`),
		fmt.Sprintf(`{"type":"transfer",%s,"lot":%s,"to":%q,"after":"%s"}`, head, okLot, strings.ToLower(other), strings.Repeat("ab", 32)),
		fmt.Sprintf(`{"type":"participant",%s,"address":%q,"name":"HTX","roles":["producer","retailer"],"gln":"893600000012%c"}`, head, other, ledger.CheckDigit("893600000012")),
	}
	type result struct{ Code, EN, VI string }
	var got []result
	b.eval(fmt.Sprintf(`(async () => { const S = await import('/app/signer.js'); const C = await import('/app/checks.js');
		const sum = h => S.checksumAddress(S.fromHex(h));
		return %s.map(r => { const e = C.checkRecord(JSON.parse(r), sum); return e ? {Code: e.code, EN: e.en, VI: e.vi} : {Code: '', EN: '', VI: ''}; }); })()`,
		mustJSON(append(append([]string{}, bad...), good...))), &got)
	for i, raw := range bad {
		_, err := ledger.DecodeRecord([]byte(raw))
		if err == nil {
			t.Errorf("case %d: the ledger accepts %s", i, raw)
			continue
		}
		_, code, _ := ledger.Describe(err)
		if got[i].Code != code || got[i].EN != err.Error() {
			t.Errorf("case %d %s\n  ledger:  %s %s\n  browser: %s %s", i, raw, code, err, got[i].Code, got[i].EN)
		}
		if got[i].VI == "" || got[i].VI == got[i].EN && !strings.Contains(got[i].EN, "missing field") {
			t.Errorf("case %d: no Vietnamese message (%q)", i, got[i].VI)
		}
	}
	for i, raw := range good {
		if _, err := ledger.DecodeRecord([]byte(raw)); err != nil {
			t.Fatalf("good case %d: the ledger refuses it: %v", i, err)
		}
		if r := got[len(bad)+i]; r.Code != "" {
			t.Errorf("good case %d: the browser refuses it: %s %s", i, r.Code, r.EN)
		}
	}
}

// TestBrowserKeyBackup reads a backup made in the browser with the Go
// code, and one made by the Go code (the CLI's keygen --backup) in the
// browser.
func TestBrowserKeyBackup(t *testing.T) {
	browser := startBrowser(t)
	b := newTab(t, browser, "backup")
	b.open(appServer(t) + "/app/")
	key := demo.Key("fieldapp-backup")
	var fromBrowser json.RawMessage
	b.eval(fmt.Sprintf(`(async () => (await import('/app/store.js')).sealKey((await import('/app/signer.js')).fromHex(%q), '482916', 100000))()`,
		hex.EncodeToString(crypto.FromECDSA(key))), &fromBrowser)
	k, err := OpenBackup(fromBrowser, "482916")
	if err != nil || ledger.AddressOf(k) != ledger.AddressOf(key) {
		t.Fatalf("Go cannot open the browser's backup: %v", err)
	}
	if _, err := OpenBackup(fromBrowser, "482917"); err != ErrWrongPIN {
		t.Errorf("the browser's backup with a wrong PIN: %v", err)
	}
	fromGo, err := SealBackup(key, "193746", minIterations)
	if err != nil {
		t.Fatal(err)
	}
	var addr, wrong string
	b.eval(fmt.Sprintf(`(async () => { const st = await import('/app/store.js'); const S = await import('/app/signer.js');
		return S.addressOf(await st.openKey(%s, '193746')); })()`, fromGo), &addr)
	b.eval(fmt.Sprintf(`(async () => { const st = await import('/app/store.js');
		try { await st.openKey(%s, '000000'); return 'opened'; } catch (e) { return e instanceof st.BadPIN ? 'bad PIN' : e.message; } })()`, fromGo), &wrong)
	if addr != ledger.AddressOf(key).Hex() || wrong != "bad PIN" {
		t.Errorf("the browser opens Go's backup as %s (want %s); with a wrong PIN: %s", addr, ledger.AddressOf(key).Hex(), wrong)
	}
}

// TestBrowserSigningTime prints how long the browser takes to sign a
// record (canonical JSON, keccak, RFC 6979 via WebCrypto HMAC, secp256k1).
// It reports; it never fails on a time.
func TestBrowserSigningTime(t *testing.T) {
	browser := startBrowser(t)
	b := newTab(t, browser, "bench")
	b.open(appServer(t) + "/app/")
	key := hex.EncodeToString(crypto.FromECDSA(demo.Key("bench")))
	var ms []float64
	b.eval(fmt.Sprintf(`(async () => { const S = await import('/app/signer.js'); const k = S.fromHex(%q); const signer = S.addressOf(k); const out = [];
		for (let i = 0; i < 50; i++) {
			const r = {type: 'harvest', id: 'bench-' + i, signer, time: '2026-06-01T06:15:00+07:00', lot: {gtin: '08936000000127', lot: 'B' + i},
				product: {name: 'Vải thiều Lục Ngạn'}, quantity: {amount: 500, unit: 'KGM'}, place: {name: 'Phì Điền, Lục Ngạn', geo: '21.38,106.59'}};
			const t0 = performance.now(); await S.signRecord(k, r); out.push(performance.now() - t0);
		}
		return out; })()`, key), &ms)
	if len(ms) != 50 {
		t.Fatalf("%d timings", len(ms))
	}
	sum, worst := 0.0, 0.0
	for _, v := range ms[5:] { // the first few include compiling the code
		sum += v
		worst = max(worst, v)
	}
	sorted := slices.Sorted(slices.Values(ms[5:]))
	t.Logf("browser signing of a harvest record: median %.2f ms, mean %.2f ms, worst %.2f ms over %d records (first %.2f ms)",
		sorted[len(sorted)/2], sum/float64(len(ms)-5), worst, len(ms)-5, ms[0])
}

func timeNow() time.Time { return time.Now() }

// TestBrowserImportsCLIBackup: a backup file written by the Go code (what
// `traceledger keygen --backup` writes) is imported through the app's file
// input; a wrong PIN is refused and nothing is stored.
func TestBrowserImportsCLIBackup(t *testing.T) {
	browser := startBrowser(t)
	b := newTab(t, browser, "import")
	b.open(appServer(t) + "/app/")
	key := demo.Key("fieldapp-cli-backup")
	blob, err := SealBackup(key, "246801", minIterations)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "producer.json")
	if err := os.WriteFile(file, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	b.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS(`#f-import [name=file]`), []string{file}))
	b.fill("#f-import", map[string]string{"pin": "111111"})
	b.submit("#f-import")
	b.waitFor("the wrong PIN refused", `document.getElementById('msg').textContent === 'Sai mã PIN.'`)
	var stored bool
	b.eval(`(async () => !!(await (await import('/app/store.js')).getItem('keys', 'me')))()`, &stored)
	if stored {
		t.Error("a backup opened with a wrong PIN was stored")
	}
	b.fill("#f-import", map[string]string{"pin": "246801"})
	b.submit("#f-import")
	b.waitFor("the home page", `!document.getElementById('home').hidden`)
	if got := b.str(`document.querySelector('#home [data-me]').textContent`); got != ledger.AddressOf(key).Hex() {
		t.Errorf("the app imported %s, want %s", got, ledger.AddressOf(key).Hex())
	}
}
