// Package ratelimit says who a client is and bounds what each client may
// do: a client's key (its IPv4 address, or its IPv6 /64) and a token
// bucket per key in a bounded table.
//
// The write limit (api), the scan counter (api/consumer) and the
// connection limit (node) all count by the same key. An IPv6 host can pick
// any address in its /64 (RFC 4941 temporary addresses do exactly that),
// so counting per address would let one phone escape every limit.
//
// Behind a reverse proxy every client shares the proxy's address; limits
// then apply to the proxy. Trusting a forwarded-for header by default
// would let any client pick its own identity.
package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Key is the client a connection's remote address counts against: the
// IPv4 address (an IPv4-mapped IPv6 address counts as IPv4), or the IPv6
// /64. It reports false for an address that is not TCP/IP (a test pipe, a
// Unix socket).
func Key(a net.Addr) (netip.Prefix, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	return prefixOf(ip)
}

func prefixOf(ip netip.Addr) (netip.Prefix, bool) {
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// Client is the key of the client that sent r, as text (see Key). A
// RemoteAddr that is not host:port (a test request) is its own key.
func Client(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	p, ok := prefixOf(ap.Addr())
	if !ok {
		return r.RemoteAddr
	}
	if p.Bits() == 32 {
		return p.Addr().String()
	}
	return p.String()
}

// Limiter is a token bucket per client: rate tokens a second, up to burst.
// A client seen for the first time starts with a full bucket.
//
// The table of buckets is bounded by maxClients. When it is full, buckets
// that would be full again by now are dropped (forgetting them changes
// nothing); if every client is active, the least recently seen tenth is
// dropped. Eviction can only make the limiter more lenient, never refuse
// a client that would otherwise pass.
//
// Concurrency: mu guards buckets; a Limiter is safe for concurrent use.
type Limiter struct {
	rate, burst float64
	maxClients  int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter of rate tokens a second and bursts of burst
// (at least 1), keeping at most maxClients buckets (at least 1).
func New(rate float64, burst, maxClients int) *Limiter {
	return &Limiter{
		rate:       rate,
		burst:      float64(max(burst, 1)),
		maxClients: max(maxClients, 1),
		buckets:    map[string]*bucket{},
	}
}

// Allow takes n tokens from client's bucket at now, or reports false and
// how long until they would be there. A request for more than the burst
// waits for a full bucket and then takes all of it, so an oversized batch
// is slowed, never refused for ever.
func (l *Limiter) Allow(client string, n float64, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= l.maxClients {
			l.evictLocked(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[client] = b
	}
	if now.After(b.last) { // a clock stepping back refills nothing
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	}
	n = min(n, l.burst)
	if b.tokens >= n {
		b.tokens -= n
		return true, 0
	}
	if l.rate <= 0 {
		return false, time.Duration(1<<63 - 1)
	}
	return false, time.Duration((n - b.tokens) / l.rate * float64(time.Second))
}

// Clients is how many buckets the limiter keeps.
func (l *Limiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Limiter) evictLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.maxClients {
		return
	}
	var oldest time.Time
	for _, b := range l.buckets {
		if oldest.IsZero() || b.last.Before(oldest) {
			oldest = b.last
		}
	}
	cut := oldest.Add(now.Sub(oldest) / 10)
	for k, b := range l.buckets {
		if !b.last.After(cut) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxClients { // every bucket seen in the same instant
		for k := range l.buckets {
			delete(l.buckets, k)
			if len(l.buckets) < l.maxClients {
				break
			}
		}
	}
}
