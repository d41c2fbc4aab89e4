package fieldapp

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
)

// fakeWallet is an injected wallet (window.ethereum, EIP-1193) that
// answers eth_requestAccounts and personal_sign with a fixed key, as
// MetaMask would after the user's approval. It counts its signatures.
const fakeWallet = `window.ethereum = {
	async request({ method, params }) {
		const S = await import('/app/signer.js'), k = S.fromHex('%[1]s');
		if (method === 'eth_requestAccounts') return [S.addressOf(k).toLowerCase()];
		if (method === 'personal_sign') {
			// window.walletOtherKey: the user picked another account in the wallet.
			const key = window.walletOtherKey ? S.fromHex('%[1]s'.replace(/.$/, '1')) : k;
			window.walletSignatures = (window.walletSignatures || 0) + 1;
			return '0x' + S.toHex(await S.signMessage(key, S.fromHex(params[0])));
		}
		throw new Error('unsupported ' + method);
	},
};`

// TestBrowserProcessorWithWallet: a processor and inspector signing with
// an injected wallet receives a lot with one tap, turns 500 kg of lychee
// into 2 000 boxes, and inspects the boxes.
func TestBrowserProcessorWithWallet(t *testing.T) {
	browser := startBrowser(t)
	adminKey := demo.Key("fieldapp-wallet-admin")
	base, _ := startLedger(t, ledger.AddressOf(adminKey))
	producerKey, walletKey := demo.Key("fieldapp-wallet-producer"), demo.Key("fieldapp-wallet-user")
	producer, user := ledger.AddressOf(producerKey).Hex(), ledger.AddressOf(walletKey).Hex()
	lychee, boxes := ledger.LotRef{GTIN: "08936000000127", Lot: "LN500"}, ledger.LotRef{GTIN: "0893600010002" + string(ledger.CheckDigit("0893600010002")), Lot: "LNB500"}

	// The story so far, signed by the Go code.
	for i, s := range []struct {
		key *ecdsa.PrivateKey
		rec map[string]any
	}{
		{adminKey, map[string]any{"type": "participant", "address": producer, "name": "HTX Phì Điền", "roles": []string{"producer"}}},
		{adminKey, map[string]any{"type": "participant", "address": user, "name": "Xưởng đóng hộp Lục Ngạn", "roles": []string{"processor", "inspector"}}},
		{producerKey, map[string]any{"type": "harvest", "lot": lychee, "product": map[string]string{"name": "Vải thiều"}, "quantity": map[string]any{"amount": 500, "unit": "KGM"}, "place": map[string]string{"name": "Phì Điền"}}},
		{producerKey, map[string]any{"type": "transfer", "lot": lychee, "to": user}},
	} {
		s.rec["id"], s.rec["signer"], s.rec["time"] = fmt.Sprintf("w-%d", i), ledger.AddressOf(s.key).Hex(), "2026-06-01T06:00:00+07:00"
		env, err := demo.SignRecord(s.key, s.rec)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(env)
		if code, ans := post(t, base+"/v1/records", string(body)); code != http.StatusCreated {
			t.Fatalf("setup step %d: %d %v", i, code, ans)
		}
	}

	b := newTab(t, browser, "wallet")
	err := chromedp.Do(b.ctx, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: fmt.Sprintf(fakeWallet, hex.EncodeToString(crypto.FromECDSA(walletKey)))})
		return chromedp.Void{}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	b.open(base + "/app/")
	b.waitFor("the wallet offer", `!document.getElementById('wallet-box').hidden`)
	b.do("use the wallet", chromedp.Click(chromedp.CSS("#use-wallet")))
	b.waitFor("the home page", `!document.getElementById('home').hidden`)
	if got := b.str(`document.querySelector('#home [data-me]').textContent`); got != user {
		t.Fatalf("the app uses %s, want the wallet's %s", got, user)
	}

	if hidden := b.str(`String(document.querySelector('#actions a[href="#backup"]').hidden)`); hidden != "true" {
		t.Error("the app offers a key backup for a wallet's key")
	}

	// A signature by another of the wallet's accounts is caught before
	// it reaches the outbox.
	b.eval(`(() => { window.walletOtherKey = true; return true })()`, nil)
	b.waitFor("the incoming lot", fmt.Sprintf(`document.querySelector('#incoming li[data-lot=%q] button.receive')`, lychee.String()))
	b.do("tap receive", chromedp.Click(chromedp.CSS(`#incoming button.receive`)))
	b.waitFor("the refusal", `document.getElementById('msg').textContent.startsWith('Ví đã ký bằng một tài khoản khác')`)
	if n := len(b.outbox()); n != 0 {
		t.Fatalf("a signature by another account reached the outbox (%d items)", n)
	}
	b.eval(`(() => { window.walletOtherKey = false; window.walletSignatures = 0; return true })()`, nil)

	// One tap on the incoming lot.
	b.waitFor("the incoming lot", fmt.Sprintf(`document.querySelector('#incoming li[data-lot=%q] button.receive')`, lychee.String()))
	b.do("tap receive", chromedp.Click(chromedp.CSS(`#incoming button.receive`)))
	b.accepted(1)

	// 500 kg of lychee → 2 000 boxes.
	b.eval(`(() => { document.getElementById('send-now').click(); return true })()`, nil)
	b.visit("#transform")
	b.waitFor("the received lot among the inputs", fmt.Sprintf(`[...document.querySelectorAll('#transform [name=in_lot] option')].some(o => o.value === %q)`, lychee.String()))
	b.fill("#transform", map[string]string{"in_lot": lychee.String(), "in_amount": "500", "out_product": "Vải thiều Lục Ngạn hộp 250 g",
		"out_gtin": boxes.GTIN, "out_lot": boxes.Lot, "out_amount": "2000", "out_unit": "XBX", "process": "đóng hộp"})
	b.shot("fieldapp-transform-vi.png")
	b.submit("#transform")
	b.accepted(2)

	// The boxes pass inspection.
	b.visit("#inspect")
	b.fill("#inspect", map[string]string{"code": "https://example.org/01/" + boxes.GTIN + "/10/" + boxes.Lot, "result": "pass", "cert_scheme": "VietGAP", "note": "đạt"})
	b.submit("#inspect")
	items := b.accepted(3)

	var signed int
	b.eval(`window.walletSignatures || 0`, &signed)
	if signed != 3 {
		t.Errorf("the wallet signed %d records, want 3", signed)
	}
	for i, it := range items {
		if it.State != "accepted" || it.Status != http.StatusCreated {
			t.Errorf("outbox item %d (%s): %s %d", i, it.Type, it.State, it.Status)
		}
	}
	var in, out struct {
		Lot     ledger.Lot `json:"lot"`
		Entries []struct {
			Record struct{ Type string } `json:"record"`
		} `json:"entries"`
	}
	getJSON(t, base+"/v1/lots/"+lychee.GTIN+"/"+lychee.Lot, &in)
	getJSON(t, base+"/v1/lots/"+boxes.GTIN+"/"+boxes.Lot, &out)
	if in.Lot.Status != ledger.StatusConsumed || out.Lot.Holder != user || out.Lot.Quantity.Amount != "2000" || out.Lot.Quantity.Unit != "XBX" {
		t.Errorf("after the transform: input %s, output held by %s, %s %s", in.Lot.Status, out.Lot.Holder, out.Lot.Quantity.Amount, out.Lot.Quantity.Unit)
	}
	if n := len(out.Entries); n < 2 || out.Entries[n-1].Record.Type != "inspect" {
		t.Errorf("the boxes' history ends with %+v, want the inspection", out.Entries)
	}

	// The lot's page and label sheet are one tap away from the list.
	b.visit("#home")
	b.waitFor("the boxes among the held lots", fmt.Sprintf(`document.querySelector('#held li[data-lot=%q]')`, boxes.String()))
	links := b.str(fmt.Sprintf(`[...document.querySelectorAll('#held li[data-lot=%q] a')].map(a => a.getAttribute('href')).join(' ')`, boxes.String()))
	if want := fmt.Sprintf("/01/%s/10/%s /labels/01/%s/10/%s", boxes.GTIN, boxes.Lot, boxes.GTIN, boxes.Lot); links != want {
		t.Errorf("the lot's links are %q, want %q", links, want)
	}
	b.shot("fieldapp-wallet-home-vi.png")
}
