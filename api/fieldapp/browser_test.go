package fieldapp

// Browser tests of the field app: headless Chromium at a phone's viewport
// (390×844 CSS pixels) through chromedp, against a real one-node ledger.
// Screenshots go to testdata/artifacts/ at the repository root.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/api/apitest"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/testnet/harness"
)

const artifactsDir = "../../testdata/artifacts"

// gate cuts a ledger off the network: while it is shut, every request
// is dropped without an answer. CDP's offline emulation cuts one page; a
// phone with no signal has no network in its service worker either
// (Background Sync), and the gate makes sure nothing gets through.
type gate struct {
	shut    atomic.Bool
	dropped atomic.Int64 // POSTs of records dropped while shut
	posts   atomic.Int64 // POSTs let through
}

func (g *gate) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.shut.Load() {
			if r.Method == http.MethodPost {
				g.posts.Add(1)
			}
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodPost {
			g.dropped.Add(1)
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "network cut by the test", http.StatusServiceUnavailable)
	})
}

// startLedger runs a one-node ledger whose admin is admin, with the field
// app mounted, and returns its URL and its gate.
func startLedger(t *testing.T, admin common.Address) (string, *gate) {
	t.Helper()
	g := &gate{}
	cluster, err := apitest.NewCluster([]common.Address{admin})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{OperatorName: "Sở Công Thương Bắc Giang"})
	if err != nil {
		t.Fatal(err)
	}
	a.Mount(srv.Router())
	srv.Router().Use(g.middleware)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL, g
}

// startBrowser starts headless Chromium, or skips (fails under CI) when
// there is none.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := harness.RequireBrowser(t)
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
		chromedp.Flag("lang", "vi-VN"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab is one page in its own browser context (its own storage, service
// worker and IndexedDB: another person's phone).
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func newTab(t *testing.T, browser context.Context, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelTimeout)
	b := &tab{t: t, name: name, ctx: ctx}
	b.do("viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	return b
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// eval evaluates js (awaiting a promise) into v.
func (b *tab) eval(js string, v any) {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluate %.80s…: %v", b.name, js, err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			b.t.Fatalf("%s: evaluate %.80s…: %v (%s)", b.name, js, err, raw)
		}
	}
}

func (b *tab) str(js string) string {
	b.t.Helper()
	var s string
	b.eval(js, &s)
	return s
}

// waitFor polls the JavaScript condition cond until it is true.
func (b *tab) waitFor(what, cond string) {
	b.t.Helper()
	err := harness.Poll(b.ctx, 60*time.Second, func() bool {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("Promise.resolve("+cond+").then(v => !!v)", chromedp.EvalAwaitPromise))
		return err == nil && ok
	})
	if err != nil {
		b.t.Fatalf("%s: waiting for %s (%s): %v\nstate: %s", b.name, what, cond, err,
			b.str(`(async () => JSON.stringify({msg: (document.getElementById('msg') || {}).textContent, onLine: navigator.onLine, sending: document.body.dataset.sending,
				outbox: (await (await import('/app/store.js')).allItems('outbox')).map(i => [i.type, i.state, i.status])}))()`))
	}
}

// open navigates to url and waits for the app to have started.
func (b *tab) open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
	b.waitFor("the app to start", `document.body && document.body.dataset.ready === 'true'`)
}

func (b *tab) fill(form string, values map[string]string) {
	b.t.Helper()
	js, _ := json.Marshal(values)
	b.eval(fmt.Sprintf(`(() => { const f = document.querySelector(%q); for (const [k, v] of Object.entries(%s)) { f.elements[k].value = v; } return true })()`, form, js), nil)
}

func (b *tab) submit(form string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => { document.querySelector(%q).requestSubmit(); return true })()`, form), nil)
}

func (b *tab) visit(hash string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => { location.hash = %q; return true })()`, hash), nil)
	b.waitFor("page "+hash, fmt.Sprintf(`document.body.dataset.page === %q`, strings.TrimPrefix(hash, "#")))
}

