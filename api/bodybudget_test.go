package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/traceledger/traceledger/testnet/harness"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBodyBudgetReserveRelease(t *testing.T) {
	b := newBodyBudget(1 << 20) // large bodies: 896 KiB; the last 128 KiB for small ones
	if !b.reserve(512<<10, 512<<10) {
		t.Fatal("512 KiB refused from an empty 1 MiB budget")
	}
	if b.reserve(512<<10, 512<<10) {
		t.Fatal("a second large 512 KiB body took the small bodies' eighth")
	}
	if !b.reserve(384<<10, 384<<10) {
		t.Fatal("384 KiB refused with 512 KiB free of which 384 KiB for large bodies")
	}
	// Small bodies may use the last eighth.
	for i := 0; i < 2; i++ {
		if !b.reserve(smallBody, smallBody) {
			t.Fatalf("small body %d refused from the reserved eighth", i)
		}
	}
	if b.reserve(1, 1) {
		t.Fatal("a byte past the budget was reserved")
	}
	if got := b.inUse(); got != 1<<20 {
		t.Fatalf("in use %d, want %d", got, 1<<20)
	}
	b.release(384 << 10)
	b.release(512 << 10)
	b.release(2 * smallBody)
	if got := b.inUse(); got != 0 {
		t.Fatalf("in use %d after releasing everything", got)
	}
	// A body reserving in steps counts as large once its total is large.
	if !b.reserve(smallBody, smallBody) || b.reserve(900<<10, smallBody+900<<10) {
		t.Fatal("a growing body was not held to the large bodies' share")
	}

	unlimited := newBodyBudget(-1)
	if !unlimited.reserve(1<<40, 1<<40) || unlimited.inUse() != 1<<40 {
		t.Fatal("an unlimited budget refused or did not count")
	}
}

func TestBodyBudgetConcurrent(t *testing.T) {
	const limit = 1 << 20
	b := newBodyBudget(limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var over int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				n := int64(1+i%7) << 10
				if b.reserve(n, n) {
					if u := b.inUse(); u > limit {
						mu.Lock()
						over = max(over, u)
						mu.Unlock()
					}
					b.release(n)
				}
			}
		}()
	}
	wg.Wait()
	if over > 0 || b.inUse() != 0 {
		t.Fatalf("budget reached %d (limit %d), %d left in use", over, limit, b.inUse())
	}
}

// guardFixture serves readJSONBody behind a bodyGuard on 127.0.0.1:0. The
// handler reports each body it read on bodies and answers when told on
// proceed.
type guardFixture struct {
	t       *testing.T
	srv     *httptest.Server
	guard   *bodyGuard
	bodies  chan int
	proceed chan struct{}

	mu      sync.Mutex
	refused map[string]int
}

func newGuardFixture(t *testing.T, budget, maxBody int64, minRate float64, stall time.Duration) *guardFixture {
	t.Helper()
	s := &Server{cfg: Config{MaxBodyBytes: maxBody}, logger: slog.New(slog.DiscardHandler)}
	f := &guardFixture{t: t, bodies: make(chan int, 16), proceed: make(chan struct{}), refused: map[string]int{}}
	f.guard = &bodyGuard{budget: newBodyBudget(budget), maxBody: maxBody, minRate: minRate, stall: stall, write: s.writeError,
		refused: func(reason string) { f.mu.Lock(); f.refused[reason]++; f.mu.Unlock() }}
	f.srv = httptest.NewServer(f.guard.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := s.readJSONBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		f.bodies <- len(body)
		<-f.proceed
		writeJSON(w, http.StatusOK, map[string]int{"len": len(body)})
	})))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *guardFixture) refusals(reason string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused[reason]
}

func (f *guardFixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	harness.Wait(f.t, 10*time.Second, what, cond)
}

// dial opens a raw connection and sends a POST's head and the first part
// of its body; length < 0 sends it chunked (part then goes as one chunk).
func (f *guardFixture) dial(length int, part []byte) net.Conn {
	f.t.Helper()
	c, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	head := "POST /v1/records HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
	if length >= 0 {
		head += fmt.Sprintf("Content-Length: %d\r\n\r\n", length)
	} else {
		head += "Transfer-Encoding: chunked\r\n\r\n"
		if len(part) > 0 {
			part = append([]byte(fmt.Sprintf("%x\r\n", len(part))), append(part, "\r\n"...)...)
		}
	}
	if _, err := c.Write(append([]byte(head), part...)); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// response reads one answer from a raw connection.
func response(t *testing.T, c net.Conn) (*http.Response, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func checkRefusal(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var e errorBody
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("answer %d %s, want %d with error code %q", resp.StatusCode, body, status, code)
	}
	if !resp.Close {
		t.Errorf("a refusal keeps the connection open (Connection: %q)", resp.Header.Get("Connection"))
	}
}

func TestGuardReleasesWhenHandlerDone(t *testing.T) {
	f := newGuardFixture(t, 1<<20, 256<<10, 0, 10*time.Second)
	body := bytes.Repeat([]byte("a"), 100<<10)
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(f.srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		resp.Body.Close()
		done <- resp
	}()
	if n := <-f.bodies; n != len(body) {
		t.Fatalf("handler read %d bytes, want %d", n, len(body))
	}
	if got := f.guard.budget.inUse(); got != int64(len(body)) {
		t.Fatalf("in use %d while the handler holds the body, want %d", got, len(body))
	}
	close(f.proceed)
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %v", resp)
	}
	f.waitFor("the reservation released", func() bool { return f.guard.budget.inUse() == 0 })
}

