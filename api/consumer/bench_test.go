package consumer

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPages measures the consumer page and the lot JSON of the demo's
// longest history, served by a real node (Badger, Raft, the API's
// middleware), against a bare net/http handler that returns a fixed 1 KB
// body, all in the same run, each under 64 concurrent keep-alive
// connections over loopback. Each target gets b.N requests in five rounds,
// the targets taking turns, so that a burst of other work on the machine
// weighs on all of them alike. It reports requests per second and the 99th
// percentile latency of each target, and logs each one's throughput as a
// share of the bare handler's (printed as a table). It never fails on a time (DESIGN §5). Run:
//
//	go test -run '^$' -bench Pages -benchtime 20000x ./api/consumer/
func BenchmarkPages(b *testing.B) {
	ds := startDemo(b, nil)
	body1k := []byte(strings.Repeat("x", 1023) + "\n")
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body1k)
	}))
	defer bare.Close()

	// The client sends no Accept-Encoding unless named, and then reads
	// the compressed bytes as a phone or a CDN would, without inflating
	// them here (the inflating would run on the server's two cores).
	targets := []struct{ name, url, accept, encoding string }{
		{"bare", bare.URL + "/", "", ""},
		{"page", ds.url + lycheePage, "", ""},
		{"page-gzip", ds.url + lycheePage, "", "gzip"},
		{"page-en", ds.url + lycheePage + "?lang=en", "", ""},
		{"json", ds.url + lycheePath, "application/json", ""},
		{"json-gzip", ds.url + lycheePath, "application/json", "gzip"},
	}
	const rounds, conns = 5, 64
	per := max(b.N/rounds, 1)
	lat := make([][]time.Duration, len(targets))
	spent := make([]time.Duration, len(targets))
	size := make([]int64, len(targets))
	b.ResetTimer()
	for range rounds {
		for i, tg := range targets {
			l, d, n := runLoad(b, tg.url, tg.accept, tg.encoding, conns, per)
			lat[i], spent[i], size[i] = append(lat[i], l...), spent[i]+d, n
		}
	}
	b.StopTimer()
	var sum strings.Builder
	fmt.Fprintf(&sum, "\n%d connections, %d requests per target in %d rounds:", conns, per*rounds, rounds)
	var baseRate float64
	for i, tg := range targets {
		if len(lat[i]) == 0 {
			continue
		}
		slices.Sort(lat[i])
		rate := float64(len(lat[i])) / spent[i].Seconds()
		p99 := lat[i][min(len(lat[i])-1, len(lat[i])*99/100)]
		if i == 0 {
			baseRate = rate
		}
		b.ReportMetric(rate, tg.name+"-req/s")
		b.ReportMetric(float64(p99.Microseconds())/1000, tg.name+"-p99-ms")
		fmt.Fprintf(&sum, "\n  %-10s %6d B  %8.0f req/s  %5.1f %% of bare  p50 %6.2f ms  p99 %6.2f ms",
			tg.name, size[i], rate, 100*rate/baseRate, float64(lat[i][len(lat[i])/2].Microseconds())/1000, float64(p99.Microseconds())/1000)
	}
	if b.N >= 100 { // not the calibration run of one request
		fmt.Println(sum.String())
	}
}

// runLoad sends n GET requests to url over conns concurrent connections
// and returns their latencies, the wall time they took and the size of a
// reply. It stops by itself after n requests.
func runLoad(b *testing.B, url, accept, encoding string, conns, n int) ([]time.Duration, time.Duration, int64) {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next atomic.Int64
	var replyBytes atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err != nil {
					b.Error(err)
					return
				}
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				if encoding != "" {
					req.Header.Set("Accept-Encoding", encoding)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				size, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("GET %s: %s", url, resp.Status)
					return
				}
				replyBytes.Store(size)
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return all, elapsed, replyBytes.Load()
}