// offline cuts the tab's network, the service worker's too, as a phone
// out of signal has none; and restores it.
func (b *tab) offline(on bool) {
	b.t.Helper()
	err := chromedp.Do(b.ctx, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		var rules []*network.Conditions
		if on {
			rules = []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}}
		}
		yes := on
		if _, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			EmulateOfflineServiceWorker: &yes, MatchedNetworkConditions: rules}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: on, DownloadThroughput: -1, UploadThroughput: -1})
		return chromedp.Void{}, err
	})
	if err != nil {
		b.t.Fatalf("%s: network offline=%v: %v", b.name, on, err)
	}
}

func (b *tab) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", b.name, err)
	}
	if err := os.WriteFile(filepath.Join(artifactsDir, name), png, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
	}
	b.t.Logf("screenshot: testdata/artifacts/%s (%d bytes)", name, len(png))
}

// outboxItem is an outbox entry as the app stores it (app/store.js).
type outboxItem struct {
	Body   string `json:"body"`
	State  string `json:"state"`
	Status int    `json:"status"`
	Seq    uint64 `json:"seq"`
	Type   string `json:"type"`
	Error  *struct {
		Code, Message string
	} `json:"error"`
}

func (b *tab) outbox() []outboxItem {
	b.t.Helper()
	var items []outboxItem
	b.eval(`(async () => (await (await import('/app/store.js')).allItems('outbox')))()`, &items)
	return items
}

