package api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/traceledger/traceledger/api/httpcache"
	"github.com/traceledger/traceledger/api/ratelimit"
	"github.com/traceledger/traceledger/ledger"
)

// Cached reads. The lot JSON, the provenance bundle and the EPCIS document
// of a lot are built from many key-value reads (a lot inspected daily for
// years has thousands of entries; its bundle carries a proof for each), yet
// change only when the lot's history does. So each answer is kept, with a
// check of the state it was built from, in one byte-bounded LRU
// (httpcache.Cache, Config.ReadCacheBytes), and served with a strong ETag;
// a client that presents it in If-None-Match gets 304 with no body.
//
// A request is answered from the cache without a transaction when the
// store counts its changes (ledger.Versioned) and none was made since the
// answer was last found current: the usual case of a read-heavy ledger,
// and the same rule the consumer pages follow. Otherwise in one read
// transaction:
//  1. the ledger's size equals the size at which the answer was last found
//     current: nothing was appended since, the answer stands (one 8-byte
//     read);
//  2. otherwise the answer's own check runs (current): the lot's
//     updated_seq and head, and whatever else that kind of answer depends
//     on. If it holds, the size is remembered and the answer served.
//
// Otherwise the answer is rebuilt. Rebuilds of the same answer at the same
// ledger size share one build (singleflight), so a thousand shoppers
// scanning a freshly updated lot cost one build; a rebuild of a heavy
// answer (bundle, EPCIS) takes a token from the client's bucket
// (Config.HeavyReadRate), so no anonymous client can make the node rebuild
// large documents without bound; a request that joins a build already
// running takes none. A build is keyed by the ledger size the
// request saw, so a client that reads after its own write never joins a
// build that started before that write.
//
// Concurrency: Server.reads, Server.flight and Server.building lock
// internally; a cachedRead is immutable but for head, version and
// recheckAt, which are atomic.

// DefaultReadCacheBytes is the default budget of cached read answers,
// plain and gzip-compressed bodies together. A provenance bundle of a lot
// with 5 000 inspections is about 14 MB plain and 3 MB compressed; 64 MiB
// keeps a few such lots and thousands of ordinary ones.
const DefaultReadCacheBytes = 64 << 20

// maxCachedReads bounds the number of cached answers whatever their size.
const maxCachedReads = 16_384

// cachedRead is one cached answer.
type cachedRead struct {
	body        httpcache.Body
	etag        string
	contentType string
	// head is the ledger size at which the answer was last found current.
	head atomic.Uint64
	// version is 1 + the store's Version (ledger.Versioned) read before
	// the answer was last found current; 0 while unknown.
	version atomic.Uint64
	// recheckAt (Unix nanoseconds; 0: never) is when the answer is checked
	// again even if the ledger has not grown: an answer whose currency
	// depends on time as well as on the log (a bundle and its checkpoint)
	// must not stay current for ever just because no write came. Each
	// check at or past it moves it refresh later.
	recheckAt atomic.Int64
	refresh   time.Duration
	// current reports whether the answer is still the one the state rd
	// would give. It reads only what the answer depends on.
	current func(rd ledger.Reader) (bool, error)
}

// readSpec describes one cacheable read.
type readSpec struct {
	// key names the answer: its kind, the lot and every parameter that
	// changes it. It is part of the ETag.
	key         string
	contentType string
	// heavy answers take a token from the client's read bucket to rebuild.
	heavy bool
	// refresh, when positive, has the cached answer checked again every
	// refresh even while the ledger does not grow (see cachedRead).
	refresh time.Duration
	// build computes the answer and the check of its currency; a nil check
	// means the answer is served once and not kept.
	build func() (body []byte, current func(ledger.Reader) (bool, error), err error)
}

