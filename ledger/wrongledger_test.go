package ledger_test

import (
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

// A record may name the ledger it is for; named for another, it is a 409
// and changes nothing, so a record signed on a test network cannot be
// replayed onto production.
func TestRecordBoundToItsLedger(t *testing.T) {
	f := newFixture(t)
	var origin string
	f.view(func(r ledger.Reader) (err error) { origin, err = ledger.Origin(r); return err })
	if origin == "" {
		t.Fatal("no origin")
	}
	named := func(rec map[string]any, l string) map[string]any { rec["ledger"] = l; return rec }

	f.must(f.producer, named(harvestRec("L1", "10", "KGM"), origin))
	other := "traceledger/0123456789abcdef"
	before := f.head()
	expect(t, "harvest for another ledger", f.submit(f.producer, named(harvestRec("L2", "10", "KGM"), other)), 409, ledger.ErrWrongLedger)
	expect(t, "transfer for another ledger", f.submit(f.producer, named(transferRec("L1", f.distributor), other)), 409, ledger.ErrWrongLedger)
	if f.head() != before {
		t.Fatal("a record for another ledger changed the head")
	}
	// Earlier checks answer first, and a malformed name is a 400.
	expect(t, "transfer by a non-holder for another ledger", f.submit(f.retailer, named(transferRec("L1", f.distributor), other)), 403, ledger.ErrNotHolder)
	for _, bad := range []string{"traceledger/0123", "TRACELEDGER/0123456789abcdef", "traceledger/0123456789ABCDEF", "other/0123456789abcdef"} {
		expect(t, "ledger "+bad, f.submit(f.producer, named(harvestRec("L3", "10", "KGM"), bad)), 400, ledger.ErrInvalidField)
	}
	// Records without it stay valid.
	f.must(f.producer, transferRec("L1", f.distributor))
}
