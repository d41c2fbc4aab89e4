package consumer

import (
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
//   - Counting is rate limited per client (api/ratelimit) with a token bucket
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

// countable reports whether r's scan may be counted at now: one token from
// its client's bucket. A client over its rate still gets the page.
func (c *Consumer) countable(r *http.Request, now time.Time) bool {
	ok, _ := c.limiter.Allow(c.cfg.ClientIP(r), 1, now)
	return ok
}
