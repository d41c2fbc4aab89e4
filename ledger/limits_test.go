package ledger_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

// A lot can be split into at most 1 000 lots: each transform rewrites its
// inputs' state, which lists their children, and an unbounded list would
// make one record's writes unbounded too. The refusal changes nothing.
func TestTransformRefusesTooManyChildren(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("BIG", "100000", "KGM"))
	f.move("BIG", f.producer, f.processor)
	for round := 0; round < 10; round++ {
		var outs []lq
		for i := 0; i < 100; i++ {
			outs = append(outs, lq{fmt.Sprintf("S%d-%d", round, i), "1", "KGM"})
		}
		f.must(f.processor, transformRec([]lq{{"BIG", "100", "KGM"}}, outs))
	}
	before := f.dump()
	o := f.submit(f.processor, transformRec([]lq{{"BIG", "1", "KGM"}}, []lq{{"ONE-MORE", "1", "KGM"}}))
	expect(t, "the 1 001st child", o, http.StatusConflict, ledger.ErrWriteTooLarge)
	f.assertUnchanged(before, o)
}