// serveRead answers spec from the cache or builds it.
func (s *Server) serveRead(w http.ResponseWriter, r *http.Request, spec readSpec) {
	cached, size, err := s.lookupRead(spec.key)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if cached == nil {
		flightKey := spec.key + "@" + strconv.FormatUint(size, 10)
		// Only a request that starts a build pays for it: one that joins a
		// build already running costs the node nothing more. (Two that
		// arrive together may both pay; never none.)
		if spec.heavy && s.heavyLimit != nil && !s.isBuilding(flightKey) {
			if ok, wait := s.heavyLimit.Allow(ratelimit.Client(r), 1, s.cfg.Clock()); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
				s.writeError(w, r, errRateLimited.with("too many uncached heavy reads from this client; retry later"))
				return
			}
		}
		v, err, _ := s.flight.Do(flightKey, func() (any, error) {
			s.building.Store(flightKey, struct{}{})
			defer s.building.Delete(flightKey)
			body, current, err := spec.build()
			if err != nil {
				return nil, err
			}
			body = append(body, '\n')
			digest := sha256.Sum256(body)
			c := &cachedRead{body: httpcache.NewBody(body), contentType: spec.contentType, current: current,
				etag: httpcache.ETag(spec.key, hex.EncodeToString(digest[:]))}
			c.head.Store(size)
			if spec.refresh > 0 {
				c.refresh = spec.refresh
				c.recheckAt.Store(s.cfg.Clock().Add(spec.refresh).UnixNano())
			}
			if current != nil {
				s.reads.Put(spec.key, c)
			}
			s.metrics.readBuilds.Inc()
			return c, nil
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cached = v.(*cachedRead)
	} else {
		s.metrics.readHits.Inc()
	}
	httpcache.Serve(w, r, cached.etag, "", cached.contentType, cached.body)
}

// lookupRead returns the cached answer under key if it is current, and the
// ledger size it checked against.
func (s *Server) lookupRead(key string) (*cachedRead, uint64, error) {
	var out *cachedRead
	var size uint64
	now := s.cfg.Clock()
	store := s.cluster.Store()
	// Read before the transaction: a change is counted just after it
	// becomes visible (ledger.Versioned).
	var version uint64
	if counted, ok := store.(ledger.Versioned); ok {
		version = counted.Version() + 1
	}
	c, cached := s.reads.Get(key)
	if cached && version != 0 && c.version.Load() == version && !c.recheckDue(now) {
		return c, c.head.Load(), nil
	}
	err := store.View(func(rd ledger.Reader) (err error) {
		if size, err = ledger.Size(rd); err != nil || !cached {
			return err
		}
		timeUp := c.recheckDue(now)
		if c.head.Load() != size || timeUp {
			if ok, err := c.current(rd); err != nil || !ok {
				return err
			}
			c.head.Store(size)
			if timeUp {
				c.recheckAt.Store(now.Add(c.refresh).UnixNano())
			}
		}
		c.version.Store(version)
		out = c
		return nil
	})
	return out, size, err
}

// isBuilding reports whether a build under flightKey is running now.
func (s *Server) isBuilding(flightKey string) bool {
	_, running := s.building.Load(flightKey)
	return running
}

// recheckDue reports whether the answer's time to be checked again has
// come (see recheckAt).
func (c *cachedRead) recheckDue(now time.Time) bool {
	due := c.recheckAt.Load()
	return due != 0 && now.UnixNano() >= due
}

// lotUnchanged returns a check that ref still has the updated_seq and head
// it has in rd now: the lot's state and its list of entries are then those
// an answer built now saw. Every entry that names a lot moves its head; a
// recall of an ancestor moves its updated_seq.
func lotUnchanged(rd ledger.Reader, ref ledger.LotRef) (func(ledger.Reader) (bool, error), error) {
	updated, head, err := lotVersion(rd, ref)
	if err != nil {
		return nil, err
	}
	return func(rd ledger.Reader) (bool, error) {
		u, h, err := lotVersion(rd, ref)
		return err == nil && u == updated && h == head, err
	}, nil
}

// lotVersion reads a lot's updated_seq and head; both 0 for an unknown lot.
func lotVersion(rd ledger.Reader, ref ledger.LotRef) (updated, head uint64, err error) {
	l, err := ledger.GetLot(rd, ref)
	if err != nil || l == nil {
		return 0, 0, err
	}
	head, _, err = ledger.LotHead(rd, ref)
	return l.UpdatedSeq, head, err
}
