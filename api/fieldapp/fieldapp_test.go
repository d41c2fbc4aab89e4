package fieldapp

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
)

func newTestApp(t *testing.T, cfg Config) (*App, http.Handler) {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := mux.NewRouter()
	r.UseEncodedPath()
	a.Mount(r)
	return a, r
}

func get(h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestAssets(t *testing.T) {
	_, h := newTestApp(t, Config{})
	for path, ctype := range map[string]string{
		"/app/":                     "text/html; charset=utf-8",
		"/app/app.js":               "text/javascript; charset=utf-8",
		"/app/sw.js":                "text/javascript; charset=utf-8",
		"/app/app.css":              "text/css; charset=utf-8",
		"/app/manifest.webmanifest": "application/manifest+json",
		"/app/icon.svg":             "image/svg+xml",
	} {
		w := get(h, path)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != ctype {
			t.Errorf("%s: %d %q, want 200 %q", path, w.Code, w.Header().Get("Content-Type"), ctype)
		}
		if w.Header().Get("Cache-Control") != "no-cache" || w.Header().Get("ETag") == "" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: headers %v", path, w.Header())
		}
	}
	if w := get(h, "/app/nope.js"); w.Code != http.StatusNotFound {
		t.Errorf("unknown asset: %d, want 404", w.Code)
	}
	if w := get(h, "/app"); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/app/" {
		t.Errorf("/app: %d %s", w.Code, w.Header().Get("Location"))
	}
}

func TestAssetGzipAndRevalidation(t *testing.T) {
	_, h := newTestApp(t, Config{})
	plain := get(h, "/app/signer.js")
	z := get(h, "/app/signer.js", "Accept-Encoding", "br, gzip;q=0.8")
	if z.Header().Get("Content-Encoding") != "gzip" || z.Body.Len() >= plain.Body.Len() {
		t.Fatalf("gzip: encoding %q, %d bytes vs %d plain", z.Header().Get("Content-Encoding"), z.Body.Len(), plain.Body.Len())
	}
	zr, err := gzip.NewReader(z.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); !bytes.Equal(b, plain.Body.Bytes()) {
		t.Error("the gzipped body is not the plain body")
	}
	if w := get(h, "/app/signer.js", "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it (q=0)")
	}
	if w := get(h, "/app/signer.js", "If-None-Match", plain.Header().Get("ETag")); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("revalidation with the ETag: %d, %d bytes; want 304 and nothing", w.Code, w.Body.Len())
	}
	if w := get(h, "/app/signer.js", "If-None-Match", `"other"`); w.Code != http.StatusOK {
		t.Errorf("another ETag: %d, want 200", w.Code)
	}
}

// The service worker carries the digest of the other assets, so that a
// change to any of them is a new worker (and a new cache).
func TestServiceWorkerVersion(t *testing.T) {
	a, h := newTestApp(t, Config{})
	body := get(h, "/app/sw.js").Body.String()
	if strings.Contains(body, versionMark) || !strings.Contains(body, "'"+a.Version()+"'") || len(a.Version()) != 16 {
		t.Errorf("sw.js does not carry the version %q", a.Version())
	}
	// The shell the worker caches must exist.
	for _, f := range shellFiles {
		if !strings.Contains(body, "'"+f+"'") {
			t.Errorf("sw.js does not cache %s", f)
		}
		if _, _, ok := a.Size(f); !ok {
			t.Errorf("sw.js caches %s, which is not served", f)
		}
	}
}

// Nothing in the app loads from another origin.
func TestNoOtherOrigins(t *testing.T) {
	a, _ := newTestApp(t, Config{})
	for name, as := range a.assets {
		for _, bad := range []string{"http://", "https://", "//cdn", "//fonts"} {
			if bytes.Contains(as.body, []byte("src=\""+bad)) || bytes.Contains(as.body, []byte("href=\""+bad)) ||
				bytes.Contains(as.body, []byte("url("+bad)) || bytes.Contains(as.body, []byte("import('"+bad)) {
				t.Errorf("%s refers to another origin (%s)", name, bad)
			}
		}
	}
}

func TestAddressQR(t *testing.T) {
	_, h := newTestApp(t, Config{})
	addr := ledger.AddressOf(demo.Key("qr")).Hex()
	w := get(h, "/app/qr/"+strings.ToLower(addr)+".svg")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(w.Body.String(), "<svg") {
		t.Fatalf("QR: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	for path, want := range map[string]int{
		"/app/qr/0x1234.svg":             http.StatusBadRequest,
		"/app/qr/" + addr + ".png":       http.StatusNotFound,
		"/app/qr/" + addr[:41] + "Z.svg": http.StatusBadRequest,
		"/app/qr/" + strings.ToUpper(addr[:2]) + strings.ToUpper(addr[2:10]) + strings.ToLower(addr[10:]) + ".svg": http.StatusBadRequest, // bad EIP-55
	} {
		if w := get(h, path); w.Code != want {
			t.Errorf("%s: %d, want %d", path, w.Code, want)
		}
	}
}

func TestLanding(t *testing.T) {
	_, h := newTestApp(t, Config{OperatorName: "Sở Công Thương <Bắc Giang>", OperatorURL: "https://sct.example.vn/"})
	w := get(h, "/")
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "Sở Công Thương &lt;Bắc Giang&gt;") || !strings.Contains(body, `href="https://sct.example.vn/"`) || !strings.Contains(body, `href="/app/"`) {
		t.Fatalf("landing page: %d\n%s", w.Code, body)
	}
	w = get(h, "/?code="+"https://id.example.org/01/8936000000127/10/LN2606A?x=1")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/01/08936000000127/10/LN2606A" {
		t.Errorf("a Digital Link: %d %s", w.Code, w.Header().Get("Location"))
	}
	w = get(h, "/?code=%3Cscript%3E")
	if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "<script>") || !strings.Contains(w.Body.String(), `id="error"`) {
		t.Errorf("a bad code: %d, escaped=%v", w.Code, !strings.Contains(w.Body.String(), "<script>"))
	}
	if _, err := New(Config{OperatorURL: "javascript:alert(1)"}); err == nil {
		t.Error("a javascript: operator URL was accepted")
	}
}

