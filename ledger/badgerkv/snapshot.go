package badgerkv

// Snapshots and restore: what replication needs beyond transactions. A
// snapshot streams every pair of a point-in-time view; Restore loads such
// a stream into a new generation and switches to it atomically (see the
// package comment, "Layout and restore").

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/traceledger/traceledger/ledger"
)

// snapshot is a consistent, point-in-time view of the whole store. It holds
// a Badger read transaction, and its generation open, until Close.
type snapshot struct {
	g  *generation
	tx *badger.Txn
}

// Snapshot opens a read transaction. It is cheap: the I/O happens in
// WriteTo, which may run concurrently with further writes and restores.
func (d *DB) Snapshot() ledger.Snapshot {
	d.mu.RLock()
	defer d.mu.RUnlock()
	d.cur.acquire()
	return &snapshot{g: d.cur, tx: d.cur.db.NewTransaction(false)}
}

// View runs fn over the snapshot's read transaction. Not concurrently
// with WriteTo: a Badger transaction serves one iterator at a time.
func (s *snapshot) View(fn func(ledger.Reader) error) error { return fn(&txn{t: s.tx}) }

// EstimateSize returns the bytes the live state takes on disk (LSM tree
// and value log): a rough guide to the length of a snapshot stream.
func (d *DB) EstimateSize() int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	lsm, vlog := d.cur.db.Size()
	return lsm + vlog
}

// Close releases the read transaction. Call it exactly once.
func (s *snapshot) Close() {
	s.tx.Discard()
	s.g.release()
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

// Restore replaces the whole store with the pairs read from r. It loads
// them into a new generation; only when that load is complete and synced
// does CURRENT move to it (see the package comment), so a crash at any
// point leaves either the old state or the new one, never a mix.
func (d *DB) Restore(r io.Reader) error {
	dir := ""
	if !d.opts.InMemory {
		d.mu.RLock()
		cur := filepath.Base(d.cur.dir)
		d.mu.RUnlock()
		n, err := strconv.Atoi(strings.TrimPrefix(cur, "g"))
		if err != nil {
			return fmt.Errorf("restore: generation %q: %w", cur, err)
		}
		dir = filepath.Join(d.opts.Dir, fmt.Sprintf("g%06d", n+1))
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	ndb, err := openBadger(d.opts, dir)
	if err != nil {
		return err
	}
	miss := newMissFilter(d.opts.MissFilter)
	if err := load(ndb, r, miss); err != nil {
		ndb.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
		return err
	}
	if dir != "" {
		if err := setCurrent(d.opts.Dir, filepath.Base(dir)); err != nil {
			ndb.Close()
			os.RemoveAll(dir)
			return fmt.Errorf("restore: switch generation: %w", err)
		}
	}
	d.mu.Lock()
	old := d.cur
	d.cur = &generation{db: ndb, dir: dir, miss: miss, logger: d.opts.Logger}
	d.mu.Unlock()
	d.version.Add(1)
	if err := old.retire(true); err != nil {
		// The new state is live; the old one is garbage either way, and
		// Open removes its directory if closing it here failed.
		d.opts.Logger.Warn("close the replaced state", "dir", old.dir, "err", err)
	}
	return nil
}

// load writes the pairs read from r into db, and their keys into miss
// (when not nil), which is then ready.
func load(db *badger.DB, r io.Reader, miss *missFilter) error {
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
		miss.note(k)
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("restore: flush: %w", err)
	}
	if miss != nil {
		miss.ready.Store(true)
	}
	return db.Sync()
}
