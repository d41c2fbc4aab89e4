package consumer

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
)

// stubCheckpoints is a CheckpointInfo with fixed answers.
type stubCheckpoints struct {
	size          uint64
	signed, total int
	ok            bool
}

func (s *stubCheckpoints) Latest() (uint64, int, int, bool) { return s.size, s.signed, s.total, s.ok }

func TestETagAndConditionalRequests(t *testing.T) {
	cp := &stubCheckpoints{}
	ds := startDemo(t, func(c *Config) { c.Checkpoints = cp })

	first := ds.get(t, lycheePage)
	etag := first.header.Get("ETag")
	if first.status != http.StatusOK || etag == "" || first.header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("%d ETag %q Cache-Control %q", first.status, etag, first.header.Get("Cache-Control"))
	}
	if v := first.header.Get("Vary"); !strings.Contains(v, "Accept-Language") || !strings.Contains(v, "Accept") {
		t.Errorf("Vary %q", v)
	}
	// Revalidation: 304 without a body, for the exact tag, a list, or W/.
	for _, inm := range []string{etag, `"nope", ` + etag, "W/" + etag} {
		r := ds.get(t, lycheePage, "If-None-Match: "+inm)
		if r.status != http.StatusNotModified || r.body != "" || r.header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d %q", inm, r.status, r.body)
		}
	}
	if r := ds.get(t, lycheePage, `If-None-Match: "other"`); r.status != http.StatusOK {
		t.Errorf("non-matching tag: %d", r.status)
	}
	// gzip for clients that accept it: its own tag, the same page.
	gz := ds.get(t, lycheePage, "Accept-Encoding: gzip")
	if gz.header.Get("Content-Encoding") != "gzip" || gz.header.Get("ETag") != gzipETag(etag) {
		t.Errorf("gzip answer: encoding %q, ETag %q", gz.header.Get("Content-Encoding"), gz.header.Get("ETag"))
	}
	zr, err := gzip.NewReader(strings.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || string(plain) != first.body {
		t.Errorf("gzip body differs from the plain page (%v)", err)
	}
	t.Logf("page: %d bytes, %d gzipped", len(first.body), len(gz.body))
	if r := ds.get(t, lycheePage, "Accept-Encoding: gzip", "If-None-Match: "+gzipETag(etag)); r.status != http.StatusNotModified {
		t.Errorf("gzip revalidation: %d", r.status)
	}
	if r := ds.get(t, lycheePage, "Accept-Encoding: gzip;q=0"); r.header.Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it")
	}

	// The language is part of the tag.
	en := ds.get(t, lycheePage, "Accept-Language: en")
	if en.header.Get("ETag") == etag {
		t.Error("vi and en pages share an ETag")
	}
	if r := ds.get(t, lycheePage, "Accept-Language: en", "If-None-Match: "+etag); r.status != http.StatusOK {
		t.Errorf("the vi tag revalidated the en page: %d", r.status)
	}
	// JSON has its own tag and revalidates too.
	js := ds.get(t, lycheePath, "Accept: application/json")
	if js.header.Get("ETag") == "" || js.header.Get("ETag") == etag {
		t.Errorf("json ETag %q", js.header.Get("ETag"))
	}
	if r := ds.get(t, lycheePath, "Accept: application/json", "If-None-Match: "+js.header.Get("ETag")); r.status != http.StatusNotModified {
		t.Errorf("json revalidation: %d", r.status)
	}

	// A checkpoint covering the lot changes the verification panel, so
	// the tag.
	cp.size, cp.signed, cp.total, cp.ok = 1<<40, 2, 3, true
	covered := ds.get(t, lycheePage)
	if covered.header.Get("ETag") == etag {
		t.Error("checkpoint state is not part of the ETag")
	}
	mustContain(t, "page with a checkpoint", covered.body, "được 2/3 nút ký")
	cp.size = 1
	mustContain(t, "page with an old checkpoint", ds.get(t, lycheePage).body, "chưa nằm trong checkpoint")
	cp.ok = false
	if r := ds.get(t, lycheePage, "If-None-Match: "+etag); r.status != http.StatusNotModified {
		t.Errorf("back to no checkpoint: %d", r.status)
	}

	// A new entry on the lot changes the page and its tag.
	env, err := demo.SignRecord(demo.Key("cert"), map[string]any{
		"type": "inspect", "id": "consumer-test/inspect-1", "time": "2026-07-15T09:00:00+07:00",
		"signer": demoAddr("cert"), "lot": map[string]string{"gtin": lycheeGTIN, "lot": lycheeLot}, "result": "pass",
		"certificate": map[string]any{"scheme": "Hữu cơ (organic)", "number": "ORG-2026-77", "valid_from": "2026-07-01", "valid_until": "2027-06-30"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ds.submit(t, env)
	after := ds.get(t, lycheePage, "If-None-Match: "+etag)
	if after.status != http.StatusOK || after.header.Get("ETag") == etag {
		t.Fatalf("after a new entry: %d, ETag %q (was %q)", after.status, after.header.Get("ETag"), etag)
	}
	mustContain(t, "page after a new inspection", after.body, "ORG-2026-77", "Đã kiểm tra lại 10/10 chữ ký số")
}

// demoAddr is the address of a demo participant.
func demoAddr(label string) string { return ledger.AddressOf(demo.Key(label)).Hex() }

func lotRef(gtin, lot string) ledger.LotRef { return ledger.LotRef{GTIN: gtin, Lot: lot} }

func TestBoundedCache(t *testing.T) {
	c := newBoundedCache[int, int](3)
	for i := 0; i < 5; i++ {
		c.put(i, i*10)
	}
	if c.len() != 3 {
		t.Fatalf("len %d, want 3", c.len())
	}
	for i := 0; i < 2; i++ {
		if _, ok := c.get(i); ok {
			t.Errorf("key %d should have been evicted first", i)
		}
	}
	if v, ok := c.get(4); !ok || v != 40 {
		t.Errorf("newest key: %d %v", v, ok)
	}
	// Updating a present key neither evicts nor reorders.
	c.update(2, func(old int, ok bool) int { return old + 1 })
	if v, _ := c.get(2); v != 21 || c.len() != 3 {
		t.Errorf("update: %d, len %d", v, c.len())
	}
}

func TestScanCounterAndLimiter(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)
	sc := newScanCounter(2)
	k := func(s string) serialKey { return serialKey{serial: s} }
	if r := sc.record(k("a"), t0); r.count != 1 || !r.first.Equal(t0) {
		t.Fatalf("first scan %+v", r)
	}
	if r := sc.record(k("a"), t0.Add(time.Hour)); r.count != 2 || !r.first.Equal(t0) {
		t.Fatalf("second scan %+v", r)
	}
	sc.record(k("b"), t0)
	sc.record(k("c"), t0) // evicts "a", the serial counted longest ago
	if r := sc.peek(k("a")); r.count != 0 {
		t.Errorf("evicted serial still counted: %+v", r)
	}

}

func TestSerialScans(t *testing.T) {
	// One client, a burst of 3 and no refill within the test: the fourth
	// scan is served but not counted. Threshold 2: the third scan warns.
	ds := startDemo(t, func(c *Config) {
		c.ScanThreshold, c.ScanBurst, c.ScanRate = 2, 3, 1e-9
	})
	path := lycheePage + "/21/SN0001"
	var last response
	for i := 1; i <= 4; i++ {
		last = ds.get(t, path)
		if last.status != http.StatusOK {
			t.Fatalf("scan %d: %d", i, last.status)
		}
		if cc := last.header.Get("Cache-Control"); cc != "private, no-cache" || last.header.Get("ETag") != "" {
			t.Errorf("serial page is cacheable by others: %q %q", cc, last.header.Get("ETag"))
		}
		want := i
		if i == 4 {
			want = 3 // rate limited: not counted
		}
		mustContain(t, fmt.Sprintf("scan %d", i), last.body, fmt.Sprintf("đã quét %d lần", want), "Quét lần đầu: 20/07/2026 16:00", "SN0001")
		if warned := strings.Contains(last.body, "Mã có thể đã bị sao chép"); warned != (want > 2) {
			t.Errorf("scan %d: copy warning %v", i, warned)
		}
	}
	mustContain(t, "rate-limited scan", last.body, "Lần quét này không được đếm")
	// Switching language is not a scan, nor is HEAD.
	ds.get(t, path+"?lang=en")
	ds.do(t, http.MethodHead, path)
	if c := ds.consumer.scans.peek(serialKey{lot: lotRef(lycheeGTIN, lycheeLot), serial: "SN0001"}); c.count != 3 {
		t.Errorf("count %d after language switch and HEAD, want 3", c.count)
	}
	// An unknown lot's serial is a 404 and never counted.
	if r := ds.get(t, "/lot/01/"+lycheeGTIN+"/10/NOPE/21/SN0001"); r.status != http.StatusNotFound {
		t.Errorf("unknown lot serial: %d", r.status)
	}
}

func TestParticipantReRegistration(t *testing.T) {
	// A clock the test moves: the page may show a participant's old name
	// for PartyRecheck after an admin re-registers it, not longer.
	var offset atomic.Int64
	clock := func() time.Time { return testClock().Add(time.Duration(offset.Load())) }
	ds := startDemo(t, func(c *Config) { c.Clock, c.PartyRecheck = clock, time.Minute })
	before := ds.get(t, lycheePage)
	mustContain(t, "page", before.body, "Siêu thị Hà Nội – Cầu Giấy")

	env, err := demo.SignRecord(ds.admin, map[string]any{
		"type": "participant", "id": "consumer-test/rename-shop", "time": "2026-07-16T08:00:00+07:00",
		"signer": ledger.AddressOf(ds.admin).Hex(), "address": demoAddr("shop-hn"), "name": "Siêu thị Xanh Cầu Giấy",
		"roles": []string{"retailer"}, "location": map[string]string{"name": "Quận Cầu Giấy", "province": "Hà Nội"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ds.submit(t, env)
	offset.Store(int64(2 * time.Minute))
	after := ds.get(t, lycheePage)
	mustContain(t, "page after re-registration", after.body, "Siêu thị Xanh Cầu Giấy")
	if after.header.Get("ETag") == before.header.Get("ETag") {
		t.Error("a re-registered participant did not change the ETag")
	}
}

// TestLongHistoryPage: a lot with more entries than a page shows is cut to
// its newest steps, and the page links to the lot's older entries.
func TestLongHistoryPage(t *testing.T) {
	ds := startDemo(t, nil)
	var envs []ledger.Envelope
	for i := range maxPageEntries {
		env, err := demo.SignRecord(demo.Key("cert"), map[string]any{
			"type": "inspect", "id": fmt.Sprintf("consumer-test/long-%d", i), "time": "2026-07-15T09:00:00+07:00",
			"signer": demoAddr("cert"), "lot": map[string]string{"gtin": lycheeGTIN, "lot": lycheeLot}, "result": "pass",
		})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	ds.submit(t, envs...)
	r := ds.get(t, lycheePage)
	if r.status != http.StatusOK {
		t.Fatalf("page: %d", r.status)
	}
	mustContain(t, "long page", r.body, "Lịch sử rất dài", "?before=", "Các bước cũ hơn")
}

// viewCounter counts the read transactions opened on a store that counts
// its changes (ledger.Versioned).
type viewCounter struct {
	ledger.Store
	views atomic.Int64
}

func (v *viewCounter) View(fn func(ledger.Reader) error) error {
	v.views.Add(1)
	return v.Store.View(fn)
}

func (v *viewCounter) Version() uint64 { return v.Store.(ledger.Versioned).Version() }

// TestLotModelFromMemoryWhileStoreUnchanged: while the store counts no
// change, a lot's page model comes from memory without a transaction;
// any write makes the next request look again (and find the same model
// when the lot did not change), and a new entry on the lot a new model.
func TestLotModelFromMemoryWhileStoreUnchanged(t *testing.T) {
	var vc *viewCounter
	ds := startDemo(t, func(c *Config) {
		vc = &viewCounter{Store: c.Store}
		c.Store = vc
	})
	ref := lotRef(lycheeGTIN, lycheeLot)
	first, err := ds.consumer.lotModel(ref)
	if err != nil {
		t.Fatal(err)
	}
	before := vc.views.Load()
	for range 5 {
		if m, err := ds.consumer.lotModel(ref); err != nil || m != first {
			t.Fatalf("unchanged store: model %p, %v; want %p", m, err, first)
		}
	}
	if n := vc.views.Load() - before; n != 0 {
		t.Errorf("unchanged store: %d read transactions, want none", n)
	}
	// A write that changes no lot: one look, the same model.
	if err := ds.cluster.Store().Update(func(w ledger.Writer) error { return ledger.SetAppliedIndex(w, 1<<40) }); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if m, err := ds.consumer.lotModel(ref); err != nil || m != first {
			t.Fatalf("after an unrelated write: model %p, %v; want %p", m, err, first)
		}
	}
	if n := vc.views.Load() - before; n != 1 {
		t.Errorf("after an unrelated write: %d read transactions, want 1", n)
	}
	env, err := demo.SignRecord(demo.Key("cert"), map[string]any{
		"type": "inspect", "id": "consumer-test/inspect-version", "time": "2026-07-15T09:00:00+07:00",
		"signer": demoAddr("cert"), "lot": map[string]string{"gtin": lycheeGTIN, "lot": lycheeLot}, "result": "pass",
	})
	if err != nil {
		t.Fatal(err)
	}
	ds.submit(t, env)
	m, err := ds.consumer.lotModel(ref)
	if err != nil || m == first {
		t.Fatalf("after a new entry on the lot: model %p, %v; want a new one", m, err)
	}
}