func TestLotPath(t *testing.T) {
	for in, want := range map[string]string{
		"08936000000127/LN2606A":                          "/01/08936000000127/10/LN2606A",
		" 8936000000127  LN2606A ":                        "/01/08936000000127/10/LN2606A",
		"https://example.org/01/08936000000127/10/A%2FB":  "/01/08936000000127/10/A%2FB",
		"/01/08936000000127/10/LN2606A/21/7":              "/01/08936000000127/10/LN2606A",
		"HTTPS://Example.org/x/01/08936000000127/10/LN-1": "/01/08936000000127/10/LN-1",
	} {
		if got, err := LotPath(strings.TrimSpace(in)); err != nil || got != want {
			t.Errorf("LotPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"08936000000128/LN2606A", "08936000000127/LÔ1", "LN2606A", "https://example.org/01/08936000000127", "ftp://x/01/08936000000127/10/A"} {
		if _, err := LotPath(in); !errors.Is(err, errCode) {
			t.Errorf("LotPath(%q): %v, want errCode", in, err)
		}
	}
}

func TestBackupRoundTrip(t *testing.T) {
	k := demo.Key("backup")
	blob, err := SealBackup(k, "123456", minIterations)
	if err != nil {
		t.Fatal(err)
	}
	if !IsBackup(blob) || IsBackup([]byte(`{"version":3}`)) || IsBackup([]byte("abcdef")) {
		t.Error("IsBackup does not tell backups from other key files")
	}
	got, err := OpenBackup(blob, "123456")
	if err != nil || ledger.AddressOf(got) != ledger.AddressOf(k) {
		t.Fatalf("open: %v", err)
	}
	if _, err := OpenBackup(blob, "654321"); !errors.Is(err, ErrWrongPIN) {
		t.Errorf("wrong PIN: %v", err)
	}
	// The address is authenticated: a file naming another address does not open.
	other := bytes.Replace(blob, []byte(ledger.AddressOf(k).Hex()), []byte(ledger.AddressOf(demo.Key("x")).Hex()), 1)
	if _, err := OpenBackup(other, "123456"); !errors.Is(err, ErrWrongPIN) {
		t.Errorf("another address: %v", err)
	}
	for name, b := range map[string][]byte{
		"cheap kdf":   bytes.Replace(blob, []byte(`"iterations": 100000`), []byte(`"iterations": 1000`), 1),
		"costly kdf":  bytes.Replace(blob, []byte(`"iterations": 100000`), []byte(`"iterations": 2000000000`), 1),
		"other kdf":   bytes.Replace(blob, []byte(`"PBKDF2"`), []byte(`"scrypt"`), 1),
		"not json":    []byte("0123"),
		"bad base64":  bytes.Replace(blob, []byte(`"ciphertext": "`), []byte(`"ciphertext": "!!`), 1),
		"next format": bytes.Replace(blob, []byte(BackupFormat), []byte("traceledger-key-backup/2"), 1),
	} {
		if _, err := OpenBackup(b, "123456"); !errors.Is(err, ErrNotBackup) {
			t.Errorf("%s: %v, want ErrNotBackup", name, err)
		}
	}
	if _, err := SealBackup(k, "123456", 10); err == nil {
		t.Error("SealBackup accepted 10 iterations")
	}
}

// shellFiles is what the service worker caches: the first load.
var shellFiles = []string{"index.html", "app.css", "app.js", "signer.js", "checks.js", "store.js", "i18n.js", "scan.js", "manifest.webmanifest", "icon.svg"}

// TestPageWeight reports the bytes of the app shell and of the signer as
// sent with gzip, and holds the shell to its budget of 150 KB.
func TestPageWeight(t *testing.T) {
	a, _ := newTestApp(t, Config{})
	var gz, plain int
	for _, f := range shellFiles {
		g, p, ok := a.Size(f)
		if !ok {
			t.Fatalf("%s is not served", f)
		}
		gz, plain = gz+g, plain+p
	}
	sg, sp, _ := a.Size("signer.js")
	wg, wp, _ := a.Size("sw.js")
	t.Logf("app shell (%d files): %d bytes gzipped (%d plain); signer.js %d gzipped (%d plain); sw.js %d gzipped (%d plain)", len(shellFiles), gz, plain, sg, sp, wg, wp)
	if gz > 150_000 {
		t.Errorf("the app shell is %d bytes gzipped, over its 150 KB budget", gz)
	}
}