func TestGuardRefusesBeyondBudgetUnread(t *testing.T) {
	f := newGuardFixture(t, 1<<20, 1<<20, 0, 10*time.Second)
	f.guard.budget.reserve(800<<10, 800<<10) // others hold most of it
	c := f.dial(512<<10, []byte(`{"a":`))
	resp, body := response(t, c)
	checkRefusal(t, resp, body, http.StatusServiceUnavailable, "overloaded")
	if ra := resp.Header.Get("Retry-After"); ra != "5" {
		t.Errorf("Retry-After %q, want 5", ra)
	}
	if f.refusals("budget") != 1 {
		t.Errorf("budget refusals %d, want 1", f.refusals("budget"))
	}
	// A small body still fits in what is left.
	small := f.dial(2, []byte(`{}`))
	if n := <-f.bodies; n != 2 {
		t.Fatalf("small body: %d bytes", n)
	}
	close(f.proceed)
	if resp, _ := response(t, small); resp.StatusCode != http.StatusOK {
		t.Fatalf("small body answered %d", resp.StatusCode)
	}
	f.waitFor("the small body's reservation released", func() bool { return f.guard.budget.inUse() == 800<<10 })
}

func TestGuardChunkedReservesAsItArrives(t *testing.T) {
	f := newGuardFixture(t, 1<<20, 1<<20, 0, 10*time.Second)
	c := f.dial(-1, bytes.Repeat([]byte("a"), 100<<10))
	f.waitFor("the chunked body's first steps reserved", func() bool { return f.guard.budget.inUse() >= 100<<10 })
	if got := f.guard.budget.inUse(); got > 100<<10+bodyStep {
		t.Fatalf("in use %d after 100 KiB, want at most one step more", got)
	}
	// Others take the rest; the next step is refused mid-body.
	f.guard.budget.reserve(f.guard.budget.limit-f.guard.budget.inUse(), smallBody)
	more := bytes.Repeat([]byte("a"), 100<<10)
	c.Write(append([]byte(fmt.Sprintf("%x\r\n", len(more))), append(more, "\r\n"...)...))
	resp, body := response(t, c)
	checkRefusal(t, resp, body, http.StatusServiceUnavailable, "overloaded")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if f.refusals("budget") != 1 {
		t.Errorf("budget refusals %d, want 1", f.refusals("budget"))
	}
}

func TestGuardReleasesOnClientDisconnect(t *testing.T) {
	for _, length := range []int{512 << 10, -1} {
		t.Run(fmt.Sprint("length ", length), func(t *testing.T) {
			f := newGuardFixture(t, 1<<20, 1<<20, 0, 10*time.Second)
			c := f.dial(length, bytes.Repeat([]byte("a"), 10<<10))
			f.waitFor("the reservation", func() bool { return f.guard.budget.inUse() > 0 })
			c.Close()
			f.waitFor("the reservation released after the client left", func() bool { return f.guard.budget.inUse() == 0 })
		})
	}
}

func TestGuardCutsStalledBody(t *testing.T) {
	f := newGuardFixture(t, 1<<20, 1<<20, 0, 200*time.Millisecond)
	c := f.dial(512<<10, bytes.Repeat([]byte("a"), 10<<10))
	resp, body := response(t, c)
	checkRefusal(t, resp, body, http.StatusRequestTimeout, "body_too_slow")
	f.waitFor("the stalled body's reservation released", func() bool { return f.guard.budget.inUse() == 0 })
	if f.refusals("too_slow") != 1 {
		t.Errorf("too_slow refusals %d, want 1", f.refusals("too_slow"))
	}
}

func TestGuardCutsBodyBelowMinimumRate(t *testing.T) {
	// 1 KiB/s with 300 ms of grace: a client trickling 50 bytes every
	// 100 ms (500 B/s, never stalling long) is cut once it falls behind;
	// a body arriving at once is not.
	f := newGuardFixture(t, 1<<20, 1<<20, 1<<10, 300*time.Millisecond)
	c := f.dial(64<<10, nil)
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			if _, err := c.Write(bytes.Repeat([]byte("a"), 50)); err != nil {
				return
			}
		}
	}()
	resp, body := response(t, c)
	checkRefusal(t, resp, body, http.StatusRequestTimeout, "body_too_slow")
	c.Close()
	<-cut

	fast := f.dial(64<<10, bytes.Repeat([]byte("a"), 64<<10))
	if n := <-f.bodies; n != 64<<10 {
		t.Fatalf("fast body: %d bytes", n)
	}
	close(f.proceed)
	if resp, _ := response(t, fast); resp.StatusCode != http.StatusOK {
		t.Fatalf("fast body answered %d", resp.StatusCode)
	}
}

func TestGuardRefusesOversizeBodies(t *testing.T) {
	f := newGuardFixture(t, 1<<20, 64<<10, 0, 10*time.Second)
	// Announced: refused before reading, without touching the budget.
	resp, body := response(t, f.dial(65<<10, []byte("a")))
	checkRefusal(t, resp, body, http.StatusRequestEntityTooLarge, "too_large")
	if !strings.Contains(string(body), "64 KiB") {
		t.Errorf("message %s does not give the limit", body)
	}
	// Chunked: refused once it passes the limit.
	resp, body = response(t, f.dial(-1, bytes.Repeat([]byte("a"), 65<<10)))
	checkRefusal(t, resp, body, http.StatusRequestEntityTooLarge, "too_large")
	f.waitFor("reservations released", func() bool { return f.guard.budget.inUse() == 0 })
	if f.refusals("too_large") != 1 {
		t.Errorf("too_large refusals %d, want 1 (the announced one)", f.refusals("too_large"))
	}
}
