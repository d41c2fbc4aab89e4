package consumer

import "github.com/traceledger/traceledger/api/httpcache"

// boundedCache is the consumer's view of httpcache.Cache: a map bounded
// by entry count (and, for rendered bodies, by bytes) that evicts the
// least recently used key. The cost of a miss here is a re-render or a
// forgotten scan count, never a wrong answer.
//
// It is safe for concurrent use (httpcache.Cache locks internally).
type boundedCache[K comparable, V any] struct {
	c *httpcache.Cache[K, V]
}

func newBoundedCache[K comparable, V any](capacity int) *boundedCache[K, V] {
	return &boundedCache[K, V]{c: httpcache.New[K, V](capacity, 0, nil)}
}

// newBodyCache bounds rendered bodies by count and by maxBytes of plain
// and compressed bytes together.
func newBodyCache[K comparable](capacity int, maxBytes int64) *boundedCache[K, httpcache.Body] {
	return &boundedCache[K, httpcache.Body]{c: httpcache.New[K](capacity, maxBytes, httpcache.Body.Size)}
}

func (c *boundedCache[K, V]) get(k K) (V, bool) { return c.c.Get(k) }

func (c *boundedCache[K, V]) put(k K, v V) { c.c.Put(k, v) }

// update sets k to fn(old, present) atomically and returns the new value.
// fn runs with the lock held: it must be quick and must not call back into
// the cache.
func (c *boundedCache[K, V]) update(k K, fn func(old V, ok bool) V) V { return c.c.Update(k, fn) }

func (c *boundedCache[K, V]) len() int { return c.c.Len() }
