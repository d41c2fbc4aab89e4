// Package badgerkv stores the ledger's state in Badger v4.
//
// It implements the ledger's Store, Reader and Writer interfaces over Badger
// transactions, and adds what replication needs beyond them: a consistent
// snapshot streamed as length-prefixed pairs, and an atomic restore.
//
// # Layout and restore
//
// The state lives in a generation directory under Options.Dir, named by the
// file CURRENT:
//
//	<Dir>/CURRENT        "g000003\n"
//	<Dir>/g000003/       the live Badger database
//
// Restore loads a snapshot into the next generation's directory, then
// renames a new CURRENT into place (the commit point) and switches readers
// to it. A crash before the rename leaves the old generation live; Open
// removes every directory CURRENT does not name.
//
// # Concurrency
//
// A DB is safe for concurrent use. mu guards the pointer to the live
// generation: transactions hold it for reading, Restore holds it for
// writing only to switch generations. A snapshot being streamed keeps its
// generation open (a reference count) until it is closed, so Restore never
// waits for one: hashicorp/raft may stream a snapshot that cannot finish
// until the restore it runs beside has returned.
//
// A node's DB also runs background loops (background.go), each in a
// goroutine the DB owns and Close stops: value-log garbage collection, and
// returning free memory to the OS once writes and compactions have stopped.
package badgerkv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/traceledger/traceledger/ledger"
)

// Options configure a DB.
type Options struct {
	// Dir holds the state's generation directories and CURRENT.
	Dir string
	// InMemory keeps everything in memory (tests); Dir is ignored.
	InMemory bool
	// SyncWrites makes each commit fsync. The Raft log is the durable
	// record: after a crash, entries past the last synced commit are
	// replayed from it (the state machine skips what m/applied already
	// covers), so the default is off.
	SyncWrites bool
	// Uncompressed writes tables without compression, so that their bytes
	// can be read (and damaged) as written: forensics, and the test that a
	// bit flipped on disk is caught by audit. Stores open either way.
	Uncompressed bool
	// GCInterval, when positive, runs value-log garbage collection that
	// often for as long as the DB is open (see collectGarbage); a node
	// sets it, tools that open a store briefly do not.
	GCInterval time.Duration
	// ReleaseIdle, when positive, returns the process's free heap memory
	// to the operating system when no update has been committed for this
	// long, and again each time this long passes while Badger's
	// compactions catch up (see releaseWhenIdle). A node sets it, tools
	// do not.
	ReleaseIdle time.Duration
	// MissFilter names key prefixes whose reads mostly find nothing (the
	// ledger's record-id index, ledger.MissPrefixes): the DB keeps a
	// filter of their keys in memory and answers a read of a key it
	// lacks without Badger (missfilter.go). A node sets it, tools do not.
	MissFilter [][]byte
	Logger     *slog.Logger
}

// DB is a Badger-backed ledger store.
type DB struct {
	opts Options
	mu   sync.RWMutex // guards cur (the pointer, not the database)
	cur  *generation

	stopBackground context.CancelFunc // stops the background loops (background.go); nil without any
	background     sync.WaitGroup     // the background loops running
	release        func()             // returns free memory to the OS: debug.FreeOSMemory

	version atomic.Uint64 // changes made: see Version
}

// generation is one Badger database: the live one, or one being retired
// that an open snapshot still reads.
type generation struct {
	db     *badger.DB
	dir    string      // "" in memory
	miss   *missFilter // of db's keys under Options.MissFilter; nil without
	logger *slog.Logger

	mu      sync.Mutex // guards refs and retired
	refs    int        // open snapshots
	retired bool       // no longer live: close when refs reaches 0
	remove  bool       // and delete dir then
}

func (g *generation) acquire() {
	g.mu.Lock()
	g.refs++
	g.mu.Unlock()
}

func (g *generation) release() {
	g.mu.Lock()
	g.refs--
	done := g.retired && g.refs == 0
	g.mu.Unlock()
	if done {
		g.close()
	}
}

