package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// LotMapStore is a SnapshotStore that keeps the lot-head map in memory
// (lotmap.go) beside the store it wraps: a node's state machine writes
// through it, and everything that proves lot heads reads through it.
//
// The map is derived from the lot heads (x/t/) and nothing else, so it
// follows them by construction: every write of a lot head through Update
// updates it, once the transaction has committed. Lot heads change only
// when an entry is appended, which also moves m/size; an Update that
// changes a lot head and not the size is refused.
//
// Reads see the map at the size their transaction sees. Update builds
// the next version while its transaction commits (or before, on a store
// that cannot overlap them) and publishes it just after, so a reader can
// open its transaction in between; View notices (the size differs),
// waits for that publication and opens another. A version is a
// persistent tree: a reader keeps its own as long as it runs, whatever is
// written meanwhile.
//
// Building the version before the commit returns keeps that window to
// the return itself. Built after it, the window was as long as the
// update of the map (milliseconds for a batch of thousands of lots), and
// under a steady ingest the checkpointer, which reads every 200 ms, ran
// out of retries and derived the whole map from the store, a scan of
// every lot head, on most rounds.
//
// It wraps any Store; Snapshot and Restore work when that is a
// SnapshotStore (a node's), and fail otherwise.
type LotMapStore struct {
	inner Store

	// cur is the map at the size of the store's latest committed state;
	// nil until the derivation NewLotMapStore starts is done, while
	// Restore derives it again, and when deriving failed. Readers then
	// wait for the derivation, or derive the map from their own
	// transaction.
	cur atomic.Pointer[lotMapVersion]

	// moved is closed, and replaced by a new channel, each time cur is
	// replaced (publish): a reader whose transaction is newer than the
	// version it loaded waits on it.
	moved atomic.Pointer[chan struct{}]

	// writeMu serialises Update and Restore: each builds the next version
	// on cur, which only they replace. The derivation NewLotMapStore
	// starts holds it until the map is published.
	writeMu sync.Mutex

	// derived is closed once the map NewLotMapStore derives is published
	// (or its derivation failed, deriveErr).
	derived   chan struct{}
	deriveErr error

	bucketDepth int // of the map's tree (lotTreeBucketDepth)

	// seen holds the lots of cur, and perhaps a few more: it answers a
	// writer's lookups of new lots (lotFilter). nil while cur is. Guarded
	// by writeMu.
	seen *lotFilter

	// coverNoted: the store holds m/lotcover. When the map was checked to
	// cover the lot states and the store does not say so yet, the next
	// Update writes it, so that the next derivation need not check again
	// (a scan of every lot state). Guarded by writeMu.
	coverNoted bool

	// commits counts the updates and restores made through s, for
	// Version when the wrapped store counts none.
	commits atomic.Uint64

	// derivations counts the maps readers derived from their own
	// transaction because none was kept at its size: a scan of every lot
	// head each, which a reader should need only before the first map is
	// derived or after a failed one.
	derivations atomic.Uint64
}

var _ SnapshotStore = (*LotMapStore)(nil)

// NewLotMapStore returns s with the lot-head map, which it starts to
// derive from the lot heads s holds, on a goroutine of its own: the
// derivation costs a scan of the lot heads, a sort and a few hashes per
// lot (about 2 s for 10⁶ lots), and a node serves what needs no map
// meanwhile. Until it is done, Update waits, and so does a reader that
// asks for the map (LotHeadsAt). Wait waits for it, and must return before
// s is closed. Every write to s from now on must go through the
// LotMapStore.
func NewLotMapStore(s Store) *LotMapStore {
	return newLotMapStore(s, lotTreeBucketDepth)
}

func newLotMapStore(s Store, bucketDepth int) *LotMapStore {
	m := &LotMapStore{inner: s, bucketDepth: bucketDepth, derived: make(chan struct{})}
	moved := make(chan struct{})
	m.moved.Store(&moved)
	m.writeMu.Lock()
	go func() {
		defer close(m.derived)
		defer m.writeMu.Unlock()
		m.deriveErr = m.rebuild()
	}()
	return m
}

// Wait waits until the map NewLotMapStore derives is published, and
// returns the error that kept it from being derived, if any: the store's
// readers then derive the map themselves, and fail the same way if the
// lot heads are corrupt.
func (s *LotMapStore) Wait() error {
	<-s.derived
	return s.deriveErr
}

func (s *LotMapStore) rebuild() error {
	s.seen = nil
	var v *lotMapVersion
	if err := s.inner.View(func(r Reader) (err error) {
		if v, err = buildLotMap(r, s.bucketDepth); err != nil {
			return err
		}
		s.coverNoted = v.covers
		if !v.covers {
			v.covers, err = coversLotStates(r, v)
		}
		return err
	}); err != nil {
		return fmt.Errorf("build the lot-head map: %w", err)
	}
	s.seen = newLotFilter(v.root.size())
	v.root.eachLeaf(func(l lotLeaf) { s.seen.add(l.path) })
	s.publish(v)
	return nil
}

