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
// The filter grows by segments, each twice as large as the last, so it
// never needs rebuilding: a key is in the filter when any segment has
// all of its bits. Each segment holds its capacity at a false-positive
// rate of about 1 % (10 bits and 7 probes per key of capacity); with the
// doubling, 10⁶ keys take at most 2.5 MB.
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
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"
)

const (
	missProbes      = 7
	missBitsPerKey  = 10
	missFirstKeys   = 1 << 16 // capacity of the first segment
	missSegmentsMax = 24      // 2^16·2^24 keys: never reached
)

type missFilter struct {
	prefixes [][]byte
	seed     uint64      // of the probe positions: random per filter, kept with it
	ready    atomic.Bool // built: a key it lacks is not in the store

	mu   sync.Mutex                     // guards growth (segs' replacement)
	segs atomic.Pointer[[]*missSegment] // the newest last
}

type missSegment struct {
	bits []atomic.Uint64
	m    uint64       // bits
	keys atomic.Int64 // added
	max  int64        // capacity
}

func newMissFilter(prefixes [][]byte) *missFilter {
	if len(prefixes) == 0 {
		return nil
	}
	var seed [8]byte
	rand.Read(seed[:])
	f := &missFilter{prefixes: prefixes, seed: binary.LittleEndian.Uint64(seed[:])}
	segs := []*missSegment{newMissSegment(missFirstKeys)}
	f.segs.Store(&segs)
	return f
}

func newMissSegment(keys int64) *missSegment {
	m := uint64(keys) * missBitsPerKey
	m = (m + 63) &^ 63
	return &missSegment{bits: make([]atomic.Uint64, m/64), m: m, max: keys}
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

// add notes key, growing the filter when its newest segment is full.
func (f *missFilter) add(key []byte) {
	segs := *f.segs.Load()
	s := segs[len(segs)-1]
	if s.keys.Add(1) > s.max {
		s = f.grow(s)
	}
	h1, h2 := f.probes(key)
	for i := range uint64(missProbes) {
		b := (h1 + i*h2) % s.m
		s.bits[b/64].Or(1 << (b % 64))
	}
}

// grow appends a segment twice the size of full, unless another add
// already has, and returns the newest segment.
func (f *missFilter) grow(full *missSegment) *missSegment {
	f.mu.Lock()
	defer f.mu.Unlock()
	segs := *f.segs.Load()
	last := segs[len(segs)-1]
	if last != full || len(segs) >= missSegmentsMax {
		return last
	}
	next := append(append([]*missSegment(nil), segs...), newMissSegment(full.max*2))
	f.segs.Store(&next)
	return next[len(next)-1]
}

// absent reports whether key is surely not in the store: the filter is
// built and no segment holds it.
func (f *missFilter) absent(key []byte) bool {
	if !f.ready.Load() {
		return false
	}
	h1, h2 := f.probes(key)
	for _, s := range *f.segs.Load() {
		held := true
		for i := range uint64(missProbes) {
			b := (h1 + i*h2) % s.m
			if s.bits[b/64].Load()&(1<<(b%64)) == 0 {
				held = false
				break
			}
		}
		if held {
			return false
		}
	}
	return true
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
	segs := *f.segs.Load()
	b = binary.LittleEndian.AppendUint32(b, uint32(len(segs)))
	for _, s := range segs {
		b = binary.LittleEndian.AppendUint64(b, s.m)
		b = binary.LittleEndian.AppendUint64(b, uint64(s.keys.Load()))
		b = binary.LittleEndian.AppendUint64(b, uint64(s.max))
		for i := range s.bits {
			b = binary.LittleEndian.AppendUint64(b, s.bits[i].Load())
		}
	}
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
	nsegs := u32()
	if nsegs < 1 || nsegs > missSegmentsMax {
		return nil, errCorrupt
	}
	segs := make([]*missSegment, nsegs)
	for i := range segs {
		m, keys, max := u64(), int64(u64()), int64(u64())
		if m == 0 || m%64 != 0 || max < 1 || m/64 > uint64(len(r)/8) {
			return nil, errCorrupt
		}
		s := &missSegment{bits: make([]atomic.Uint64, m/64), m: m, max: max}
		s.keys.Store(keys)
		for j := range s.bits {
			s.bits[j].Store(u64())
		}
		segs[i] = s
	}
	if len(r) != 0 {
		return nil, errCorrupt
	}
	f.segs.Store(&segs)
	f.ready.Store(true)
	return f, nil
}