// accepted waits until n outbox items are accepted and returns them all.
func (b *tab) accepted(n int) []outboxItem {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%d accepted record(s)", n), fmt.Sprintf(`(async () => (await (await import('/app/store.js')).allItems('outbox')).filter(i => i.state === 'accepted').length >= %d)()`, n))
	return b.outbox()
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	rs, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Body.Close()
	if v != nil && rs.StatusCode == http.StatusOK {
		if err := json.NewDecoder(rs.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return rs.StatusCode
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	rs, err := http.Post(url, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Body.Close()
	var v map[string]any
	json.NewDecoder(rs.Body).Decode(&v)
	return rs.StatusCode, v
}

// TestBrowserFieldApp walks the app through a season: it installs and
// opens with no network; a producer makes a key and signs a harvest
// offline; an admin registers the producer from the address the app
// shows; back online the harvest is sent and held (201, then 200 on a
// resend); the producer transfers the lot to a distributor, who receives
// it with one tap.
func TestBrowserFieldApp(t *testing.T) {
	browser := startBrowser(t)
	adminKey := demo.Key("fieldapp-browser-admin")
	base, net := startLedger(t, ledger.AddressOf(adminKey))
	const gtin, lotCode = "08936000000127", "FA2606A"

	// The landing page: who runs the ledger, a box for a lot code (a scan
	// button only where the browser can scan), the way to the app.
	prod := newTab(t, browser, "producer")
	prod.do("open the landing page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#lookup")))
	if op := prod.str(`document.getElementById('operator').textContent`); !strings.Contains(op, "Sở Công Thương Bắc Giang") {
		t.Errorf("the landing page names the operator as %q", op)
	}
	prod.waitFor("the scan button decided", `document.getElementById('scan').hidden === !('BarcodeDetector' in window)`)
	prod.shot("landing-vi.png")
	prod.do("look up a lot", chromedp.SendKeys(chromedp.CSS("#code"), "8936000000127/LN2606A"), chromedp.Submit(chromedp.CSS("#code")))
	prod.waitFor("the lot's Digital Link", `location.pathname === '/01/08936000000127/10/LN2606A'`)

	// The app installs its service worker, then opens with the network cut.
	prod.open(base + "/app/")
	prod.waitFor("the service worker to control the page", `navigator.serviceWorker.controller !== null`)
	prod.waitFor("the shell in the cache", `caches.keys().then(k => k.some(n => n.startsWith('traceledger-app-')))`)
	prod.offline(true)
	net.shut.Store(true)
	prod.open(base + "/app/")
	if got := prod.str(`fetch('/v1/cluster').then(() => 'reached', () => 'offline')`); got != "offline" {
		t.Fatalf("the network is not cut: the API was %s", got)
	}
	prod.waitFor("the key setup page", `!document.getElementById('setup').hidden`)
	if title := prod.str(`document.querySelector('#setup h1').textContent`); title != "Khoá ký của bạn" {
		t.Errorf("the offline shell shows %q, want the Vietnamese setup page", title)
	}
	var overflow float64
	prod.eval(`document.documentElement.scrollWidth - innerWidth`, &overflow)
	if overflow > 0 {
		t.Errorf("the app is %v px wider than a 390 px screen", overflow)
	}
	prod.shot("fieldapp-offline-setup-vi.png")

	// Offline: a key with a PIN (two different PINs are refused first).
	prod.fill("#f-create", map[string]string{"pin": "246810", "pin2": "246811"})
	prod.submit("#f-create")
	prod.waitFor("the PIN mismatch", `document.getElementById('msg').textContent.includes('không khớp')`)
	prod.fill("#f-create", map[string]string{"pin": "246810", "pin2": "246810"})
	prod.submit("#f-create")
	prod.waitFor("the home page", `!document.getElementById('home').hidden`)
	if msg := prod.str(`document.getElementById('msg').hidden ? '' : document.getElementById('msg').textContent`); msg != "Đã tạo khoá. Hãy tải tệp sao lưu." {
		t.Errorf("after making the key the app says %q, want the reminder to back it up", msg)
	}
	producer := prod.str(`document.querySelector('#home [data-me]').textContent`)
	if _, err := ledger.ParseAddress(producer); err != nil {
		t.Fatalf("the app shows %q as its address: %v", producer, err)
	}

	// Offline: a harvest. A lot code with a Vietnamese letter is refused
	// before signing, with the server's rule in Vietnamese.
	prod.visit("#harvest")
	harvest := map[string]string{"product": "Vải thiều Lục Ngạn", "gtin": gtin, "lot": "LÔ1", "amount": "500", "unit": "KGM",
		"place": "Phì Điền, Lục Ngạn", "province": "Bắc Giang", "geo": "21.38,106.59", "growing_area_code": "VN-BGLN-0012", "cert_scheme": "VietGAP"}
	prod.fill("#harvest", harvest)
	prod.submit("#harvest")
	prod.waitFor("the refusal", `document.getElementById('msg').className === 'refused'`)
	if msg := prod.str(`document.getElementById('msg').textContent`); !strings.Contains(msg, "lot.lot: số lô không hợp lệ") || !strings.Contains(msg, "CSET 82") {
		t.Errorf("a bad lot code says %q", msg)
	}
	if n := len(prod.outbox()); n != 0 {
		t.Fatalf("a refused record reached the outbox (%d items)", n)
	}
	harvest["lot"] = lotCode
	prod.fill("#harvest", harvest)
	prod.submit("#harvest")
	prod.waitFor("the outbox", `document.body.dataset.page === 'outbox'`)
	if msg := prod.str(`document.getElementById('msg').hidden ? '' : document.getElementById('msg').textContent`); msg != "Đã ký. Bản ghi nằm trong hàng đợi." {
		t.Errorf("after signing the app says %q", msg)
	}
	// The service worker asks for a Background Sync, which tries at once
	// when the browser believes it has a network, and finds none; the
	// harvest waits. (A machine with no network interface but loopback
	// never fires the sync: then there is nothing to wait for.)
	if err := harness.Poll(prod.ctx, 15*time.Second, func() bool { return net.dropped.Load() > 0 }); err != nil {
		t.Logf("no Background Sync attempt within 15 s: %v", err)
	}
	prod.visit("#home")
	prod.visit("#outbox")
	prod.waitFor("the outbox with the harvest waiting", `(async () => !document.body.dataset.sending && document.querySelector('#outbox-list li[data-state=waiting]') &&
		(await (await import('/app/store.js')).allItems('outbox')).every(i => i.state === 'waiting'))()`)
	if on := prod.str(`String(navigator.onLine)`); on != "false" {
		t.Errorf("navigator.onLine is %s with the network cut", on)
	}
	if s := prod.str(`document.querySelector('#outbox-list li .state').textContent`); s != "Đang chờ mạng" {
		t.Errorf("the waiting harvest shows %q", s)
	}
	prod.shot("fieldapp-outbox-waiting-vi.png")

	// Onboarding: the admin's app registers the producer's address.
	net.shut.Store(false)
	adm := newTab(t, browser, "admin")
	adm.open(base + "/app/")
	adm.fill("#f-import", map[string]string{"text": fmt.Sprintf("%x", adminKey.D.FillBytes(make([]byte, 32))), "pin": "135790"})
	adm.submit("#f-import")
	adm.waitFor("the admin's home page", `!document.getElementById('home').hidden`)
	if got := adm.str(`document.querySelector('#home [data-me]').textContent`); got != ledger.AddressOf(adminKey).Hex() {
		t.Fatalf("the imported key is %s, want %s", got, ledger.AddressOf(adminKey).Hex())
	}
	register := func(addr, name, role string, n int) {
		t.Helper()
		adm.visit("#participant")
		adm.fill("#participant", map[string]string{"address": addr, "name": name})
		adm.eval(fmt.Sprintf(`(() => { for (const c of document.querySelectorAll('#participant [name=roles]')) c.checked = c.value === %q; return true })()`, role), nil)
		if n == 1 {
			adm.shot("fieldapp-admin-register-vi.png")
		}
		adm.submit("#participant")
		items := adm.accepted(n)
		if code := getJSON(t, base+"/v1/participants/"+addr, nil); code != http.StatusOK {
			t.Fatalf("%s is not registered after the admin's app signed it: %d (outbox %+v)", addr, code, items)
		}
	}
	// A mistyped address is refused in the app.
	adm.visit("#participant")
	adm.fill("#participant", map[string]string{"address": "0x1234", "name": "X"})
	adm.eval(`(() => { document.querySelector('#participant [value=producer]').checked = true; return true })()`, nil)
	adm.submit("#participant")
	adm.waitFor("the refusal", `document.getElementById('msg').textContent.includes('địa chỉ không hợp lệ')`)
	register(producer, "HTX Vải thiều Phì Điền", "producer", 1)

	// Back online, the harvest is sent and held: 201, then 200 on a resend.
	prod.offline(false)
	items := prod.accepted(1)
	if items[0].Status != http.StatusCreated || items[0].Seq == 0 {
		t.Errorf("the harvest was answered %d seq %d, want 201", items[0].Status, items[0].Seq)
	}
	if code, ans := post(t, base+"/v1/records", items[0].Body); code != http.StatusOK || uint64(ans["seq"].(float64)) != items[0].Seq {
		t.Errorf("resending the identical envelope: %d %v, want 200 with seq %d", code, ans, items[0].Seq)
	}
	var lv struct {
		Lot ledger.Lot `json:"lot"`
	}
	if getJSON(t, base+"/v1/lots/"+gtin+"/"+lotCode, &lv) != http.StatusOK || lv.Lot.Holder != producer || lv.Lot.Quantity.Amount != "500" {
		t.Fatalf("the lot after the harvest: %+v", lv.Lot)
	}
	prod.shot("fieldapp-outbox-accepted-vi.png")

	// A distributor joins; the producer transfers, the distributor receives.
	dist := newTab(t, browser, "distributor")
	dist.open(base + "/app/")
	dist.fill("#f-create", map[string]string{"pin": "975310", "pin2": "975310"})
	dist.submit("#f-create")
	dist.waitFor("the home page", `!document.getElementById('home').hidden`)
	distributor := dist.str(`document.querySelector('#home [data-me]').textContent`)
	register(distributor, "Công ty Nông sản Hải Phòng", "distributor", 2)

	prod.eval(`(() => { document.getElementById('send-now').click(); return true })()`, nil)
	prod.visit("#transfer")
	prod.waitFor("the recipient in the registry list", fmt.Sprintf(`[...document.querySelectorAll('#transfer [name=to] option')].some(o => o.value === %q)`, distributor))
	prod.waitFor("the held lot in the list", fmt.Sprintf(`[...document.querySelectorAll('#transfer [name=lot] option')].some(o => o.value === %q)`, gtin+"/"+lotCode))
	prod.fill("#transfer", map[string]string{"lot": gtin + "/" + lotCode, "to": distributor})
	prod.shot("fieldapp-transfer-vi.png")
	prod.submit("#transfer")
	items = prod.accepted(2)
	var transfer struct {
		Record map[string]any `json:"record"`
	}
	json.Unmarshal([]byte(items[1].Body), &transfer)
	if transfer.Record["type"] != "transfer" || transfer.Record["after"] == nil {
		t.Errorf("the transfer record carries no \"after\": %v", transfer.Record)
	}
	if getJSON(t, base+"/v1/lots/"+gtin+"/"+lotCode, &lv); lv.Lot.InTransitTo != distributor {
		t.Fatalf("the lot after the transfer: %+v", lv.Lot)
	}

	dist.eval(`(() => { document.getElementById('send-now').click(); return true })()`, nil)
	dist.visit("#home")
	dist.waitFor("the incoming lot", fmt.Sprintf(`document.querySelector('#incoming li[data-lot=%q] button.receive')`, gtin+"/"+lotCode))
	dist.shot("fieldapp-incoming-vi.png")
	dist.do("tap receive", chromedp.Click(chromedp.CSS(`#incoming button.receive`)))
	dist.accepted(1)
	lv.Lot = ledger.Lot{} // the decoder leaves fields the answer omits
	if getJSON(t, base+"/v1/lots/"+gtin+"/"+lotCode, &lv); lv.Lot.Holder != distributor || lv.Lot.InTransitTo != "" {
		t.Fatalf("the lot after the receive: holder %s in transit to %q, want %s", lv.Lot.Holder, lv.Lot.InTransitTo, distributor)
	}

	// Opening the app again asks for the PIN; a wrong one is refused.
	dist.open(base + "/app/")
	dist.waitFor("the unlock page", `!document.getElementById('unlock').hidden`)
	dist.fill("#f-unlock", map[string]string{"pin": "975311"})
	dist.submit("#f-unlock")
	dist.waitFor("the wrong PIN refused", `document.getElementById('msg').textContent === 'Sai mã PIN.'`)
	dist.fill("#f-unlock", map[string]string{"pin": "975310"})
	dist.submit("#f-unlock")
	dist.waitFor("the home page", `!document.getElementById('home').hidden`)

	// A refused record stays visible, with the server's message, until dismissed.
	dist.visit("#recall")
	dist.fill("#recall", map[string]string{"code": gtin + "/" + lotCode, "reason": "thử"})
	dist.submit("#recall")
	dist.waitFor("the refused recall", `document.querySelector('#outbox-list li[data-state=refused] .detail')`)
	detail := dist.str(`document.querySelector('#outbox-list li[data-state=refused] .detail').textContent`)
	if !strings.HasPrefix(detail, "403 ") {
		t.Errorf("the refused recall shows %q, want the server's 403 and message", detail)
	}
	if explain := dist.str(`document.querySelector('#outbox-list li[data-state=refused] .explain').textContent`); explain != "Vai trò của bạn không cho phép việc này." {
		t.Errorf("the refusal is explained as %q", explain)
	}
	// Sending it again changes nothing: the same refusal comes back.
	posts := net.posts.Load()
	dist.do("send again", chromedp.Click(chromedp.CSS(`#outbox-list li[data-state=refused] button.retry`)))
	if err := harness.Poll(dist.ctx, 30*time.Second, func() bool { return net.posts.Load() > posts }); err != nil {
		t.Fatalf("\"send again\" sent nothing: %v", err)
	}
	dist.waitFor("the second refusal", `(async () => { const it = (await (await import('/app/store.js')).allItems('outbox')).find(i => i.type === 'recall');
		return it.state === 'refused' && it.status === 403 && document.querySelector('#outbox-list li[data-state=refused]'); })()`)
	dist.shot("fieldapp-outbox-refused-vi.png")
	dist.do("dismiss", chromedp.Click(chromedp.CSS(`#outbox-list li[data-state=refused] button.dismiss`)))
	dist.waitFor("the dismissed item to go", `!document.querySelector('#outbox-list li[data-state=refused]')`)

	// English on request.
	dist.do("switch to English", chromedp.Click(chromedp.CSS("#lang")))
	dist.visit("#home")
	if h := dist.str(`document.querySelector('#home h2').textContent`); h != "Lots on their way to you" {
		t.Errorf("English home page heading %q", h)
	}
	dist.shot("fieldapp-home-en.png")

	// Readable on a small phone: nothing wider than 360 px.
	dist.do("a 360 px screen", chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, page := range []string{"#home", "#harvest", "#transform", "#outbox", "#participant"} {
		dist.visit(page)
		var wider float64
		dist.eval(`document.documentElement.scrollWidth - innerWidth`, &wider)
		if wider > 0 {
			t.Errorf("%s is %v px wider than a 360 px screen", page, wider)
		}
	}
}
