// Package httpcache keeps the answers of reads in memory and serves them
// with HTTP validators: a least-recently-used cache bounded by entry count
// and by bytes (Cache), bodies kept plain and gzip-compressed (Body), strong
// entity tags (ETag), and conditional answers (Serve: 304 on a matching
// If-None-Match, RFC 9110 §13.1.2).
//
// The API (lot JSON, provenance bundle, EPCIS document) and the consumer
// pages share it: one cache abstraction, one set of validator rules. What
// a cached answer depends on, and when it must be rebuilt, is decided by
// its owner; this package only bounds memory and speaks HTTP.
package httpcache

import (
	"container/list"
	"sync"
)

// Cache is a least-recently-used map bounded by both the number of entries
// and the bytes they hold, as measured by the size function given to New.
// Inserting past either bound evicts the least recently used entries. A
// miss costs a rebuild, never a wrong answer, so eviction is always safe.
//
// It is safe for concurrent use: mu guards everything below it.
type Cache[K comparable, V any] struct {
	maxEntries int
	maxBytes   int64 // 0: no byte bound
	size       func(V) int64

	mu    sync.Mutex
	bytes int64
	order list.List // of *item[K, V], most recently used first
	items map[K]*list.Element
}

type item[K comparable, V any] struct {
	key  K
	val  V
	size int64
}

// New returns a cache of at most maxEntries entries (at least 1) and, when
// maxBytes > 0, at most maxBytes bytes as size measures them. size may be
// nil when only the count matters.
func New[K comparable, V any](maxEntries int, maxBytes int64, size func(V) int64) *Cache[K, V] {
	return &Cache[K, V]{maxEntries: max(maxEntries, 1), maxBytes: max(maxBytes, 0), size: size,
		items: make(map[K]*list.Element, min(max(maxEntries, 1), 1024))}
}

// Get returns the value under k and marks it recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*item[K, V]).val, true
}

// Put stores v under k. A value larger than the whole byte budget is not
// stored (and any older value under k is dropped): keeping it would evict
// everything else.
func (c *Cache[K, V]) Put(k K, v V) {
	c.Update(k, func(V, bool) V { return v })
}

// Update sets k to fn(old, present) atomically and returns the new value.
// fn runs with the lock held: it must be quick and must not call back into
// the cache.
func (c *Cache[K, V]) Update(k K, fn func(old V, ok bool) V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old V
	e, ok := c.items[k]
	if ok {
		old = e.Value.(*item[K, V]).val
	}
	v := fn(old, ok)
	var n int64
	if c.size != nil {
		n = c.size(v)
	}
	if c.maxBytes > 0 && n > c.maxBytes {
		if ok {
			c.removeLocked(e)
		}
		return v
	}
	if ok {
		it := e.Value.(*item[K, V])
		c.bytes += n - it.size
		it.val, it.size = v, n
	} else {
		c.items[k] = c.order.PushFront(&item[K, V]{key: k, val: v, size: n})
		c.bytes += n
	}
	for len(c.items) > c.maxEntries || (c.maxBytes > 0 && c.bytes > c.maxBytes) {
		c.removeLocked(c.order.Back())
	}
	return v
}

// removeLocked drops one entry. The caller holds mu.
func (c *Cache[K, V]) removeLocked(e *list.Element) {
	it := c.order.Remove(e).(*item[K, V])
	delete(c.items, it.key)
	c.bytes -= it.size
}

// Len is the number of entries held.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Bytes is the total size of the entries held, as size measures them.
func (c *Cache[K, V]) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