// retire marks g as no longer live and closes it now, or when its last
// snapshot is closed. With remove, its directory is deleted after closing.
func (g *generation) retire(remove bool) error {
	g.mu.Lock()
	g.retired, g.remove = true, remove
	done := g.refs == 0
	g.mu.Unlock()
	if done {
		return g.close()
	}
	return nil
}

func (g *generation) close() error {
	if !g.remove && g.dir != "" && g.miss != nil && g.miss.ready.Load() && !g.db.IsClosed() {
		// Kept for the next Open; without it, that Open builds the filter.
		if err := g.miss.save(g.dir, g.db.MaxVersion()); err != nil {
			g.logger.Warn("the next start rebuilds the filter of keys reads miss", "err", err)
		}
	}
	err := g.db.Close()
	if g.remove && g.dir != "" {
		if rerr := os.RemoveAll(g.dir); err == nil {
			err = rerr
		}
	}
	return err
}

var (
	_ ledger.SnapshotStore = (*DB)(nil)
	_ ledger.Writer        = (*txn)(nil)
)

// Open opens (creating if needed) the store in opts.Dir. It finishes or
// discards a restore that a crash interrupted.
func Open(opts Options) (*DB, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.InMemory {
		db, err := openBadger(opts, "")
		if err != nil {
			return nil, err
		}
		return newDB(opts, &generation{db: db, miss: newMissFilter(opts.MissFilter), logger: opts.Logger}), nil
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	name, err := currentGeneration(opts.Dir)
	if err != nil {
		return nil, err
	}
	// Generations CURRENT does not name are leftovers of a restore that a
	// crash interrupted, or of one that replaced them.
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "g") && e.Name() != name {
			if err := os.RemoveAll(filepath.Join(opts.Dir, e.Name())); err != nil {
				return nil, err
			}
		}
	}
	dir := filepath.Join(opts.Dir, name)
	db, err := openBadger(opts, dir)
	if err != nil {
		return nil, err
	}
	return newDB(opts, &generation{db: db, dir: dir, miss: openMissFilter(dir, opts, db), logger: opts.Logger}), nil
}

// openMissFilter returns the filter Close kept in dir when it still
// describes db, else a new one for the background loop to build (nil
// without Options.MissFilter). A file it does not take is removed.
func openMissFilter(dir string, opts Options, db *badger.DB) *missFilter {
	if len(opts.MissFilter) == 0 {
		// A tool's Open: the node's next Open will find the file stale
		// if this one commits anything.
		return nil
	}
	kept, err := loadMissFilter(dir, opts.MissFilter, db.MaxVersion())
	if err != nil {
		opts.Logger.Info("building the filter of keys reads miss", "why", err)
	}
	if kept != nil {
		return kept
	}
	return newMissFilter(opts.MissFilter)
}

// newDB wraps the live generation and starts the background work the
// options ask for.
func newDB(opts Options, g *generation) *DB {
	d := &DB{opts: opts, cur: g, release: debug.FreeOSMemory}
	d.startBackground()
	return d
}

// currentGeneration reads CURRENT, creating it for a new store.
func currentGeneration(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "CURRENT"))
	if errors.Is(err, os.ErrNotExist) {
		const first = "g000001"
		return first, setCurrent(dir, first)
	}
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(b))
	if !strings.HasPrefix(name, "g") || strings.ContainsAny(name, `/\.`) {
		return "", fmt.Errorf("%s/CURRENT names %q", dir, name)
	}
	return name, nil
}

// setCurrent atomically points CURRENT at a generation.
func setCurrent(dir, name string) error {
	return replaceFile(dir, "CURRENT", []byte(name+"\n"))
}

// replaceFile gives dir/name the content b, whole or not at all, across a
// power cut: b goes to a temporary file, synced, renamed over name, and
// then dir is synced so that the rename survives.
func replaceFile(dir, name string, b []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncFile(dir)
}

