package consumer

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
)

func TestResolver(t *testing.T) {
	ds := startDemo(t, nil)

	t.Run("html page in Vietnamese by default", func(t *testing.T) {
		r := ds.get(t, lycheePage)
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
			`href="`+lycheePage+`?lang=en"`, // the visible language switch
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
		r := ds.get(t, lycheePage, "Accept-Language: en-GB,en;q=0.9,vi;q=0.5")
		if r.header.Get("Content-Language") != "en" {
			t.Fatalf("Content-Language %q", r.header.Get("Content-Language"))
		}
		mustContain(t, "english page", r.body, `lang="en"`, "Luc Ngan lychee, 250 g box", "Journey of this product",
			"Harvested on", "12 Jun 2026, 05:30", "Hand-over", "9 of 9 digital signatures", "?lang=vi", "Tiếng Việt")
		vi := ds.get(t, lycheePage, "Accept-Language: fr-FR,vi;q=0.8,en;q=0.7")
		if vi.header.Get("Content-Language") != "vi" {
			t.Errorf("vi preferred over en: got %q", vi.header.Get("Content-Language"))
		}
		forced := ds.get(t, lycheePage+"?lang=en", "Accept-Language: vi")
		if forced.header.Get("Content-Language") != "en" {
			t.Errorf("?lang=en ignored: %q", forced.header.Get("Content-Language"))
		}
	})

	t.Run("json by Accept", func(t *testing.T) {
		r := ds.get(t, lycheePath, "Accept: application/json")
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("status %d type %q", r.status, r.header.Get("Content-Type"))
		}
		var v ledger.LotView
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Fatal(err)
		}
		if v.Lot.GTIN != lycheeGTIN || v.Lot.Lot != lycheeLot || len(v.Entries) == 0 {
			t.Fatalf("lot %+v, %d entries", v.Lot, len(v.Entries))
		}
		// The same document as the API's own route.
		apiAns := ds.get(t, "/v1/lots/"+lycheeGTIN+"/"+lycheeLot)
		var w ledger.LotView
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
			ds.get(t, lycheePath+"?linkType=linkset"),
			ds.get(t, lycheePath+"/?linkType=linkset"),
			ds.get(t, lycheePath+"?linkType=all"),
			ds.get(t, lycheePath, "Accept: application/linkset+json"),
		} {
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/linkset+json" {
				t.Fatalf("status %d type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			if l := strings.Join(r.header.Values("Link"), ", "); !strings.Contains(l, "<"+ds.url+"/linkset-context.jsonld>; "+
				`rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`) {
				t.Errorf("linkset lacks a Link header to its JSON-LD context: %q", l)
			}
			ctx := checkLinkset(t, r.body)
			if ctx["anchor"] != ds.url+lycheePath || !strings.Contains(ctx["itemDescription"].(string), "Vải thiều Lục Ngạn") {
				t.Errorf("anchor %q, itemDescription %q", ctx["anchor"], ctx["itemDescription"])
			}
			for _, rel := range []string{"pip", "traceability", "certificationInfo", "recallStatus", "defaultLink"} {
				if _, ok := ctx["https://gs1.org/voc/"+rel]; !ok {
					t.Errorf("linkset lacks gs1:%s", rel)
				}
			}
			if _, ok := ctx["describedby"]; !ok {
				t.Error("linkset lacks describedby")
			}
		}
		ctxDoc := ds.get(t, "/linkset-context.jsonld")
		var doc map[string]any
		if ctxDoc.status != http.StatusOK || ctxDoc.header.Get("Content-Type") != "application/ld+json" || json.Unmarshal([]byte(ctxDoc.body), &doc) != nil || doc["@context"] == nil {
			t.Errorf("JSON-LD context: %d %q %s", ctxDoc.status, ctxDoc.header.Get("Content-Type"), ctxDoc.body)
		}
	})

	t.Run("default link by redirect", func(t *testing.T) {
		ls := checkLinkset(t, ds.get(t, lycheePath+"?linkType=linkset").body)
		def := ls["https://gs1.org/voc/defaultLink"].([]any)[0].(map[string]any)["href"].(string)
		if def != ds.url+lycheePage {
			t.Fatalf("default link %q, want the page %q", def, ds.url+lycheePage)
		}
		for path, want := range map[string]string{
			lycheePath:                       def,
			lycheePath + "/":                 def, // a trailing slash is tolerated
			lycheePath + "?foo=bar&lang=en":  def + "?foo=bar&lang=en",
			lycheePath + "/21/SN1?17=261231": ds.url + lycheePage + "/21/SN1?17=261231",
		} {
			r := ds.get(t, path)
			if r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != want {
				t.Errorf("GET %s: %d %q, want 307 %q", path, r.status, r.header.Get("Location"), want)
			}
			if l := r.header.Get("Link"); !strings.Contains(l, `rel="linkset"`) {
				t.Errorf("GET %s: redirect lacks a Link header to the linkset: %q", path, l)
			}
		}
		// The page at the default link answers with the same Link header.
		if l := ds.get(t, lycheePage).header.Get("Link"); !strings.Contains(l, "<"+ds.url+lycheePath+"?linkType=linkset>; "+`rel="linkset"`) {
			t.Errorf("page Link header %q", l)
		}
		// A redirect followed, as a phone's browser does.
		follow := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		resp, err := follow.Get(ds.url + lycheePath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != ds.url+lycheePage || resp.Header.Get("Content-Language") != "vi" {
			t.Errorf("followed to %s: %d", resp.Request.URL, resp.StatusCode)
		}
	})

	t.Run("link types redirect to the linkset's targets", func(t *testing.T) {
		ls := checkLinkset(t, ds.get(t, lycheePath+"?linkType=linkset").body)
		n := 0
		for rel, v := range ls {
			if rel == "anchor" || rel == "itemDescription" {
				continue
			}
			href := v.([]any)[0].(map[string]any)["href"].(string)
			if !strings.HasPrefix(href, ds.url+"/") {
				t.Errorf("%s: href %q is not an absolute URL under the public URL", rel, href)
			}
			lt := strings.Replace(rel, "https://gs1.org/voc/", "gs1:", 1)
			for _, asked := range []string{lt, url.QueryEscape(rel)} {
				r := ds.get(t, lycheePath+"?linkType="+asked)
				if r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != href {
					t.Errorf("linkType=%s: %d %q, want 307 %q", asked, r.status, r.header.Get("Location"), href)
				}
			}
			n++
		}
		if n != 6 {
			t.Errorf("%d link types", n)
		}
		// Each target answers.
		for lt, wantType := range map[string]string{
			"gs1:traceability": "application/json", "describedby": "application/json",
			"gs1:recallStatus": "application/json", "gs1:pip": "text/html",
		} {
			loc := ds.get(t, lycheePath+"?linkType="+lt).header.Get("Location")
			r := ds.get(t, strings.TrimPrefix(loc, ds.url))
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), wantType) {
				t.Errorf("%s target %s: %d %q", lt, loc, r.status, r.header.Get("Content-Type"))
			}
		}
		// The query string, but for linkType, is passed on, before a fragment.
		r := ds.get(t, lycheePath+"?linkType=gs1:certificationInfo&lang=en")
		if want := ds.url + lycheePage + "?lang=en#certificates"; r.header.Get("Location") != want {
			t.Errorf("certificationInfo with lang: %q, want %q", r.header.Get("Location"), want)
		}
		// A link type the linkset lacks is a 404.
		for _, lt := range []string{"gs1:nosuchlt", "gs1:nutritionalInfo", "https://gs1.org/voc/nosuchlt"} {
			r := ds.get(t, lycheePath+"?linkType="+lt)
			if r.status != http.StatusNotFound {
				t.Errorf("linkType=%s: %d, want 404", lt, r.status)
			}
		}
	})

	t.Run("non-canonical codes", func(t *testing.T) {
		for _, c := range []struct{ path, want string }{
			{"/01/8936000100025/10/LNB2606A?lang=en", lycheePath + "?lang=en"},
			{"/01/8936000100025/10/LNB2606A/21/X1", lycheePath + "/21/X1"},
			{"/lot/01/8936000100025/10/LNB2606A", lycheePage},
		} {
			r := ds.get(t, c.path)
			if r.status != http.StatusMovedPermanently || r.header.Get("Location") != c.want {
				t.Errorf("GET %s: %d %q, want 301 %q", c.path, r.status, r.header.Get("Location"), c.want)
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
		loc := ds.get(t, recalledPath+"?linkType=gs1:recallStatus").header.Get("Location")
		if loc != ds.url+"/recall"+recalledPath {
			t.Errorf("recallStatus target %q", loc)
		}
		r := ds.get(t, "/recall"+recalledPath)
		if err := json.Unmarshal([]byte(r.body), &ans); err != nil || r.status != http.StatusOK {
			t.Fatalf("%d %v %s", r.status, err, r.body)
		}
		if !ans.Recalled || ans.Status != ledger.StatusRecalled || ans.Recall.Origin.Lot != "HG2607B" {
			t.Errorf("recalled lot: %+v", ans)
		}
		r = ds.get(t, "/recall"+lycheePath)
		if err := json.Unmarshal([]byte(r.body), &ans); err != nil || ans.Recalled {
			t.Errorf("lychee: %v %s", err, r.body)
		}
		if r := ds.get(t, "/recall/01/"+lycheeGTIN+"/10/NOPE"); r.status != http.StatusNotFound {
			t.Errorf("unknown lot's recall status: %d", r.status)
		}
	})

	t.Run("recall banner", func(t *testing.T) {
		r := ds.get(t, recalledPage)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		mustContain(t, "recalled page", r.body, `class="alert" role="alert" id="recall"`, "CẢNH BÁO: SẢN PHẨM BỊ THU HỒI",
			"Không ăn, không sử dụng", "Độ ẩm vượt chuẩn TCVN 12605:2019", "Lô nguyên liệu HG2607B", "Đã thu hồi",
			"Không đạt", "09/07/2026 15:00")
		en := ds.get(t, recalledPage+"?lang=en")
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
			"/01/08936000100025/10/LNB2606A/foo",
		} {
			r := ds.get(t, p)
			if r.status != http.StatusBadRequest {
				t.Errorf("GET %s: %d, want 400", p, r.status)
				continue
			}
			mustContain(t, p, r.body, "Mã không hợp lệ", "có thể là hàng giả")
		}
		// The page says what is wrong in its own language, without the
		// parser's English.
		for p, want := range map[string]string{
			"/01/08936000100026/10/LNB2606A":         "có chữ số kiểm tra sai",
			"/01/08936000100025/10/L%C3%94":          "ký tự mà mã GS1 không cho phép",
			"/01/08936000100025/21/1/10/LNB2606A":    "Các phần của mã sai thứ tự",
			"/01/08936000100025/10/A?17=991399":      "không phải là ngày",
			"/01/08936000100026/10/LNB2606A?lang=en": "has a wrong check digit",
		} {
			r := ds.get(t, p)
			mustContain(t, p, r.body, want)
			if strings.Contains(r.body, "digitallink:") {
				t.Errorf("%s: the page shows the parser's error", p)
			}
		}
		r := ds.get(t, "/01/08936000100026/10/LNB2606A", "Accept: application/json")
		var e struct{ Error struct{ Code string } }
		if r.status != http.StatusBadRequest || json.Unmarshal([]byte(r.body), &e) != nil || e.Error.Code != "invalid_digital_link" {
			t.Errorf("json 400: %d %s", r.status, r.body)
		}
	})

	t.Run("unknown lot of a known GTIN walks up to the product page", func(t *testing.T) {
		product := ds.url + "/product/01/" + lycheeGTIN
		r := ds.get(t, "/01/"+lycheeGTIN+"/10/FAKE123")
		if r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != product+"?lot=FAKE123" {
			t.Fatalf("unknown lot: %d %q", r.status, r.header.Get("Location"))
		}
		if r.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("a walk-up redirect is cacheable: %q", r.header.Get("Cache-Control"))
		}
		page := ds.get(t, "/product/01/"+lycheeGTIN+"?lot=FAKE123")
		if page.status != http.StatusOK {
			t.Fatalf("product page: %d", page.status)
		}
		mustContain(t, "walk-up page", page.body, `role="alert" id="warning"`, "Số lô FAKE123 không có trong sổ cái",
			"Sản phẩm có thể là hàng giả", "Vải thiều Lục Ngạn hộp 250 g", "Công ty Chế biến Nông sản Bắc Giang", "Các lô gần đây",
			`href="/lot/01/`+lycheeGTIN+`/10/`+lycheeLot+`"`)
		en := ds.get(t, "/product/01/"+lycheeGTIN+"?lot=FAKE123&lang=en")
		mustContain(t, "walk-up page (en)", en.body, "Lot code FAKE123 is not in the traceability ledger", "may be counterfeit", "Recent lots")
		// The GTIN alone, and a lot the ledger holds, carry no warning.
		if r := ds.get(t, "/01/"+lycheeGTIN); r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != product {
			t.Errorf("GTIN alone: %d %q", r.status, r.header.Get("Location"))
		}
		for _, p := range []string{"/product/01/" + lycheeGTIN, "/product/01/" + lycheeGTIN + "?lot=" + lycheeLot} {
			if r := ds.get(t, p); r.status != http.StatusOK || strings.Contains(r.body, "hàng giả") {
				t.Errorf("%s: %d, warns: %v", p, r.status, strings.Contains(r.body, "hàng giả"))
			}
		}
		// The walk-up's linkset is the GTIN's, and valid.
		ls := checkLinkset(t, ds.get(t, "/01/"+lycheeGTIN+"/10/FAKE123?linkType=linkset").body)
		if ls["anchor"] != ds.url+"/01/"+lycheeGTIN {
			t.Errorf("walk-up anchor %q", ls["anchor"])
		}
		// Link types only the lot has are not there for a walk-up.
		if r := ds.get(t, "/01/"+lycheeGTIN+"/10/FAKE123?linkType=gs1:traceability"); r.status != http.StatusNotFound {
			t.Errorf("walk-up traceability: %d", r.status)
		}
		if r := ds.get(t, "/01/"+lycheeGTIN+"/10/FAKE123", "Accept: application/json"); r.status != http.StatusNotFound || !strings.Contains(r.body, "unknown_lot") {
			t.Errorf("json 404: %d %s", r.status, r.body)
		}
	})

	t.Run("unknown GTIN is a 404 page that warns of counterfeits", func(t *testing.T) {
		for _, p := range []string{"/01/" + unknownGTIN + "/10/FAKE123", "/01/" + unknownGTIN, "/product/01/" + unknownGTIN, "/lot/01/" + lycheeGTIN + "/10/FAKE123"} {
			r := ds.get(t, p)
			if r.status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, r.status)
				continue
			}
			mustContain(t, p, r.body, "Không tìm thấy sản phẩm", "Sản phẩm có thể là hàng giả", `role="alert"`)
		}
		en := ds.get(t, "/01/"+unknownGTIN+"/10/FAKE123", "Accept-Language: en")
		mustContain(t, "404 page (en)", en.body, "Product not found", "may be counterfeit")
		if r := ds.get(t, "/01/"+unknownGTIN+"/10/FAKE123", "Accept: application/json"); r.status != http.StatusNotFound || !strings.Contains(r.body, "unknown_lot") {
			t.Errorf("json 404: %d %s", r.status, r.body)
		}
	})

	t.Run("HEAD, OPTIONS and CORS", func(t *testing.T) {
		r := ds.do(t, http.MethodHead, lycheePage)
		if r.status != http.StatusOK || r.body != "" || r.header.Get("ETag") == "" {
			t.Errorf("HEAD: %d %q", r.status, r.body)
		}
		r = ds.do(t, http.MethodOptions, lycheePath)
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("OPTIONS: %d %v", r.status, r.header)
		}
		// The preflight names the linkset too (GS1's conformance suite
		// reads the Link header from an OPTIONS request).
		if want := "<" + ds.url + lycheePath + `?linkType=linkset>; rel="linkset"; type="application/linkset+json"`; r.header.Get("Link") != want {
			t.Errorf("OPTIONS Link: %q, want %q", r.header.Get("Link"), want)
		}
		if r = ds.do(t, http.MethodOptions, "/01/123"); r.status != http.StatusNoContent || r.header.Get("Link") != "" {
			t.Errorf("OPTIONS of an invalid Digital Link: %d, Link %q", r.status, r.header.Get("Link"))
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
		for _, l := range demo.Lots() {
			r := ds.get(t, "/lot/01/"+l.GTIN+"/10/"+l.Lot)
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

// unknownGTIN is a valid GTIN (check digit included) with no lot on the
// demo ledger.
const unknownGTIN = "08936000999995"

// GS1's linkset schema (gs1-linkset-schema.json, JSON Schema draft 7), as
// rules: a link relation is a lowercase registered name or an http(s) URI;
// every target has href and title and nothing beyond the listed members.
var (
	linkRelName  = regexp.MustCompile(`^[a-z-]+$|^https?://[a-zA-Z0-9./]+$`)
	linkHref     = regexp.MustCompile(`^https?://[a-zA-Z0-9./]+`)
	linkHreflang = regexp.MustCompile(`^\w{2}$|^\w{2}-\w{2}$`)
	linkType     = regexp.MustCompile(`\w+/[-+.\w]+`)
)

// checkLinkset validates a linkset against GS1's schema and returns its
// one link context.
func checkLinkset(tb testing.TB, body string) map[string]any {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		tb.Fatalf("linkset: %v: %s", err, body)
	}
	set, ok := doc["linkset"].([]any)
	if len(doc) != 1 || !ok || len(set) != 1 {
		tb.Fatalf("linkset: want {\"linkset\": [one context]}: %s", body)
	}
	ctx, ok := set[0].(map[string]any)
	if !ok {
		tb.Fatalf("linkset context is not an object: %s", body)
	}
	if a, _ := ctx["anchor"].(string); !linkHref.MatchString(a) {
		tb.Errorf("anchor %q", ctx["anchor"])
	}
	if d, ok := ctx["itemDescription"].(string); !ok || d == "" {
		tb.Errorf("itemDescription missing: %s", body)
	}
	for rel, v := range ctx {
		if rel == "anchor" || rel == "itemDescription" {
			continue
		}
		if !linkRelName.MatchString(rel) {
			tb.Errorf("link relation %q does not match the schema", rel)
		}
		targets, ok := v.([]any)
		if !ok || len(targets) == 0 {
			tb.Errorf("%s: targets %v", rel, v)
			continue
		}
		for _, t := range targets {
			o, _ := t.(map[string]any)
			if h, _ := o["href"].(string); !linkHref.MatchString(h) {
				tb.Errorf("%s: href %v", rel, o["href"])
			}
			if ti, ok := o["title"].(string); !ok || ti == "" {
				tb.Errorf("%s: title missing", rel)
			}
			for k, x := range o {
				switch k {
				case "href", "title", "context", "fwqs", "public":
				case "type":
					if s, _ := x.(string); !linkType.MatchString(s) {
						tb.Errorf("%s: type %v", rel, x)
					}
				case "hreflang":
					l, _ := x.([]any)
					for _, h := range l {
						if s, _ := h.(string); !linkHreflang.MatchString(s) {
							tb.Errorf("%s: hreflang %v", rel, h)
						}
					}
				default:
					tb.Errorf("%s: member %q not allowed by the schema", rel, k)
				}
			}
		}
		if rel == "https://gs1.org/voc/defaultLink" {
			// GS1: exactly one default link, a title and no other attributes.
			if o, _ := targets[0].(map[string]any); len(targets) != 1 || len(o) != 2 {
				tb.Errorf("default link %v: want one target with href and title only", targets)
			}
		}
	}
	return ctx
}