// publish makes v the current version and wakes the readers waiting for
// the next one. Only the holder of writeMu calls it.
func (s *LotMapStore) publish(v *lotMapVersion) {
	s.cur.Store(v)
	next := make(chan struct{})
	close(*s.moved.Swap(&next))
}

// lotMapReader is a transaction of a LotMapStore with the map at its
// size (v), or nil when the store had none when it opened.
type lotMapReader struct {
	Reader
	v *lotMapVersion
	s *LotMapStore
}

// lotMapOf returns the lot-head map at r's size: the LotMapStore's, or
// derived from r's lot heads. A reader that opened while the store was
// deriving its map waits for it, and takes it if nothing was written
// since (Update waits for it too, so nothing was unless a restore came
// in between).
func lotMapOf(r Reader) (*lotMapVersion, error) {
	m, ok := r.(lotMapReader)
	if !ok {
		return buildLotMap(r, lotTreeBucketDepth)
	}
	if m.v != nil {
		return m.v, nil
	}
	m.s.Wait()
	if v := m.s.cur.Load(); v != nil {
		size, err := Size(m.Reader)
		if err != nil {
			return nil, err
		}
		if v.size == size {
			return v, nil
		}
	}
	m.s.derivations.Add(1)
	return buildLotMap(m.Reader, m.s.bucketDepth)
}

// errMapMoved: a View's transaction is newer than the map it loaded; it
// waits for the map's next version and opens another.
var errMapMoved = errors.New("lot-head map moved under the transaction")

// maxViewRetries bounds how often a View opens another transaction for
// its map, and mapWait how long it waits each time for the version that
// follows a commit (which Update publishes as soon as the commit
// returns). After that it derives the map itself, if it needs one.
const (
	maxViewRetries = 100
	mapWait        = time.Second
)

// View runs fn in a read-only transaction, with the lot-head map at the
// transaction's size.
func (s *LotMapStore) View(fn func(Reader) error) error {
	for attempt := 0; ; attempt++ {
		// moved is loaded before cur: a version published after cur is
		// loaded closes it (or one loaded earlier, already closed).
		moved := *s.moved.Load()
		v := s.cur.Load()
		err := s.inner.View(func(r Reader) error {
			if v != nil {
				size, err := Size(r)
				if err != nil {
					return err
				}
				// A restore may bring the store back to the same size
				// with other lot heads, and publishes a new version.
				if s.cur.Load() != v || size != v.size {
					if attempt < maxViewRetries {
						return errMapMoved
					}
					v = nil
				}
			}
			return fn(lotMapReader{Reader: r, v: v, s: s})
		})
		if !errors.Is(err, errMapMoved) {
			return err
		}
		t := time.NewTimer(mapWait)
		select {
		case <-moved:
			t.Stop()
		case <-t.C:
			// No publication: the store changed by some other way than
			// Update. Derive the map from the transaction.
			attempt = maxViewRetries
		}
	}
}

// lotMapWriter is a transaction of a LotMapStore: it notes the lot heads
// and the size written, for the map's next version, and answers what the
// map knows without reading the store.
type lotMapWriter struct {
	Writer
	ups   map[[32]byte]uint64 // lot heads written: path to seq, the last write winning
	size  uint64
	sized bool

	// base is the map at the size the transaction started from, or nil
	// when the store had none at that size: with ups, it holds every lot
	// head the transaction sees.
	base *lotMapVersion
	// seen, when not nil, holds every lot of base (LotMapStore.seen).
	seen *lotFilter
}

// Get reads a lot head from the map, and any other key from the store. A
// lot head of a lot the transaction has not written is a read of the
// store that hits no key for most lots an entry names first (a harvest's,
// a transformation's outputs), and such a read visits every level of
// Badger.
func (w *lotMapWriter) Get(key []byte) ([]byte, bool, error) {
	if w.base == nil || !bytes.HasPrefix(key, prefixLotHead) || len(key) < len(prefixLotHead)+14 {
		return w.Writer.Get(key)
	}
	if seq, ok := w.head(lotKeyPath(key[len(prefixLotHead):])); ok {
		return u64(seq), true, nil
	}
	return nil, false, nil
}

// head returns the head of the lot with path p as the transaction sees
// it: what it wrote, else base's (which must not be nil).
func (w *lotMapWriter) head(p [32]byte) (uint64, bool) {
	if seq, ok := w.ups[p]; ok {
		return seq, true
	}
	if w.seen != nil && !w.seen.mayContain(p) {
		return 0, false
	}
	return w.base.head(p)
}

// lotStateAbsent reports whether the transaction knows, without reading
// the store, that ref has no lot state: the map covers every lot state
// (lotMapVersion.covers) and neither it nor the transaction has a head
// for ref. A harvest asks it of its lot, which is new but for a refused
// duplicate.
func (w *lotMapWriter) lotStateAbsent(ref LotRef) bool {
	if w.base == nil || !w.base.covers {
		return false
	}
	_, ok := w.head(LotPath(ref))
	return !ok
}

// leaves returns the lot heads written, sorted.
func (w *lotMapWriter) leaves() []lotLeaf {
	out := make([]lotLeaf, 0, len(w.ups))
	for p, seq := range w.ups {
		out = append(out, lotLeaf{path: p, seq: seq})
	}
	return sortLeaves(out)
}