func compression(opts Options) options.CompressionType {
	if opts.Uncompressed {
		return options.None
	}
	return options.ZSTD
}

func openBadger(opts Options, dir string) (*badger.DB, error) {
	bo := badger.DefaultOptions(dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(opts.SyncWrites).
		WithNumCompactors(2).
		// Memory: memtables are Go memory (up to 3 × 64 MB while
		// ingesting, one at rest), and so are the caches of table indexes
		// and decompressed blocks (32 MB each); with Badger's default
		// 256 MB block cache a node of 10⁶ entries stayed above 1 GB
		// resident. Reads that miss the block cache decompress a 4 KB
		// block; lookups are served from the API's own read cache first
		// (bench storage and lookup, BENCHMARKS.md). 32 MB memtables
		// left a node at rest no smaller once it returns its free memory
		// (background.go), and cost a tenth of the ingest rate at 2·10⁵
		// entries: twice the flushes to L0, and so more compaction.
		WithMemTableSize(64 << 20).
		// A compaction keeps up to 8 + splits table builders in flight,
		// each starting with twice its table's size in memory: with the
		// default 2 MB base tables (4 MB a level deeper) a node restarted
		// after 2·10⁵ entries held 725–808 MB while it compacted what the
		// ingest left, and a node ingesting at 10⁶ entries peaked at
		// 3.1 GB; with 512 KB tables 401 MB and 2.4 GB, ingest no slower
		// (bench storage, BENCHMARKS.md). The cost is four times the
		// table files, a few hundred at 10⁶ entries.
		WithBaseTableSize(512 << 10).
		// Badger sizes its levels from the last one down, each a tenth of
		// the next, and compacts L0 into the deepest level whose target is
		// within BaseLevelSize. With the default 10 MB a store of 10⁶
		// entries (about 500 MB) has three levels below L0, and every
		// key is rewritten once more than with 64 MB, where it has two:
		// ingest at 10⁶ entries went from 3 587 to 5 159 records/s, with
		// the event values most events share no longer indexed
		// (bench storage, BENCHMARKS.md). A larger base level costs disk
		// reads in compactions, not memory.
		WithBaseLevelSize(64 << 20).
		WithNumMemtables(3).
		// L0 takes up to 8 tables before Badger compacts it, and stalls
		// writes at 18: a burst of 2·10⁵ records then ends before most
		// of its compaction, which runs once the burst is over, and
		// ingest went from 10 900 to 11 400 records/s. At 10⁶ entries,
		// where compactions must keep up all along, it wrote 9 000
		// records/s (8 000 with 3 tables, before the lot-head map was
		// built during the commit) with no more memory at rest (bench
		// ingest and storage, BENCHMARKS.md). A read looks in up to 8
		// tables of L0, each behind a Bloom filter.
		WithNumLevelZeroTables(8).
		WithNumLevelZeroTablesStall(18).
		WithIndexCacheSize(32 << 20).
		WithBlockCacheSize(32 << 20).
		WithValueThreshold(64 << 10).
		// Entries and lot states are JSON: zstd at its fastest level
		// roughly halves the tables for little CPU, most of it in
		// compactions off the write path (bench storage, BENCHMARKS.md).
		// Each table records its own compression, so stores written
		// without it open unchanged.
		WithCompression(compression(opts)).
		WithZSTDCompressionLevel(1).
		// One writer (the state machine) and snapshot reads: there are no
		// conflicting transactions to detect.
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithLogger(nil)
	if opts.InMemory {
		bo.Dir, bo.ValueDir = "", ""
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open badger %s: %w", dir, err)
	}
	return db, nil
}

// Close closes the database (once the snapshots still open are closed).
func (d *DB) Close() error {
	if d.stopBackground != nil {
		d.stopBackground()
		d.background.Wait()
	}
	d.mu.Lock()
	g := d.cur
	d.mu.Unlock()
	return g.retire(false)
}

// View runs fn in a read-only transaction.
func (d *DB) View(fn func(ledger.Reader) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cur.db.View(func(t *badger.Txn) error { return fn(&txn{t, d.cur.miss}) })
}

// Update runs fn in a read-write transaction and commits it atomically.
// A transaction larger than Badger accepts fails with ledger.ErrTxnTooBig.
func (d *DB) Update(fn func(ledger.Writer) error) error {
	return d.UpdateDuring(fn, func() {})
}

// UpdateDuring is Update, and runs during, once fn has succeeded, while
// the commit is written: Badger writes a commit to its log and memtable
// on a goroutine of its own, and the caller's work that needs fn's
// writes but not their commit (the lot-head map's next version,
// ledger.LotMapStore) is done meanwhile instead of after. during must
// not use the transaction.
func (d *DB) UpdateDuring(fn func(ledger.Writer) error, during func()) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	db := d.cur.db
	if db.IsClosed() {
		return badger.ErrDBClosed
	}
	t := db.NewTransaction(true)
	defer t.Discard()
	err := fn(&txn{t, d.cur.miss})
	if err == nil {
		committed := make(chan error, 1)
		t.CommitWith(func(err error) { committed <- err })
		during()
		err = <-committed
	}
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%w: %v", ledger.ErrTxnTooBig, err)
	}
	if err == nil {
		d.version.Add(1)
	}
	return err
}

