package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
)

// getWith sends a GET with extra header lines ("Name: value"). Unless
// they say otherwise, it asks for the identity encoding, so that bodies
// and tags are those of the plain representation.
func (f *fixture) getWith(path string, headers ...string) (int, http.Header, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, b.Bytes()
}

// metric reads a counter of the node's /metrics.
func (f *fixture) metric(name string) float64 {
	f.t.Helper()
	status, body := f.get("/metrics")
	if status != http.StatusOK {
		f.t.Fatalf("GET /metrics: %d", status)
	}
	return metricIn(f.t, body, name)
}

// metricIn reads the value of an unlabelled metric from a /metrics body.
func metricIn(t testing.TB, body []byte, name string) float64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return n
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestCachedReadsRevalidate: the lot JSON, the provenance bundle and the
// EPCIS document carry a strong ETag; presenting it answers 304 with no
// body; a second request is served from the cache; a new entry of the lot
// changes the answer and its tag, and the old tag no longer matches.
func TestCachedReadsRevalidate(t *testing.T) {
	f := startNode(t)
	gtin := gtin14("0893456789012")
	f.accept(f.harvest(f.producer, gtin, "CACHE1"))
	base := "/v1/lots/" + gtin + "/CACHE1"
	for _, path := range []string{base, base + "/provenance", base + "/epcis"} {
		t.Run(path, func(t *testing.T) {
			f := f.with(t)
			status, h, first := f.getWith(path)
			etag := h.Get("ETag")
			if status != http.StatusOK || !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/`) {
				t.Fatalf("first GET: %d, ETag %q", status, etag)
			}
			hits := f.metric("traceledger_read_cache_hits_total")
			status, h, second := f.getWith(path)
			if status != http.StatusOK || h.Get("ETag") != etag || !bytes.Equal(first, second) {
				t.Fatalf("second GET: %d, ETag %q (first %q), same body %v", status, h.Get("ETag"), etag, bytes.Equal(first, second))
			}
			if got := f.metric("traceledger_read_cache_hits_total"); got != hits+1 {
				t.Errorf("cache hits %v after a repeated read, want %v", got, hits+1)
			}
			status, _, body := f.getWith(path, "If-None-Match: "+etag)
			if status != http.StatusNotModified || len(body) != 0 {
				t.Errorf("If-None-Match with the current tag: %d with %d bytes, want 304 and none", status, len(body))
			}
			if status, _, _ := f.getWith(path, `If-None-Match: "not-it"`); status != http.StatusOK {
				t.Errorf("If-None-Match with another tag: %d, want 200", status)
			}
			status, h, gz := f.getWith(path, "Accept-Encoding: gzip")
			if status != http.StatusOK || h.Get("Content-Encoding") != "gzip" || h.Get("ETag") == etag || len(gz) >= len(first) {
				t.Errorf("gzip: %d, Content-Encoding %q, ETag %q, %d bytes of %d", status, h.Get("Content-Encoding"), h.Get("ETag"), len(gz), len(first))
			}
		})
	}

	tags := map[string]string{}
	for _, path := range []string{base, base + "/provenance", base + "/epcis"} {
		_, h, _ := f.getWith(path)
		tags[path] = h.Get("ETag")
	}
	a := f.accept(f.transfer(f.producer, gtin, "CACHE1", f.distributor))
	for path, etag := range tags {
		status, h, body := f.getWith(path, "If-None-Match: "+etag)
		if status != http.StatusOK || h.Get("ETag") == etag {
			t.Errorf("%s after a transfer: %d, ETag %q unchanged: want 200 and a new tag", path, status, etag)
			continue
		}
		want := `"transfer"`
		if strings.HasSuffix(path, "/epcis") {
			want = "shipping"
		}
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("%s after a transfer (entry %d) does not show it:\n%.400s", path, a.Seq, body)
		}
	}
	if status, body := f.get("/v1/lots/" + gtin + "/NOPE/provenance"); status != http.StatusNotFound {
		t.Errorf("bundle of an unknown lot: %d %s, want 404", status, body)
	}
}

// TestHeavyReadLimit: one client may cause only so many bundle and EPCIS
// builds; past its burst it gets 429 with Retry-After, while answers
// already cached are still served to it.
func TestHeavyReadLimit(t *testing.T) {
	f := startNodeWith(t, func(c *api.Config) { c.HeavyReadRate, c.HeavyReadBurst = 0.001, 30 }) // burst 30, no refill within the test
	gtin := gtin14("0893456789029")
	var batch []any
	for i := range 31 {
		batch = append(batch, f.harvest(f.producer, gtin, fmt.Sprintf("H%d", i)))
	}
	if status, body := f.post(map[string]any{"records": batch}); status != http.StatusOK && status != http.StatusCreated && status != http.StatusMultiStatus {
		t.Fatalf("batch: %d %s", status, body)
	}
	for i := range 30 {
		kind := "provenance"
		if i%2 == 1 {
			kind = "epcis"
		}
		path := fmt.Sprintf("/v1/lots/%s/H%d/%s", gtin, i, kind)
		if status, body := f.get(path); status != http.StatusOK {
			t.Fatalf("%s, build %d of the burst: %d %s", path, i+1, status, body)
		}
	}
	status, h, body := f.getWith("/v1/lots/" + gtin + "/H30/provenance")
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("build past the burst: %d (Retry-After %q) %s, want 429 with Retry-After", status, h.Get("Retry-After"), body)
	}
	checkErrorBody(t, h, body)
	if status, body := f.get("/v1/lots/" + gtin + "/H0/provenance"); status != http.StatusOK {
		t.Errorf("a cached bundle past the burst: %d %s, want 200", status, body)
	}
	if status, body := f.get("/v1/lots/" + gtin + "/H30"); status != http.StatusOK {
		t.Errorf("lot JSON past the burst: %d %s, want 200 (not a heavy read)", status, body)
	}
}

// TestLongLotPages: ?before= pages a long history backward: ?before= the
// ledger size is the newest page, oldest first within the page, with a
// cursor (older, used as ?before=) back to the rest; the default still
// pages forward from the oldest entry.
func TestLongLotPages(t *testing.T) {
	f := startNode(t)
	gtin := gtin14("0893456789036")
	f.accept(f.harvest(f.producer, gtin, "LONG"))
	const inspections = 1001 // one page is 1 000 entries
	for sent := 0; sent < inspections; {
		var batch []any
		for ; sent < inspections && len(batch) < 500; sent++ {
			batch = append(batch, sign(t, f.inspector, f.record(f.inspector, "inspect", map[string]any{"lot": lotRef(gtin, "LONG"), "result": "pass"})))
		}
		if status, body := f.post(map[string]any{"records": batch}); status != http.StatusCreated && status != http.StatusOK {
			t.Fatalf("batch of inspections: %d %.300s", status, body)
		}
	}
	type page struct {
		Entries []struct {
			Seq  uint64 `json:"seq"`
			Type string `json:"type"`
		} `json:"entries"`
		Next  *uint64 `json:"next"`
		Older *uint64 `json:"older"`
	}
	get := func(query string) page {
		t.Helper()
		status, body := f.get("/v1/lots/" + gtin + "/LONG" + query)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", query, status, body)
		}
		var p page
		mustDecode(t, body, &p)
		return p
	}
	size, _ := f.head()
	newest := get("?before=" + strconv.FormatUint(size, 10))
	if len(newest.Entries) != 1000 || newest.Older == nil || newest.Next != nil || newest.Entries[0].Type != "inspect" {
		t.Fatalf("newest page: %d entries, older %v, next %v", len(newest.Entries), newest.Older, newest.Next)
	}
	if last := newest.Entries[999].Seq; last != size-1 || *newest.Older != newest.Entries[0].Seq {
		t.Errorf("newest page ends at %d (ledger size %d), older cursor %d (first shown %d)", last, size, *newest.Older, newest.Entries[0].Seq)
	}
	older := get("?before=" + strconv.FormatUint(*newest.Older, 10))
	if len(older.Entries) != 2 || older.Older != nil || older.Entries[0].Type != "harvest" || older.Entries[1].Seq >= *newest.Older {
		t.Errorf("older page: %+v", older)
	}
	for _, q := range []string{"", "?from=0"} {
		forward := get(q)
		if len(forward.Entries) != 1000 || forward.Next == nil || forward.Older != nil || forward.Entries[0].Type != "harvest" {
			t.Errorf("%q: %d entries, next %v, older %v", q, len(forward.Entries), forward.Next, forward.Older)
		}
	}
	for _, bad := range []string{"?before=x", "?from=0&before=9", "?before=-1"} {
		if status, body := f.get("/v1/lots/" + gtin + "/LONG" + bad); status != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", bad, status, body)
		}
	}
}

// A cached bundle of an unchanged lot stays valid against the checkpoint
// it embeds: a newer checkpoint (another lot's write) does not rebuild it
// until Config.BundleRefresh has passed; then it is rebuilt once, against
// the newer checkpoint, and kept again.
func TestCachedBundleRefresh(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := startNodeWith(t, func(c *api.Config) { c.Clock, c.BundleRefresh = clock, 30*time.Second })
	gtin := gtin14("0893456789036")
	f.accept(f.harvest(f.producer, gtin, "RF1"))
	path := "/v1/lots/" + gtin + "/RF1/provenance"
	get := func() []byte {
		t.Helper()
		st, _, body := f.getWith(path)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, st, body)
		}
		return body
	}
	builds := func() float64 { return f.metric("traceledger_read_cache_builds_total") }

	first := get()
	n := builds()
	f.accept(f.harvest(f.producer, gtin, "RF2")) // a newer checkpoint
	if b := get(); !bytes.Equal(b, first) || builds() != n {
		t.Fatalf("a newer checkpoint rebuilt the bundle before the refresh time (builds %v → %v)", n, builds())
	}
	advance(31 * time.Second)
	refreshed := get()
	if builds() != n+1 || bytes.Equal(refreshed, first) {
		t.Fatalf("after the refresh time: builds %v → %v, bundle changed %v; want one rebuild against the newer checkpoint", n, builds(), !bytes.Equal(refreshed, first))
	}
	advance(31 * time.Second) // no newer checkpoint since: still valid
	if b := get(); !bytes.Equal(b, refreshed) || builds() != n+1 {
		t.Fatalf("a bundle with the latest checkpoint was rebuilt (builds %v)", builds())
	}
}

// countingStore counts the read transactions opened on a store that
// counts its changes.
type countingStore struct {
	ledger.Store
	views *atomic.Int32
}

func (s countingStore) View(fn func(ledger.Reader) error) error {
	s.views.Add(1)
	return s.Store.View(fn)
}

func (s countingStore) Version() uint64 { return s.Store.(ledger.Versioned).Version() }

// storeCounting is a cluster whose store is a countingStore.
type storeCounting struct {
	api.Cluster
	store countingStore
}

func (c storeCounting) Store() ledger.Store { return c.store }

// A cached answer is served without opening a transaction while nothing
// at all has been written since it was last found current; a write makes
// the next request check it again, and it sees the write.
func TestCachedReadSkipsTransactionWhileUnchanged(t *testing.T) {
	views := new(atomic.Int32)
	f := startNodeWith(t, func(c *api.Config) {
		c.Cluster = storeCounting{Cluster: c.Cluster, store: countingStore{Store: c.Cluster.Store(), views: views}}
	})
	g := gtin14("0893600010001")
	if status, body := f.post(f.harvest(f.producer, g, "QUIET1")); status != http.StatusCreated {
		t.Fatalf("harvest: %d %s", status, body)
	}
	path := "/v1/lots/" + g + "/QUIET1"
	for i := range 2 { // built, then found current once
		if status, body := f.get(path); status != http.StatusOK {
			t.Fatalf("read %d: %d %s", i, status, body)
		}
	}
	hits := f.metric("traceledger_read_cache_hits_total") // /metrics reads the store
	before := views.Load()
	for i := range 5 {
		if status, body := f.get(path); status != http.StatusOK {
			t.Fatalf("cached read %d: %d %s", i, status, body)
		}
	}
	if got := views.Load() - before; got != 0 {
		t.Errorf("%d read transactions for 5 cached answers of an unchanged ledger, want 0", got)
	}
	if got := f.metric("traceledger_read_cache_hits_total") - hits; got != 5 {
		t.Errorf("%v cache hits, want 5", got)
	}
	// A transfer of the lot: the next read checks, and answers the new state.
	if status, body := f.post(f.transfer(f.producer, g, "QUIET1", f.distributor)); status != http.StatusCreated {
		t.Fatalf("transfer: %d %s", status, body)
	}
	before = views.Load()
	status, body := f.get(path)
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"in_transit"`)) {
		t.Errorf("read after the transfer: %d %s, want the lot in transit", status, body)
	}
	if views.Load() == before {
		t.Error("a read after a write was answered without checking the store")
	}
}
