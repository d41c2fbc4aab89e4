package badgerkv_test

// A ledger on disk stays auditable across many commands, a reopen and a
// snapshot restore: entries, Merkle hashes and derived state still agree.

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

func auditDB(t *testing.T, db *badgerkv.DB) []ledger.Failure {
	t.Helper()
	scratch := open(t, badgerkv.Options{InMemory: true})
	defer scratch.Close()
	var fails []ledger.Failure
	if err := db.View(func(r ledger.Reader) error {
		fails = ledger.Audit(r, scratch, nil)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return fails
}

func TestAuditAcrossReopenAndRestore(t *testing.T) {
	dir := t.TempDir()
	src := openDisk(t, filepath.Join(dir, "src"))
	w := newWorld(t)
	w.genesis(t, src)
	for _, n := range []int{1, 2, 61, 64, 129} { // commands of many sizes
		w.register(t, src, n)
	}
	if err := src.Update(func(wr ledger.Writer) error { return ledger.SetAppliedIndex(wr, 9) }); err != nil {
		t.Fatal(err)
	}
	want := head(t, src)
	if want.Size != 1+1+2+61+64+129 {
		t.Fatalf("size %d", want.Size)
	}
	if fails := auditDB(t, src); len(fails) != 0 {
		t.Errorf("audit on disk: %v", fails)
	}

	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	src = openDisk(t, filepath.Join(dir, "src"))
	defer src.Close()
	if got := head(t, src); got != want {
		t.Errorf("head after reopen %+v, want %+v", got, want)
	}
	if fails := auditDB(t, src); len(fails) != 0 {
		t.Errorf("audit after reopen: %v", fails)
	}

	dst := openDisk(t, filepath.Join(dir, "dst"))
	defer dst.Close()
	if err := dst.Restore(bytes.NewReader(snapshot(t, src))); err != nil {
		t.Fatal(err)
	}
	if got := head(t, dst); got != want {
		t.Errorf("head after restore %+v, want %+v", got, want)
	}
	if fails := auditDB(t, dst); len(fails) != 0 {
		t.Errorf("audit after restore: %v", fails)
	}
}
