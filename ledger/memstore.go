package ledger

import (
	"bytes"
	"sort"
	"strings"
	"sync"
)

// MemStore is a Store in memory: what offline verification replays a
// provenance bundle into. It suits small states; a full audit of a large
// ledger replays into a Badger store instead.
//
// Concurrency: mu guards data. Update runs its function on an overlay and
// merges it only on success, so a failed Update changes nothing.
type MemStore struct {
	mu      sync.RWMutex // guards data and version
	data    map[string][]byte
	version uint64 // updates committed (Versioned)
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{data: map[string][]byte{}} }

var _ Store = (*MemStore)(nil)

type memTxn struct {
	base    map[string][]byte
	overlay map[string][]byte // nil for read-only transactions
}

func (t *memTxn) Get(key []byte) ([]byte, bool, error) {
	if v, ok := t.overlay[string(key)]; ok {
		return v, true, nil
	}
	v, ok := t.base[string(key)]
	return v, ok, nil
}

func (t *memTxn) Set(key, val []byte) error {
	t.overlay[string(key)] = append([]byte(nil), val...)
	return nil
}

func (t *memTxn) Scan(prefix, start []byte, fn func(key, val []byte) bool) error {
	if start == nil {
		start = prefix
	}
	merged := map[string][]byte{}
	for k, v := range t.base {
		if strings.HasPrefix(k, string(prefix)) {
			merged[k] = v
		}
	}
	for k, v := range t.overlay {
		if strings.HasPrefix(k, string(prefix)) {
			merged[k] = v
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		if bytes.Compare([]byte(k), start) >= 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn([]byte(k), merged[k]) {
			return nil
		}
	}
	return nil
}

// View runs fn over the current state.
func (m *MemStore) View(fn func(Reader) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return fn(&memTxn{base: m.data})
}

// Update runs fn and applies its writes if it returns nil.
func (m *MemStore) Update(fn func(Writer) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &memTxn{base: m.data, overlay: map[string][]byte{}}
	if err := fn(t); err != nil {
		return err
	}
	for k, v := range t.overlay {
		m.data[k] = v
	}
	m.version++
	return nil
}

// Version counts the updates committed (Versioned).
func (m *MemStore) Version() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.version
}
