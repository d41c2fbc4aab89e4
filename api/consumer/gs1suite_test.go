package consumer

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/traceledger/traceledger/testnet/harness"
)

// gs1SuiteDir holds GS1's resolver conformance test suite (upstream/, as
// published) and the local files that replace what it loads from the
// internet (local/). README.md there says where each file comes from.
const gs1SuiteDir = "../../testdata/gs1-resolver-suite"

// gs1SuitePatch is one rewrite of an upstream file: the suite is written
// for a public HTTPS resolver and loads schemas, the link-type list and its
// PHP helper from the internet. Each old string must occur in the file
// (want times), so an upstream change cannot slip past the rewrite.
type gs1SuitePatch struct {
	file, old, new string
	want           int
	why            string
}

var gs1SuitePatches = []gs1SuitePatch{
	{"GS1DigitalLinkResolverTestSuite.js", "const testUri = 'https://philarcher.org/gs1/tester.php';", "const testUri = '/tester.php';", 1,
		"the PHP helper is served from the page's own (loopback) server"},
	{"GS1DigitalLinkResolverTestSuite.js", "'https://ref.gs1.org/standards/resolver/description-file-schema'", "'/description-file-schema.json'", 1,
		"local copy of the resolver description file schema"},
	{"GS1DigitalLinkResolverTestSuite.js", "'https://gs1.github.io/linkset/gs1-linkset-schema.json'", "'/gs1-linkset-schema.json'", 1,
		"local copy of GS1's linkset schema"},
	{"GS1DigitalLinkResolverTestSuite.js", "'https://ref.gs1.org/voc/data/linktypes'", "'/linktypes.json'", 2,
		"local list of GS1 Web Vocabulary link types"},
	{"GS1DigitalLinkResolverTestSuite.js", "'https://' + domain + '/.well-known/gs1resolver'", "'http://' + domain + '/.well-known/gs1resolver'", 1,
		"the resolver under test speaks plain HTTP on loopback"},
	{"GS1DigitalLinkResolverTestSuite.js", "encodeURIComponent(`https://${domain}`)", "encodeURIComponent(`http://${domain}`)", 1,
		"the resolver under test speaks plain HTTP on loopback"},
	{"tester.php", "if (!str_starts_with($result['testVal'], 'https://'))", "if (!str_starts_with($result['testVal'], 'https://') && !str_starts_with($result['testVal'], 'http://127.0.0.1:'))", 1,
		"the helper also probes the plain-HTTP resolver on loopback (and nothing else over HTTP)"},
}

// gs1SuiteExpected is the status every check of the suite must end with on
// the demo lot's Digital Link, by the id the suite gives it. A check that
// cannot pass against a plain-HTTP server on 127.0.0.1 is listed with the
// status it gets and why (see also the table in README.md there):
//
//	isHttps  warn  the Digital Link under test is http://, not https://
//	tlsOK    fail  nothing answers TLS on the loopback port
//
// Every other check must pass, and the set of checks must be exactly this
// one: a new check, or a check that changes status, fails the test.
var gs1SuiteExpected = map[string]string{
	"isURL":                    "pass",
	"validDL":                  "pass",
	"isHttps":                  "warn",
	"plausibleDL":              "pass",
	"basicWalkUp":              "pass",
	"tlsOK":                    "fail",
	"rdFile":                   "pass",
	"httpVersion":              "pass",
	"corsCheck":                "pass",
	"linkOnRedirect":           "pass",
	"legacyLinkHeaders":        "pass",
	"methodsCheck":             "pass",
	"reportWith400":            "pass",
	"noErrorWith200":           "pass",
	"trailingSlash":            "pass",
	"qsPassedOn":               "pass",
	"ltLinksetNoRedirect":      "pass",
	"ltAcceptHeader":           "pass",
	"validLinkset":             "pass",
	"linksetJsonldCheck":       "pass",
	"declaredContentType":      "pass",
	"defaultLinkExists":        "pass",
	"singleDefaulLink":         "pass",
	"defaultTarget":            "pass",
	"linkTypesDefined":         "pass",
	"specificLinkTypeNotFound": "pass",
	// One check per link type of the demo lot's linkset: ?linkType= must
	// redirect to the target the linkset gives.
	"loFordescribedby":          "pass",
	"loForgs1certificationInfo": "pass",
	"loForgs1pip":               "pass",
	"loForgs1recallStatus":      "pass",
	"loForgs1traceability":      "pass",
}

