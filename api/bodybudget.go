package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Request bodies are bounded three ways, so that many slow or large
// uploads cannot take the memory of the process:
//
//   - per request: no body is larger than Config.MaxBodyBytes (413);
//   - across requests: the body bytes held at once, over every connection,
//     stay within Config.BodyBudget (503 with Retry-After beyond it);
//   - in time: a body must keep arriving (Config.BodyStallTimeout between
//     two reads at most) at an average of at least Config.MinBodyRate (408
//     otherwise), so that a stalled upload does not hold its share of the
//     budget for long.
//
// bodyGuard applies all three in front of every handler, so that every path
// that reads a request body (records, membership, cosigning, routes mounted
// later) goes through it.

// Defaults of the body bounds; see Config.
const (
	// DefaultBodyBudget holds sixteen full 4 MiB batches at once, or some
	// 60 000 single envelopes. Admission verifies about 15 000 envelopes
	// (~15 MiB) a second on two cores (134 µs a signature without cgo,
	// DESIGN §2), so the budget holds seconds of full-speed admission and
	// honest traffic does not wait on it; and at most about twice the
	// budget in memory (bodies of unknown length grow their buffer, see
	// readAllSized) leaves a small node's memory to Badger's caches. The
	// 150 slow 4 MiB uploads that once took a node to 1.5 GB now hold
	// 64 MiB at most.
	DefaultBodyBudget = 64 << 20
	// DefaultMinBodyRate is about a quarter of a weak 3G uplink (~30 KiB/s):
	// a 4 MiB batch from the field still arrives, in up to ~9 minutes.
	DefaultMinBodyRate = 8 << 10
	// DefaultBodyStallTimeout is the longest silence allowed within a
	// body: a 3G handover or a short loss of signal, not a parked upload.
	DefaultBodyStallTimeout = 20 * time.Second
)

const (
	// bodyStep is how much a body of unknown length (chunked) reserves at
	// a time as it arrives.
	bodyStep = 64 << 10
	// smallBody is the largest body that may use the last eighth of the
	// budget: single envelopes (~1 KiB) and membership requests keep being
	// answered while large batches fill the rest.
	smallBody = 64 << 10
	// answerTime is how long the handler has to answer once the body has
	// arrived, as the node's http.Server WriteTimeout.
	answerTime = 2 * time.Minute
	// busyRetryAfter is the Retry-After, in seconds, of a refusal for lack
	// of budget: bodies in flight take seconds to minutes to arrive.
	busyRetryAfter = 5
)

var (
	errBodyBudget = &httpError{status: http.StatusServiceUnavailable, code: "overloaded",
		msg: "this node is receiving too many request bodies at once; retry after the Retry-After delay"}
	errBodyTooSlow = &httpError{status: http.StatusRequestTimeout, code: "body_too_slow",
		msg: "the request body arrived too slowly or stalled"}
)

// bodyBudget counts the request-body bytes reserved across all requests
// of one Server and refuses reservations beyond its limit.
//
// Concurrency: mu guards used; every method may be called from any
// goroutine.
type bodyBudget struct {
	limit int64 // 0 or less: unlimited (used is still counted)

	mu   sync.Mutex
	used int64
}

func newBodyBudget(limit int64) *bodyBudget { return &bodyBudget{limit: limit} }

// reserve takes n more bytes for a request that will then hold total bytes
// in all (n included). A request holding more than smallBody in all may
// not take the last eighth of the budget.
func (b *bodyBudget) reserve(n, total int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit > 0 {
		limit := b.limit
		if total > smallBody {
			limit -= b.limit / 8
		}
		if b.used+n > limit {
			return false
		}
	}
	b.used += n
	return true
}

// release returns n reserved bytes.
func (b *bodyBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// inUse is the number of bytes reserved now.
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// bodyGuard bounds the request bodies reaching next; see the comment at
// the top of this file.
type bodyGuard struct {
	budget  *bodyBudget
	maxBody int64   // per request
	minRate float64 // bytes per second
	stall   time.Duration
	refused func(reason string) // counts refusals, by reason
	write   func(w http.ResponseWriter, r *http.Request, err error)
}

func (g *bodyGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > g.maxBody {
			g.refuse(w, r, "too_large", errTooLarge.with("the request body is larger than "+sizeText(g.maxBody)))
			return
		}
		b := &guardedBody{g: g, src: r.Body, w: w, rc: http.NewResponseController(w), start: time.Now(), known: r.ContentLength > 0}
		if b.known {
			if !g.budget.reserve(r.ContentLength, r.ContentLength) {
				g.refuse(w, r, "budget", errBodyBudget)
				return
			}
			b.reserved = r.ContentLength
		}
		defer b.release()
		b.extendDeadlines()
		// The handler sees a copy of the request with the guarded body;
		// the server keeps its own body, and with it its rules for what
		// is left unread after the handler returns.
		r2 := new(http.Request)
		*r2 = *r
		r2.Body = b
		next.ServeHTTP(w, r2)
	})
}

