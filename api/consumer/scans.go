package consumer

import (
	"net"
	"net/http"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

// Scan counting for serialised units (GTIN + lot + AI 21 serial).
//
// A serial printed on one jar should be scanned a handful of times: by the
// shop, by the buyer, perhaps by a friend. A serial scanned hundreds of
// times has most likely been photocopied onto counterfeit jars, so the
// page says how often and since when the code has been scanned, and warns
// past a threshold.
//
// Where the counts live, and why:
//   - In memory, per node, in a bounded map (Config.MaxSerials entries,
//     100 000 by default: a few MB). Counts are not replicated through
//     Raft: a scan is not a signed event, and putting every page view
//     through consensus would make reads as expensive as writes. Behind a
//     load balancer each node counts the scans it served, so a count is a
//     lower bound; a restart forgets the counts. When the map is full the
//     serial first counted longest ago is forgotten (FIFO), so its next
//     scan reads as a first scan again.
//   - Counting is rate limited per client IP with a token bucket
//     (Config.ScanRate, Config.ScanBurst), so one client cannot inflate a
//     count without limit, nor churn the map fast. A client over its rate
//     still gets the page at full speed: its scan is just not counted.
//     The limiter's own table is bounded too (Config.MaxClients).

// serialKey identifies one serialised unit.
type serialKey struct {
	lot    ledger.LotRef
	serial string
}

// scanRecord is what is known of a serial's scans on this node.
type scanRecord struct {
	first time.Time
	count int
}

// scanCounter counts scans per serial. Its cache does the locking.
type scanCounter struct {
	m *boundedCache[serialKey, scanRecord]
}

func newScanCounter(capacity int) *scanCounter {
	return &scanCounter{m: newBoundedCache[serialKey, scanRecord](capacity)}
}

// record counts one scan at now and returns the serial's record after it.
func (s *scanCounter) record(k serialKey, now time.Time) scanRecord {
	return s.m.update(k, func(old scanRecord, ok bool) scanRecord {
		if !ok {
			return scanRecord{first: now, count: 1}
		}
		old.count++
		return old
	})
}

// peek returns the serial's record without counting.
func (s *scanCounter) peek(k serialKey) scanRecord {
	r, _ := s.m.get(k)
	return r
}

// bucket is a token bucket: tokens refill at rate per second up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// ipLimiter rate-limits scan counting per client IP. Its cache does the
// locking; take runs inside the cache's lock.
type ipLimiter struct {
	rate  float64 // tokens per second
	burst float64
	m     *boundedCache[string, bucket]
}

func newIPLimiter(rate float64, burst, capacity int) *ipLimiter {
	return &ipLimiter{rate: rate, burst: float64(burst), m: newBoundedCache[string, bucket](capacity)}
}

// allow takes one token from ip's bucket at now and reports whether there
// was one. A client forgotten by the bounded table starts again with a
// full bucket: eviction can only make the limiter more lenient, never
// refuse a page.
func (l *ipLimiter) allow(ip string, now time.Time) bool {
	allowed := false
	l.m.update(ip, func(b bucket, ok bool) bucket {
		if !ok {
			b = bucket{tokens: l.burst, last: now}
		}
		if dt := now.Sub(b.last).Seconds(); dt > 0 {
			b.tokens = min(l.burst, b.tokens+dt*l.rate)
		}
		b.last = now
		if b.tokens >= 1 {
			b.tokens--
			allowed = true
		}
		return b
	})
	return allowed
}

// remoteIP is the default Config.ClientIP: the connection's peer address.
// Behind a reverse proxy set Config.ClientIP to read the proxy's header
// instead; trusting such a header by default would let any client pick
// its own identity and escape the limit.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
