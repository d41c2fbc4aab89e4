package ledger

import (
	"bytes"
	"fmt"
	"sync"
)

// LotMapCache keeps the upper levels of the lot-head map (lotheads.go) in
// memory for the one writer of the map, the state machine.
//
// Why. Every update of a lot's head reads two records per level of its
// path, about 2·log2(lots) reads; within one transaction the levels that
// its lots share are read from the transaction's own writes, but a new
// lot's deeper levels are read from Badger, where a read that is not in a
// memtable seeks a table of every level. Under bulk ingest those reads
// were a third of a node's CPU. The upper levels are few (at most 2^17
// records down to depth 16, about 13 MB at a million lots) and every
// update reads them, so they are kept in memory, as they stand in the
// store, and only the levels below are read from it.
//
// The cache mirrors committed state, so it is correct only if every
// write of the map's records passes through it and reaches it only once
// committed:
//   - the state machine wraps each transaction's Writer (Begin) and calls
//     Commit after, and only after, the store committed it;
//   - anything else that changes the store under it (a snapshot restored)
//     calls Reset, and the cache reloads from the store on the next Begin.
//
// Writes of the map before the state machine starts (UpgradeLotHeads) need
// nothing: the cache loads on its first Begin.
//
// Concurrency: mu guards nodes, loaded and gen. A Txn is used by the
// goroutine running its transaction.
type LotMapCache struct {
	maxDepth int

	mu     sync.Mutex
	loaded bool
	gen    uint64            // bumped by Reset; a Txn of an older generation is not merged
	nodes  map[uint32][]byte // record values by node index (lotMapIndex)
}

// lotMapCacheDepth is the deepest level the cache keeps.
const lotMapCacheDepth = 16

// NewLotMapCache returns an empty cache of the map's levels down to depth 16.
func NewLotMapCache() *LotMapCache {
	return &LotMapCache{maxDepth: lotMapCacheDepth}
}

// lotMapIndex is the number of the node a map key names, a 1 bit before
// its depth's bits of prefix, when its depth is at most maxDepth.
func lotMapIndex(key []byte, maxDepth int) (uint32, bool) {
	if len(key) != len(prefixLotMapNow)+2+32 || !bytes.HasPrefix(key, prefixLotMapNow) {
		return 0, false
	}
	id := key[len(prefixLotMapNow):]
	depth := int(id[0])<<8 | int(id[1])
	if depth > maxDepth {
		return 0, false
	}
	bits := uint32(id[2])<<16 | uint32(id[3])<<8 | uint32(id[4])
	return 1<<depth | bits>>(24-depth), true
}

// Reset forgets what the cache holds: the store changed under it.
func (c *LotMapCache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loaded, c.nodes = false, nil
	c.gen++
}

// Len is the number of records the cache holds.
func (c *LotMapCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Begin wraps w, the Writer of a transaction that has written nothing
// yet: the returned Txn reads the map's upper levels from the cache and
// this transaction's own writes, and passes everything else to w. Call
// Commit with it once the transaction has committed; a transaction that
// fails is simply dropped. The cache loads from the store on the first
// read or write of the map after a start or a Reset, so that logs Raft
// replays and skips cost nothing.
func (c *LotMapCache) Begin(w Writer) *LotMapTxn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &LotMapTxn{w: w, c: c, gen: c.gen, own: map[uint32][]byte{}}
}

// upper returns the cache's records, loading them through t's Writer if
// the cache is empty. t has not yet read or written the map, so its
// Writer shows the map as committed.
func (t *LotMapTxn) upper() (map[uint32][]byte, error) {
	if t.base != nil {
		return t.base, nil
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		nodes := map[uint32][]byte{}
		err := t.w.Scan(prefixLotMapNow, nil, func(k, v []byte) bool {
			i, ok := lotMapIndex(k, c.maxDepth)
			if !ok {
				// Keys run by depth: past maxDepth, nothing more to keep.
				return len(k) != len(prefixLotMapNow)+2+32
			}
			nodes[i] = bytes.Clone(v)
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("load the lot-head map's upper levels: %w", err)
		}
		c.nodes, c.loaded = nodes, true
	}
	t.base = c.nodes
	return t.base, nil
}

// Commit merges the map records t wrote into the cache. Call it once the
// store has committed t's transaction, before the next Begin.
func (c *LotMapCache) Commit(t *LotMapTxn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.gen != c.gen || !c.loaded {
		return // reset since (the cache reloads from the store), or t touched no cached record
	}
	for i, v := range t.own {
		c.nodes[i] = v
	}
}

// LotMapTxn is a Writer whose reads of the map's upper levels come from a
// LotMapCache and the transaction's own writes.
type LotMapTxn struct {
	w    Writer
	c    *LotMapCache
	gen  uint64
	base map[uint32][]byte // the cache's records once loaded (upper); read only while the transaction runs
	own  map[uint32][]byte // records this transaction wrote
}

// Get reads key, from memory when it is one of the map's upper levels.
func (t *LotMapTxn) Get(key []byte) ([]byte, bool, error) {
	if i, ok := lotMapIndex(key, t.c.maxDepth); ok {
		if v, ok := t.own[i]; ok {
			return v, true, nil
		}
		base, err := t.upper()
		if err != nil {
			return nil, false, err
		}
		v, ok := base[i]
		return v, ok, nil
	}
	return t.w.Get(key)
}

// Scan passes to the transaction's Writer, which sees its own writes.
func (t *LotMapTxn) Scan(prefix, start []byte, fn func(key, val []byte) bool) error {
	return t.w.Scan(prefix, start, fn)
}

// Set writes key, and remembers it when it is one of the map's upper levels.
func (t *LotMapTxn) Set(key, val []byte) error {
	i, cached := lotMapIndex(key, t.c.maxDepth)
	if cached {
		// Load before the first write of the map, while the Writer
		// still shows it as committed.
		if _, err := t.upper(); err != nil {
			return err
		}
	}
	if err := t.w.Set(key, val); err != nil {
		return err
	}
	if cached {
		t.own[i] = bytes.Clone(val)
	}
	return nil
}