// refuse answers err and closes the connection without reading any more
// of the request body.
func (g *bodyGuard) refuse(w http.ResponseWriter, r *http.Request, reason string, err error) {
	g.refused(reason)
	stopReading(w)
	if errors.Is(err, errBodyBudget) {
		w.Header().Set("Retry-After", strconv.Itoa(busyRetryAfter))
	}
	g.write(w, r, err)
}

// stopReading makes the server close the connection after the answer and
// read nothing more from it.
func stopReading(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.NewResponseController(w).SetReadDeadline(time.Now()) // not supported: nothing to stop
}

// guardedBody is a request body that reserves budget as it arrives (when
// its length is not known up front), enforces the minimum rate and the
// stall timeout through the connection's read deadline, and gives its
// reservation back when the handler returns. It is read by the handler's
// goroutine only, like any request body.
type guardedBody struct {
	g     *bodyGuard
	src   io.ReadCloser
	w     http.ResponseWriter
	rc    *http.ResponseController
	start time.Time
	known bool // Content-Length given: reserved whole up front

	reserved int64 // bytes of budget held
	got      int64 // bytes read
	err      error // sticky: the guard refused the rest of the body
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if !b.known {
		if b.got == b.reserved {
			if b.reserved > b.g.maxBody {
				// MaxBytesReader reads one byte past its limit to see
				// the body is too large; this is that byte.
				b.err = &http.MaxBytesError{Limit: b.g.maxBody}
				stopReading(b.w)
				return 0, b.err
			}
			step := min(bodyStep, b.g.maxBody+1-b.reserved)
			if !b.g.budget.reserve(step, b.reserved+step) {
				b.g.refused("budget")
				stopReading(b.w)
				b.w.Header().Set("Retry-After", strconv.Itoa(busyRetryAfter))
				b.err = errBodyBudget
				return 0, b.err
			}
			b.reserved += step
		}
		p = p[:min(int64(len(p)), b.reserved-b.got)]
	}
	n, err := b.src.Read(p)
	b.got += int64(n)
	switch {
	case err == io.EOF:
		// The server now reads ahead for the next request, or the client
		// going away, under this deadline; the handler has answerTime.
		deadline := time.Now().Add(answerTime)
		b.rc.SetReadDeadline(deadline)
		b.rc.SetWriteDeadline(deadline)
	case n > 0:
		b.extendDeadlines()
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.g.refused("too_slow")
		stopReading(b.w)
		b.err = errBodyTooSlow
		return n, b.err
	}
	return n, err
}

// extendDeadlines moves the read deadline to when the next bytes must have
// arrived: within the stall timeout, and no later than the minimum rate
// allows for what came so far. The write deadline follows, so that a slow
// body still leaves answerTime to answer it.
func (b *guardedBody) extendDeadlines() {
	now := time.Now() // deadlines are on the wall clock, whatever Config.Clock says
	deadline := now.Add(b.g.stall)
	if b.g.minRate > 0 {
		byRate := b.start.Add(b.g.stall + time.Duration(float64(b.got)/b.g.minRate*float64(time.Second)))
		if byRate.Before(deadline) {
			deadline = byRate
		}
	}
	// Errors mean the writer cannot set deadlines (a test recorder).
	b.rc.SetReadDeadline(deadline)
	b.rc.SetWriteDeadline(deadline.Add(answerTime))
}

func (b *guardedBody) Close() error { return b.src.Close() }

func (b *guardedBody) release() {
	b.g.budget.release(b.reserved)
	b.reserved = 0
}

// readAllSized reads r to the end. With the length known up front it
// allocates it once, so that a body takes in memory what it reserved of the
// budget; otherwise the buffer grows as the body arrives, to at most about
// twice its length.
func readAllSized(r io.Reader, length int64) ([]byte, error) {
	if length <= 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, length+1) // +1: the read that sees EOF
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			// More than announced: the server refuses that itself; keep
			// reading through the limits of r.
			rest, err := io.ReadAll(r)
			return append(buf, rest...), err
		}
	}
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
