package ledger_test

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

func lotHeadsRootNow(t *testing.T, st ledger.Store) (tlog.Hash, uint64) {
	t.Helper()
	var root tlog.Hash
	var size uint64
	if err := st.View(func(r ledger.Reader) (err error) {
		if size, err = ledger.Size(r); err != nil {
			return err
		}
		root, err = ledger.LotHeadsRoot(r, size)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return root, size
}

// TestLotMapStoreRestore: a snapshot restored over a ledger with other
// lots replaces the map with the snapshot's (the next entries are mapped
// over the snapshot's lots, not the old ones); a restore that fails
// leaves the map as it was.
func TestLotMapStoreRestore(t *testing.T) {
	a, b := newProvHistory(t), newFixture(t)
	b.must(b.producer, harvestRec("OTHER", "10", "KGM"))
	want, wantSize := lotHeadsRootNow(t, a.db)
	old, _ := lotHeadsRootNow(t, b.db)

	if err := b.db.Restore(strings.NewReader("not a snapshot")); err == nil {
		t.Fatal("a garbage snapshot restored")
	}
	if got, _ := lotHeadsRootNow(t, b.db); got != old || !ledger.LotMapKept(b.db) {
		t.Fatalf("after a failed restore: root %x (map kept: %v), want the old %x", got, ledger.LotMapKept(b.db), old)
	}

	snap := a.raw.Snapshot()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	if err := b.db.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got, size := lotHeadsRootNow(t, b.db); got != want || size != wantSize || !ledger.LotMapKept(b.db) {
		t.Fatalf("after restore: root %x at %d (map kept: %v), want %x at %d", got, size, ledger.LotMapKept(b.db), want, wantSize)
	}
	// The same next entry on both: the same root, and the one derived
	// from the lot heads alone.
	next := harvestRec("NEXT", "5", "KGM")
	a.must(a.producer, next)
	b.producer, b.admin = a.producer, a.admin
	b.clock = a.clock
	// The snapshot's lots exist for the restored store's rules, though
	// the store never saw them written (its filter of known lots was
	// derived again).
	expect(t, "a harvest of a lot the snapshot holds", b.submit(a.producer, harvestRec("H1", "1", "KGM")), 409, ledger.ErrLotExists)
	b.must(a.producer, next)
	ra, _ := lotHeadsRootNow(t, a.db)
	rb, _ := lotHeadsRootNow(t, b.db)
	derived, _ := lotHeadsRootNow(t, b.raw)
	if ra != rb || rb != derived {
		t.Fatalf("after one more entry: roots %x and %x, derived %x", ra, rb, derived)
	}
}