func (w *lotMapWriter) Set(key, val []byte) error {
	switch {
	case bytes.HasPrefix(key, prefixLotHead):
		l, err := lotHeadLeaf(key, val)
		if err != nil {
			return err
		}
		if w.ups == nil {
			w.ups = map[[32]byte]uint64{}
		}
		w.ups[l.path] = l.seq
	case bytes.Equal(key, keySize):
		if len(val) != 8 {
			return errCorrupt("log size of %d bytes", len(val))
		}
		w.size, w.sized = binary.BigEndian.Uint64(val), true
	}
	return w.Writer.Set(key, val)
}

// commitOverlapper is a Store that runs work of the caller's while it
// writes a commit (badgerkv.DB): LotMapStore builds the map's next version
// there, off the state machine's path.
type commitOverlapper interface {
	// UpdateDuring is Update, and runs during, once fn has succeeded,
	// while the commit is written.
	UpdateDuring(fn func(Writer) error, during func()) error
}

// errHeadsWithoutEntry: an Update changed a lot head without appending
// an entry.
var errHeadsWithoutEntry = errors.New("ledger: lot heads changed without a new entry")

// Update runs fn in a read-write transaction; once it has committed, the
// lot-head map takes the lot heads it wrote.
func (s *LotMapStore) Update(fn func(Writer) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var t *lotMapWriter
	var next *lotMapVersion
	noting := false
	write := func(w Writer) error {
		t, next, noting = &lotMapWriter{Writer: w}, nil, false
		if v := s.cur.Load(); v != nil {
			// The map is at the store's latest state unless the store was
			// written by other means.
			if size, err := Size(w); err != nil {
				return err
			} else if size == v.size {
				t.base, t.seen = v, s.seen
			}
		}
		if t.base != nil && t.base.covers && !s.coverNoted {
			if err := w.Set(keyLotCover, []byte{1}); err != nil {
				return err
			}
			noting = true
		}
		if err := fn(t); err != nil {
			return err
		}
		if len(t.ups) > 0 && !t.sized {
			return errHeadsWithoutEntry
		}
		return nil
	}
	// build makes the next version from what write noted, so that it is
	// published as soon as the commit returns. With no map to build on (a
	// failed derivation) readers keep deriving their own.
	var ups []lotLeaf
	build := func() {
		if base := s.cur.Load(); base != nil && (len(t.ups) > 0 || t.sized) {
			size := base.size
			if t.sized {
				size = t.size
			}
			ups = t.leaves()
			next = base.with(ups, size)
		}
	}
	var err error
	if o, ok := s.inner.(commitOverlapper); ok {
		err = o.UpdateDuring(write, build)
	} else {
		err = s.inner.Update(func(w Writer) error {
			if err := write(w); err != nil {
				return err
			}
			build()
			return nil
		})
	}
	if err != nil {
		return err
	}
	s.commits.Add(1)
	if noting {
		s.coverNoted = true
	}
	if next != nil {
		if s.seen != nil {
			for _, l := range ups {
				s.seen.add(l.path)
			}
		}
		s.publish(next)
	}
	return nil
}

// errNoSnapshots: the wrapped store is not a SnapshotStore.
var errNoSnapshots = errors.New("ledger: the store takes no snapshots")

// Snapshot opens a point-in-time view of the wrapped store.
func (s *LotMapStore) Snapshot() Snapshot {
	if ss, ok := s.inner.(SnapshotStore); ok {
		return ss.Snapshot()
	}
	return noSnapshot{}
}

// noSnapshot is the Snapshot of a store that takes none: it fails.
type noSnapshot struct{}

func (noSnapshot) View(func(Reader) error) error    { return errNoSnapshots }
func (noSnapshot) WriteTo(io.Writer) (int64, error) { return 0, errNoSnapshots }
func (noSnapshot) Close()                           {}

// Restore replaces the wrapped store's state and derives the map anew
// from the lot heads it then holds, whether or not the restore succeeded.
func (s *LotMapStore) Restore(r io.Reader) error {
	ss, ok := s.inner.(SnapshotStore)
	if !ok {
		return errNoSnapshots
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.publish(nil)
	err := ss.Restore(r)
	s.commits.Add(1)
	if rerr := s.rebuild(); err == nil {
		err = rerr
	}
	return err
}

// Version is the wrapped store's (Versioned), or the count of updates and
// restores made through s when it counts none.
func (s *LotMapStore) Version() uint64 {
	if v, ok := s.inner.(Versioned); ok {
		return v.Version()
	}
	return s.commits.Load()
}

// Persistent reports whether the wrapped store's state outlives the
// process.
func (s *LotMapStore) Persistent() bool {
	p, ok := s.inner.(interface{ Persistent() bool })
	return ok && p.Persistent()
}

// Sync makes the wrapped store's committed updates durable, when it keeps
// them at all.
func (s *LotMapStore) Sync() error {
	if d, ok := s.inner.(interface{ Sync() error }); ok {
		return d.Sync()
	}
	return nil
}
