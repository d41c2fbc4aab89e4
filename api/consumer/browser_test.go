package consumer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/traceledger/traceledger/testnet/harness"
)

// artifactsDir is where browser screenshots go: testdata/artifacts at the
// repository root, ignored by git, kept by CI as artefacts.
const artifactsDir = "../../testdata/artifacts"

// TestBrowser drives headless Chromium at a phone's viewport (390×844 CSS
// pixels, an iPhone 12–15) through the pages a shopper meets: the
// Vietnamese page, its English switch, a recalled lot and a counterfeit
// code. It saves screenshots under testdata/artifacts/.
func TestBrowser(t *testing.T) {
	bin := harness.RequireBrowser(t)
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ds := startDemo(t, nil)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
		// A phone set to Vietnamese, as most shoppers' are.
		chromedp.Flag("lang", "vi-VN"),
		chromedp.Flag("accept-lang", "vi-VN,vi"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	save := func(name string, png []byte) {
		path := filepath.Join(artifactsDir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Errorf("save screenshot: %v", err)
			return
		}
		t.Logf("screenshot: testdata/artifacts/%s (%d bytes)", name, len(png))
	}

	// run runs one action and records its error; after the first error
	// the rest are skipped.
	var runErr error
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		if runErr == nil {
			if err := chromedp.Do(ctx, steps...); err != nil {
				runErr = fmt.Errorf("%s: %w", what, err)
			}
		}
	}
	text := func(sel string) string {
		if runErr != nil {
			return ""
		}
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			runErr = fmt.Errorf("text of %s: %w", sel, err)
		}
		return s
	}
	shot := func(full bool) []byte {
		if runErr != nil {
			return nil
		}
		a := chromedp.CaptureScreenshot()
		if full {
			a = chromedp.FullScreenshot(100)
		}
		b, err := chromedp.Run(ctx, a)
		if err != nil {
			runErr = fmt.Errorf("screenshot: %w", err)
		}
		return b
	}
	eval := func(js string) any {
		if runErr != nil {
			return nil
		}
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		if err != nil {
			runErr = fmt.Errorf("evaluate %s: %w", js, err)
		}
		return v
	}

	do("viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))

	// The Vietnamese page, by default, reached as a scan reaches it: the
	// Digital Link in the QR code redirects to the page.
	do("open the page", chromedp.Navigate(ds.url+lycheePath), chromedp.WaitVisible(chromedp.CSS("#journey")))
	landed := eval(`location.pathname`)
	title, journey := text("h1"), text("#journey h2")
	overflow := eval(`document.documentElement.scrollWidth - window.innerWidth`)
	viBody := eval(`document.body.innerText`)
	ogTitle := eval(`(document.querySelector('meta[property="og:title"]') || {}).content || ""`)
	detailsClosed := eval(`!!document.querySelector('#verify details, details') && !document.querySelector('#verify details, details').open`)
	viShot := shot(true)

	// The visible language switch.
	do("switch to English", chromedp.Click(chromedp.CSS("header a")), chromedp.WaitVisible(chromedp.CSS(`html[lang="en"] #journey`)))
	enTitle, enJourney := text("h1"), text("#journey h2")
	enShot := shot(false)

	// A recalled lot: the banner fills the first screen.
	do("open the recalled lot", chromedp.Navigate(ds.url+recalledPath), chromedp.WaitVisible(chromedp.CSS("#recall")))
	recallHead := text("#recall h2")
	recallTop := eval(`document.getElementById("recall").getBoundingClientRect().top`)
	recallBG := eval(`getComputedStyle(document.getElementById("recall")).backgroundColor`)
	recallShot := shot(false)

	// A lot code the ledger never saw, of a GTIN it knows: the product
	// page, with the warning first.
	do("open an unknown code", chromedp.Navigate(ds.url+"/01/"+lycheeGTIN+"/10/FAKE2606"), chromedp.WaitVisible(chromedp.CSS("#warning")))
	warning := text("#warning")
	fakeShot := shot(false)

	if runErr != nil {
		t.Fatalf("chromium: %v", runErr)
	}
	save("consumer-page-vi.png", viShot)
	save("consumer-page-en.png", enShot)
	save("consumer-recall-vi.png", recallShot)
	save("consumer-counterfeit-vi.png", fakeShot)

	if landed != any(lycheePage) {
		t.Errorf("the Digital Link led to %v, want the page %s", landed, lycheePage)
	}
	if title != "Vải thiều Lục Ngạn hộp 250 g" || journey != "Hành trình sản phẩm" {
		t.Errorf("Vietnamese page shows %q / %q", title, journey)
	}
	// What a shopper reads: the zone named once, who holds the lot, the
	// verdict in plain words with the technical terms folded away, and a
	// preview for a shared link.
	body, _ := viBody.(string)
	if n := strings.Count(body, "giờ Việt Nam"); n != 1 {
		t.Errorf("the page names Vietnam's time %d times, want once", n)
	}
	for _, want := range []string{"Đơn vị đang giữ", "Mọi chữ ký đều hợp lệ", "chi tiết"} {
		if !strings.Contains(body, want) {
			t.Errorf("the Vietnamese page lacks %q", want)
		}
	}
	if strings.Contains(body, "Hiện do") {
		t.Error(`the page still says "Hiện do"`)
	}
	if ogTitle != any("Vải thiều Lục Ngạn hộp 250 g") {
		t.Errorf("og:title %q", ogTitle)
	}
	if detailsClosed != any(true) {
		t.Errorf("the technical details are not folded away (%v)", detailsClosed)
	}
	if o, ok := overflow.(float64); !ok || o > 0 {
		t.Errorf("the page is %v px wider than a 390 px phone screen", overflow)
	}
	if enTitle != "Luc Ngan lychee, 250 g box" || enJourney != "Journey of this product" {
		t.Errorf("English page shows %q / %q", enTitle, enJourney)
	}
	if !strings.Contains(recallHead, "CẢNH BÁO: SẢN PHẨM BỊ THU HỒI") {
		t.Errorf("recall banner reads %q", recallHead)
	}
	if top, ok := recallTop.(float64); !ok || top < 0 || top > 200 {
		t.Errorf("recall banner starts %v px down the screen, want it at the top", recallTop)
	}
	if recallBG != any("rgb(183, 28, 28)") {
		t.Errorf("recall banner background %q, want red", recallBG)
	}
	if !strings.Contains(warning, "Số lô FAKE2606 không có trong sổ cái") || !strings.Contains(warning, "Sản phẩm có thể là hàng giả") {
		t.Errorf("unknown code warning reads %q", warning)
	}
}