// Version counts the updates committed and the restores made since the
// store was opened (ledger.Versioned). Each is counted after it became
// visible.
func (d *DB) Version() uint64 { return d.version.Load() }

// Persistent reports whether the state outlives the process: false for
// a store opened with Options.InMemory.
func (d *DB) Persistent() bool { return !d.opts.InMemory }

// Sync makes every committed update durable, whatever Options.SyncWrites
// says. The state machine calls it before it lets Raft drop the log
// entries those updates came from.
//
// Badger's own Sync covers the active memtable's write-ahead file and the
// value log, not the memtables already full and waiting to be written as
// tables (their write-ahead files are synced only when SyncWrites is on).
// Tables and the manifest Badger syncs itself; the waiting memtables'
// files are synced here, then the directory, so that their names survive
// a power cut too. A file flushed and deleted meanwhile is in a table.
func (d *DB) Sync() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.opts.InMemory {
		return nil
	}
	if d.cur.db.IsClosed() {
		return errors.New("sync state: the store is closed")
	}
	if err := d.cur.db.Sync(); err != nil {
		return fmt.Errorf("sync state: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(d.cur.dir, "*.mem"))
	if err != nil {
		return fmt.Errorf("sync state: %w", err)
	}
	for _, name := range append(names, d.cur.dir) {
		if err := syncFile(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sync state: %w", err)
		}
	}
	return nil
}

// syncFile fsyncs a file or directory by name.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// RunGC reclaims space in the value log. It is safe to call concurrently
// with everything else.
func (d *DB) RunGC() {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for d.cur.db.RunValueLogGC(0.5) == nil {
	}
}

// txn is a Badger transaction, with the filter of its generation's keys
// that reads mostly miss (nil: none).
type txn struct {
	t    *badger.Txn
	miss *missFilter
}

func (x *txn) Get(key []byte) ([]byte, bool, error) {
	if x.miss.rulesOut(key) {
		return nil, false, nil
	}
	item, err := x.t.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := item.ValueCopy(nil)
	return v, err == nil, err
}

func (x *txn) Set(key, val []byte) error {
	if val == nil {
		val = []byte{}
	}
	x.miss.note(key) // before the commit that makes key visible (missfilter.go)
	return x.t.Set(key, val)
}

func (x *txn) Scan(prefix, start []byte, fn func(key, val []byte) bool) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = false
	it := x.t.NewIterator(opts)
	defer it.Close()
	if start == nil {
		start = prefix
	}
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		var v []byte
		if item.ValueSize() > 0 {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		if !fn(item.Key(), v) {
			return nil
		}
	}
	return nil
}
