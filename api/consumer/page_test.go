package consumer

import (
	"github.com/traceledger/traceledger/ledger/demo"
	"html"
	"net/http"
	"strings"
	"testing"
)

func TestTrustSignals(t *testing.T) {
	cp := &stubCheckpoints{size: 1 << 40, signed: 3, total: 3, ok: true}
	ds := startDemo(t, func(c *Config) {
		c.OperatorName, c.OperatorURL, c.OperatorPhone = "Sở Công Thương Bắc Giang", "https://soct.bacgiang.example.vn", "0204 3854 000"
		c.Checkpoints = cp
	})
	r := ds.get(t, lycheePage)
	body := html.UnescapeString(r.body)
	// Who operates the ledger, in the header and the footer.
	header, footer := body[strings.Index(body, "<header"):strings.Index(body, "</header>")], body[strings.Index(body, "<footer"):]
	mustContain(t, "header", header, `id="operator"`, "Sở Công Thương Bắc Giang")
	mustContain(t, "footer", footer, "Đơn vị vận hành", "Sở Công Thương Bắc Giang", `href="https://soct.bacgiang.example.vn"`,
		`href="tel:02043854000"`, "0204 3854 000")
	// Open Graph: a shared link previews with the product.
	mustContain(t, "Open Graph", body, `<meta property="og:title" content="Vải thiều Lục Ngạn hộp 250 g">`,
		`<meta property="og:description" content="Số lô LNB2606A · Nơi thu hoạch: Vườn vải Phì Điền, Lục Ngạn, Bắc Giang · Nhà sản xuất: Hợp tác xã Vải thiều Phì Điền">`,
		`<meta property="og:url" content="`+ds.url+lycheePage+`">`)
	// The verification panel in plain words, the technical ones behind "chi tiết".
	verify := body[strings.Index(body, `id="verification"`):]
	details := strings.Index(verify, `<details id="details"><summary>chi tiết</summary>`)
	if details < 0 {
		t.Fatalf("no chi tiết disclosure: %s", verify)
	}
	mustContain(t, "plain panel", verify[:details], "Mọi chữ ký đều hợp lệ", "được 3/3 máy chủ xác nhận")
	for _, tech := range []string{"EIP-191", "secp256k1", "checkpoint", "JSON"} {
		if strings.Contains(verify[:details], tech) {
			t.Errorf("plain panel names %q outside the disclosure", tech)
		}
	}
	mustContain(t, "details", verify[details:], "Đã kiểm tra lại 9/9 chữ ký số (EIP-191, secp256k1)", "được 3/3 nút ký", "Dữ liệu gốc (JSON)")
	en := html.UnescapeString(ds.get(t, lycheePage+"?lang=en").body)
	mustContain(t, "english panel", en, "Every signature is valid", "confirmed by 3/3 servers", "<summary>details</summary>", "Operated by")

	// Without an operator the pages say nothing about one.
	plain := startDemo(t, nil)
	if b := plain.get(t, lycheePage).body; strings.Contains(b, `id="operator"`) || strings.Contains(b, `id="contact"`) {
		t.Error("a page without an operator shows one")
	}
	if _, err := New(Config{Store: ds.cluster.Store(), PublicURL: ds.url, OperatorURL: "javascript:alert(1)"}); err == nil {
		t.Error("a javascript: operator URL is accepted")
	}
}

func TestWording(t *testing.T) {
	ds := startDemo(t, nil)
	lychee := ds.get(t, lycheePage).body
	mustContain(t, "lychee page", lychee, "Đơn vị đang giữ", "2.000 hộp", "Thu hoạch", "Nơi thu hoạch")
	if strings.Contains(lychee, "Hiện do") {
		t.Error(`the page still says "Hiện do"`)
	}
	// Fish are caught, not harvested.
	var saucePage string
	for _, l := range demo.Lots() {
		if l.Lot == "CH2603N" {
			saucePage = "/lot/01/" + l.GTIN + "/10/" + l.Lot
		}
	}
	sauce := ds.get(t, saucePage)
	if sauce.status != http.StatusOK {
		t.Fatalf("fish sauce page: %d", sauce.status)
	}
	mustContain(t, "fish sauce page", sauce.body, "Đánh bắt", "Nơi đánh bắt", "Ngày đánh bắt", "2.400 chai")
	if strings.Contains(sauce.body, "Thu hoạch") || strings.Contains(sauce.body, "thu hoạch") {
		t.Error("the fish sauce page says thu hoạch")
	}
	mustContain(t, "fish sauce page (en)", ds.get(t, saucePage+"?lang=en").body, "Caught at", "Caught on", "2,400 bottles")
	mustContain(t, "honey page", ds.get(t, "/lot/01/"+honeyGTIN+"/10/HG2604M").body, "1.600 hũ")
	// The recall reason is shown as written, in one language.
	recalled := ds.get(t, recalledPage).body
	mustContain(t, "recalled page", recalled, "Độ ẩm vượt chuẩn TCVN 12605:2019; đề nghị không sử dụng và trả lại nơi mua")
	if strings.Contains(recalled, "Moisture") {
		t.Error("the demo recall reason mixes languages")
	}
}
