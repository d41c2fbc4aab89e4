package consumer

import "sync"

// boundedCache is a map with a fixed capacity. When it is full, inserting a
// new key evicts the key inserted longest ago (first in, first out): the
// cost of a miss here is a re-render or a forgotten scan count, never a
// wrong answer, so the simplest bounded policy does.
//
// It is safe for concurrent use: mu guards m, ring and next.
type boundedCache[K comparable, V any] struct {
	mu   sync.Mutex
	m    map[K]V
	ring []K // keys in insertion order, a circular buffer of len capacity
	next int // the slot of ring the next new key takes
	full bool
}

func newBoundedCache[K comparable, V any](capacity int) *boundedCache[K, V] {
	if capacity < 1 {
		capacity = 1
	}
	return &boundedCache[K, V]{m: make(map[K]V, min(capacity, 1024)), ring: make([]K, capacity)}
}

func (c *boundedCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

func (c *boundedCache[K, V]) put(k K, v V) {
	c.update(k, func(V, bool) V { return v })
}

// update sets k to fn(old, present) atomically and returns the new value.
// fn runs with the lock held: it must be quick and must not call back into
// the cache.
func (c *boundedCache[K, V]) update(k K, fn func(old V, ok bool) V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.m[k]
	v := fn(old, ok)
	if !ok {
		c.insertLocked(k)
	}
	c.m[k] = v
	return v
}

// insertLocked records a new key in the ring, evicting the oldest key when
// the cache is full. The caller holds mu.
func (c *boundedCache[K, V]) insertLocked(k K) {
	if c.full {
		delete(c.m, c.ring[c.next])
	}
	c.ring[c.next] = k
	c.next++
	if c.next == len(c.ring) {
		c.next, c.full = 0, true
	}
}

func (c *boundedCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