// TestGS1ResolverSuite runs GS1's resolver conformance test suite (the
// JavaScript that ref.gs1.org hosts, with its PHP helper) in headless
// Chromium against a real node with the demo data, on loopback only, and
// reads each check's result from the page.
func TestGS1ResolverSuite(t *testing.T) {
	bin := harness.FindBrowser()
	php, _ := exec.LookPath("php")
	if bin == "" || php == "" {
		msg := "GS1 resolver suite needs chromium (or chromium-browser, google-chrome) and php on PATH; Debian: apt-get install -y chromium php-cli php-curl (.ci/run does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (with CI set this test fails instead)")
	}
	if out, err := exec.Command(php, "-r", "exit(function_exists('curl_init') ? 0 : 1);").CombinedOutput(); err != nil {
		msg := "php has no curl extension, which the suite's helper needs; Debian: apt-get install -y php-curl"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (%v %s)", msg, err, out)
		}
		t.Skip(msg)
	}

	root := gs1SuiteRoot(t)
	ds := startDemo(t, nil)
	phpURL := startPHP(t, php, root)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 45*time.Second)
	defer cancel()

	// Every request the page makes must stay on loopback: the suite is
	// hermetic only as long as the rewrites above cover what it loads.
	var (
		mu       sync.Mutex
		offLoop  []string
		requests int
	)
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			defer mu.Unlock()
			requests++
			if u, err := url.Parse(e.Request.URL); err != nil || (u.Hostname() != "127.0.0.1" && u.Scheme != "data") {
				offLoop = append(offLoop, e.Request.URL)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	dl := ds.url + lycheePath
	// testDL does not wait for the TLS and description-file checks, which
	// it starts on their own; wait for the description file to be settled
	// (its check passes, or its fetch has had its time) before reading.
	run := fmt.Sprintf(`(async () => {
		await testDL(%q);
		for (let i = 0; i < 50; i++) {
			const dd = document.getElementById('rdFiledd');
			if (dd && dd.className !== 'fail') break;
			await new Promise((r) => setTimeout(r, 100));
		}
		const out = {};
		for (const dd of document.querySelectorAll('#testResults dd')) {
			out[dd.id.replace(/dd$/, '')] = dd.className + '\t' + dd.textContent;
		}
		return out;
	})()`, dl)
	if err := chromedp.Do(ctx, chromedp.Navigate(phpURL+"/index.html"), chromedp.WaitReady(chromedp.CSS("#gs1ResolverTests"))); err != nil {
		t.Fatalf("open the suite: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](run, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("run the suite on %s: %v", dl, err)
	}

	mu.Lock()
	t.Logf("the page made %d requests, all on loopback unless listed below", requests)
	if requests == 0 || len(offLoop) > 0 {
		t.Errorf("the page made %d requests; off loopback: %q", requests, offLoop)
	}
	mu.Unlock()

	ids := make([]string, 0, len(got))
	for id := range got {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		status, msg, _ := strings.Cut(got[id], "\t")
		want, ok := gs1SuiteExpected[id]
		switch {
		case !ok:
			t.Errorf("suite check %s (not expected): %s: %s", id, status, msg)
		case status != want:
			t.Errorf("suite check %s: %s, want %s: %s", id, status, want, msg)
		default:
			t.Logf("suite check %s: %s: %s", id, status, msg)
		}
	}
	for id, want := range gs1SuiteExpected {
		if _, ok := got[id]; !ok {
			t.Errorf("suite check %s (want %s) did not run", id, want)
		}
	}
}

// gs1SuiteRoot lays out the suite's document root in a temporary directory:
// the upstream files with gs1SuitePatches applied, and the local files.
func gs1SuiteRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"upstream", "local"} {
		entries, err := os.ReadDir(filepath.Join(gs1SuiteDir, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(gs1SuiteDir, dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			for _, p := range gs1SuitePatches {
				if p.file != e.Name() || dir != "upstream" {
					continue
				}
				if n := strings.Count(s, p.old); n != p.want {
					t.Fatalf("patch of %s (%s): %q occurs %d times, want %d", p.file, p.why, p.old, n, p.want)
				}
				s = strings.ReplaceAll(s, p.old, p.new)
			}
			if err := os.WriteFile(filepath.Join(root, e.Name()), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// startPHP serves root with PHP's built-in web server on a free loopback
// port, and stops it when the test ends.
func startPHP(t *testing.T, php, root string) string {
	t.Helper()
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(php, "-S", addr, "-t", root)
	cmd.Env = append(os.Environ(), "PHP_CLI_SERVER_WORKERS=2")
	logPath := filepath.Join(t.TempDir(), "php.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("php -S log:\n%s", b)
			}
		}
	})
	base := "http://" + addr
	harness.Wait(t, 10*time.Second, "php -S on "+addr, func() bool {
		resp, err := http.Get(base + "/index.html")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}
