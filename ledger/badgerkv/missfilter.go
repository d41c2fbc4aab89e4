package badgerkv

// A read of a key that is not there costs Badger more than any other: it
// searches every memtable and asks every level (each L0 table, then one
// table per level) before it can say so. The ledger makes such a read
// for every record it appends, to tell a producer's retry from a new
// record (its record-id index, where nearly every read misses), on the
// state machine's goroutine, which every write waits for.
//
// A missFilter answers those reads from memory: a Bloom filter of the
// keys under the prefixes the options name (Options.MissFilter), one per
// generation. A key is added when a transaction sets it, before the
// commit that makes it visible, so a reader that can see a key always
// finds it in the filter; a key added by a transaction that then fails is
// a false positive, which costs one read of Badger, like any other. The
// filter is built from the store by a background loop when the DB opens
// (until then every read goes to Badger), and from the pairs a restore
// loads.
//
// The filter grows by segments (ledger/bloom), so it never needs
// rebuilding: with 10 bits and 7 probes per key of a segment's capacity,
// 10⁶ keys take at most 2.5 MB.
//
// Close keeps a built filter in a file beside the generation's tables
// (missFilterFile), with Badger's highest commit version at that moment;
// the next Open takes it instead of building, when that version is still
// the highest (no commit since, by anyone) and the file is whole. The
// build reads every record-id key, and at 10⁶ entries it cost a start
// 60 MiB of resident memory: the tables' pages it maps, and Badger's
// block cache, which it fills with blocks nothing else reads.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"

	"github.com/traceledger/traceledger/ledger/bloom"
)

// missFirstKeys is the capacity of a new filter's first segment.
const missFirstKeys = 1 << 16

type missFilter struct {
	prefixes [][]byte
	seed     uint64      // of the probe positions: random per filter, kept with it
	ready    atomic.Bool // built: a key it lacks is not in the store
	keys     *bloom.Filter
}

func newMissFilter(prefixes [][]byte) *missFilter {
	if len(prefixes) == 0 {
		return nil
	}
	var seed [8]byte
	rand.Read(seed[:])
	return &missFilter{prefixes: prefixes, seed: binary.LittleEndian.Uint64(seed[:]), keys: bloom.New(missFirstKeys)}
}

// note adds key if it is under one of the filtered prefixes; a nil
// filter notes nothing.
func (f *missFilter) note(key []byte) {
	if f != nil && f.covers(key) {
		f.add(key)
	}
}

// rulesOut reports whether a read of key can be answered "not there"
// without the store: key is under a filtered prefix and surely absent.
// A nil filter rules nothing out.
func (f *missFilter) rulesOut(key []byte) bool {
	return f != nil && f.covers(key) && f.absent(key)
}

// covers reports whether key is under one of the filtered prefixes.
func (f *missFilter) covers(key []byte) bool {
	for _, p := range f.prefixes {
		if bytes.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// probes returns the two hashes of key that its probe positions derive
// from (double hashing: h1 + i·h2).
func (f *missFilter) probes(key []byte) (h1, h2 uint64) {
	// xxhash, then the seed mixed in by splitmix64's finaliser: a hash
	// whose seed can be kept in a file, which hash/maphash's cannot.
	h := xxhash.Sum64(key) ^ f.seed
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	h ^= h >> 31
	return h, h>>29 | h<<35 | 1
}

// add notes key.
func (f *missFilter) add(key []byte) { f.keys.Add(f.probes(key)) }

// absent reports whether key is surely not in the store: the filter is
// built and does not hold it.
func (f *missFilter) absent(key []byte) bool {
	return f.ready.Load() && !f.keys.MayContain(f.probes(key))
}

// build adds every key of db under the filtered prefixes and marks the
// filter ready, unless ctx ends first (the filter then stays unready and
// every read goes to Badger).
func (f *missFilter) build(ctx context.Context, db *badger.DB) error {
	err := db.View(func(t *badger.Txn) error {
		for _, p := range f.prefixes {
			opts := badger.DefaultIteratorOptions
			opts.Prefix, opts.PrefetchValues = p, false
			it := t.NewIterator(opts)
			n := 0
			for it.Rewind(); it.Valid(); it.Next() {
				if n++; n%4096 == 0 && ctx.Err() != nil {
					it.Close()
					return ctx.Err()
				}
				f.add(it.Item().Key())
			}
			it.Close()
		}
		return nil
	})
	if err == nil {
		f.ready.Store(true)
	}
	return err
}

// missFilterFile is the file, in a generation's directory, that keeps its
// built filter from a Close to the next Open.
const missFilterFile = "missfilter"

var missFilterMagic = []byte("traceledger missfilter 1\n")

// save writes a built filter to dir's missFilterFile, with version, the
// highest commit version of the store it describes; an unbuilt filter is
// not saved. The file is written whole or not at all (replaceFile).
func (f *missFilter) save(dir string, version uint64) error {
	if f == nil || !f.ready.Load() {
		return nil
	}
	b := append([]byte(nil), missFilterMagic...)
	b = binary.LittleEndian.AppendUint64(b, version)
	b = binary.LittleEndian.AppendUint64(b, f.seed)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f.prefixes)))
	for _, p := range f.prefixes {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	b = f.keys.AppendBinary(b)
	sum := sha256.Sum256(b)
	b = append(b, sum[:]...)
	if err := replaceFile(dir, missFilterFile, b); err != nil {
		return fmt.Errorf("keep the miss filter: %w", err)
	}
	return nil
}

// errStaleFilter: the kept filter describes another state of the store.
var errStaleFilter = errors.New("the store changed since the filter was kept")

// loadMissFilter returns the filter kept in dir, built, when it was kept
// for these prefixes at the store's current highest commit version; it
// removes the file either way, since the store is about to move on. The
// error says why a file that exists was not taken.
func loadMissFilter(dir string, prefixes [][]byte, version uint64) (*missFilter, error) {
	name := filepath.Join(dir, missFilterFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if rerr := os.Remove(name); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	f, err := decodeMissFilter(b, prefixes, version)
	if err != nil {
		return nil, fmt.Errorf("kept miss filter: %w", err)
	}
	return f, nil
}

func decodeMissFilter(b []byte, prefixes [][]byte, version uint64) (*missFilter, error) {
	errCorrupt := errors.New("corrupt")
	if len(b) < len(missFilterMagic)+sha256.Size || !bytes.HasPrefix(b, missFilterMagic) {
		return nil, errCorrupt
	}
	body := b[:len(b)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[len(body):]) {
		return nil, errCorrupt
	}
	r := body[len(missFilterMagic):]
	next := func(n int) []byte {
		if n < 0 || len(r) < n {
			r = nil
			return nil
		}
		v := r[:n]
		r = r[n:]
		return v
	}
	u64 := func() uint64 {
		if v := next(8); v != nil {
			return binary.LittleEndian.Uint64(v)
		}
		return 0
	}
	u32 := func() int {
		if v := next(4); v != nil {
			return int(binary.LittleEndian.Uint32(v))
		}
		return -1
	}
	if u64() != version {
		return nil, errStaleFilter
	}
	f := &missFilter{seed: u64()}
	n := u32()
	if n != len(prefixes) {
		return nil, errStaleFilter
	}
	for i := 0; i < n; i++ {
		if p := next(u32()); p == nil || !bytes.Equal(p, prefixes[i]) {
			return nil, errStaleFilter
		}
	}
	f.prefixes = prefixes
	var err error
	if f.keys, r, err = bloom.Decode(r); err != nil || len(r) != 0 {
		return nil, errCorrupt
	}
	f.ready.Store(true)
	return f, nil
}
