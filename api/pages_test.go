package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

// A lot's history comes in pages of at most 1 000 entries, oldest first,
// with "next" pointing at the following page.
func TestLotHistoryIsPaged(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600077777")
	f.accept(f.harvest(f.producer, g, "PAGED"))
	var envs []ledger.Envelope
	for i := 0; i < 1004; i++ {
		envs = append(envs, sign(t, f.inspector, f.record(f.inspector, "inspect",
			map[string]any{"lot": lotRef(g, "PAGED"), "result": "pass"})))
	}
	for i := 0; i < len(envs); i += 500 {
		st, body := f.post(map[string]any{"records": envs[i:min(i+500, len(envs))]})
		if st != http.StatusOK {
			t.Fatalf("batch: %d %s", st, body)
		}
	}
	st, body := f.get("/v1/lots/" + g + "/PAGED")
	if st != http.StatusOK {
		t.Fatalf("page 1: %d %s", st, body)
	}
	var p1 ledger.LotView
	mustDecode(t, body, &p1)
	if len(p1.Entries) != 1000 || p1.Next == nil || *p1.Next != p1.Entries[999].Seq+1 {
		t.Fatalf("page 1: %d entries, next %v", len(p1.Entries), p1.Next)
	}
	st, body = f.get(fmt.Sprintf("/v1/lots/%s/PAGED?from=%d", g, *p1.Next))
	var p2 ledger.LotView
	mustDecode(t, body, &p2)
	if st != http.StatusOK || len(p2.Entries) != 5 || p2.Next != nil || p2.Entries[0].Seq != *p1.Next {
		t.Fatalf("page 2: %d, %d entries, next %v", st, len(p2.Entries), p2.Next)
	}
	if st, _ := f.get("/v1/lots/" + g + "/PAGED?from=x"); st != http.StatusBadRequest {
		t.Fatalf("from=x: %d, want 400", st)
	}
}
