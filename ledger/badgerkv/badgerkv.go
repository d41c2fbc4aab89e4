// Package badgerkv stores the ledger's state in Badger v4.
//
// It implements the ledger's Store, Reader and Writer interfaces over Badger
// transactions, and adds what replication needs beyond them: a consistent
// snapshot streamed as length-prefixed pairs, and an atomic restore that
// loads a snapshot into a fresh directory and swaps it in.
//
// # Concurrency
//
// A DB is safe for concurrent use. mu guards the *badger.DB pointer: every
// transaction holds it for reading, Restore holds it for writing while it
// swaps directories, so no reader ever sees a half-restored state.
package badgerkv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/traceledger/traceledger/ledger"
)

// Options configure a DB.
type Options struct {
	// Dir is the directory of the live state; Restore uses Dir+".restore"
	// and Dir+".old" beside it.
	Dir string
	// InMemory keeps everything in memory (tests); Dir is ignored.
	InMemory bool
	// SyncWrites makes each commit fsync. The Raft log is the durable
	// record: after a crash, entries past the last synced commit are
	// replayed from it (the state machine skips what m/applied already
	// covers), so the default is off.
	SyncWrites bool
	Logger     *slog.Logger
}

// DB is a Badger-backed ledger store.
type DB struct {
	opts  Options
	mu    sync.RWMutex // guards db (the pointer, not the database)
	db    *badger.DB
	snaps sync.WaitGroup // open snapshots: Restore waits for them before closing db
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
	if !opts.InMemory {
		if err := recoverRestore(opts.Dir); err != nil {
			return nil, err
		}
	}
	db, err := openBadger(opts, opts.Dir)
	if err != nil {
		return nil, err
	}
	return &DB{opts: opts, db: db}, nil
}

func openBadger(opts Options, dir string) (*badger.DB, error) {
	bo := badger.DefaultOptions(dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(opts.SyncWrites).
		WithNumCompactors(2).
		WithNumMemtables(3).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithIndexCacheSize(64 << 20).
		WithBlockCacheSize(64 << 20).
		WithValueThreshold(64 << 10).
		WithCompression(options.None).
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

// Close closes the database.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.db.Close()
}

// View runs fn in a read-only transaction.
func (d *DB) View(fn func(ledger.Reader) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.db.View(func(t *badger.Txn) error { return fn(&txn{t}) })
}

// Update runs fn in a read-write transaction and commits it atomically.
// ErrTxnTooBig from Badger is returned wrapped; callers size their work so
// that it does not happen (see consensus).
func (d *DB) Update(fn func(ledger.Writer) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	err := d.db.Update(func(t *badger.Txn) error { return fn(&txn{t}) })
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%w: %v", ledger.ErrTxnTooBig, err)
	}
	return err
}

// RunGC reclaims space in the value log. It is safe to call concurrently
// with everything else.
func (d *DB) RunGC() {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for d.db.RunValueLogGC(0.5) == nil {
	}
}

type txn struct{ t *badger.Txn }

func (x *txn) Get(key []byte) ([]byte, bool, error) {
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

// snapshot is a consistent, point-in-time view of the whole store. It holds
// a Badger read transaction until Close.
type snapshot struct {
	d  *DB
	tx *badger.Txn
}

// Snapshot opens a read transaction. It is cheap: the I/O happens in
// WriteTo, which may run concurrently with further writes.
func (d *DB) Snapshot() ledger.Snapshot {
	d.mu.RLock()
	defer d.mu.RUnlock()
	d.snaps.Add(1)
	return &snapshot{d: d, tx: d.db.NewTransaction(false)}
}

// Close releases the read transaction. Call it exactly once.
func (s *snapshot) Close() {
	s.tx.Discard()
	s.d.snaps.Done()
}

// Snapshot stream format: a sequence of pairs, each
//
//	keylen:uvarint ‖ key ‖ vallen:uvarint ‖ val
//
// ending with keylen 0. A stream that ends early is rejected by Restore.

// WriteTo streams every key and value to w.
func (s *snapshot) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	it := s.tx.NewIterator(badger.DefaultIteratorOptions)
	defer it.Close()
	var n int64
	var hdr [binary.MaxVarintLen64]byte
	put := func(b []byte) error {
		k := binary.PutUvarint(hdr[:], uint64(len(b)))
		if _, err := bw.Write(hdr[:k]); err != nil {
			return err
		}
		_, err := bw.Write(b)
		n += int64(k + len(b))
		return err
	}
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil {
			return n, fmt.Errorf("snapshot read: %w", err)
		}
		if err := put(item.Key()); err != nil {
			return n, err
		}
		if err := put(v); err != nil {
			return n, err
		}
	}
	if err := bw.WriteByte(0); err != nil {
		return n, err
	}
	return n + 1, bw.Flush()
}

// Restore replaces the whole store with the pairs read from r. It loads them
// into a fresh Badger directory first; only when that load is complete and
// synced does it swap the directories, so a crash at any point leaves either
// the old state or the new one, never a mix.
func (d *DB) Restore(r io.Reader) error {
	if d.opts.InMemory {
		return d.restoreInMemory(r)
	}
	tmp := d.opts.Dir + ".restore"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	ndb, err := openBadger(d.opts, tmp)
	if err != nil {
		return err
	}
	if err := load(ndb, r); err != nil {
		ndb.Close()
		os.RemoveAll(tmp)
		return err
	}
	if err := ndb.Close(); err != nil {
		return fmt.Errorf("close restored store: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "RESTORE-COMPLETE"), nil, 0o600); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// A snapshot being persisted reads the old database: let it finish.
	d.snaps.Wait()
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close store for restore: %w", err)
	}
	if err := recoverRestore(d.opts.Dir); err != nil {
		return err
	}
	db, err := openBadger(d.opts, d.opts.Dir)
	if err != nil {
		return err
	}
	d.db = db
	return nil
}

// restoreInMemory loads into a fresh in-memory database and swaps it in
// only when the load succeeded.
func (d *DB) restoreInMemory(r io.Reader) error {
	ndb, err := openBadger(d.opts, "")
	if err != nil {
		return err
	}
	if err := load(ndb, r); err != nil {
		ndb.Close()
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.snaps.Wait()
	old := d.db
	d.db = ndb
	return old.Close()
}

// recoverRestore completes an interrupted swap: a restore directory marked
// complete replaces the live one; an unmarked one is discarded.
func recoverRestore(dir string) error {
	tmp, old := dir+".restore", dir+".old"
	if _, err := os.Stat(filepath.Join(tmp, "RESTORE-COMPLETE")); err == nil {
		if _, err := os.Stat(dir); err == nil {
			if err := os.RemoveAll(old); err != nil {
				return err
			}
			if err := os.Rename(dir, old); err != nil {
				return fmt.Errorf("restore swap: %w", err)
			}
		}
		if err := os.Rename(tmp, dir); err != nil {
			return fmt.Errorf("restore swap: %w", err)
		}
		if err := os.Remove(filepath.Join(dir, "RESTORE-COMPLETE")); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

func load(db *badger.DB, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	read := func() ([]byte, error) {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, err
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("snapshot item of %d bytes", n)
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return b, err
	}
	for {
		k, err := read()
		if err != nil {
			return fmt.Errorf("restore: read key: %w", err)
		}
		if len(k) == 0 {
			break
		}
		v, err := read()
		if err != nil {
			return fmt.Errorf("restore: read value: %w", err)
		}
		if err := wb.Set(k, v); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("restore: flush: %w", err)
	}
	return db.Sync()
}
