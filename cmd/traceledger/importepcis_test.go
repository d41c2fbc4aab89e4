package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// TestImportEPCIS imports a corpus document from the command line: each
// event is then on the ledger; a second run finds them there; an invalid
// document is refused whole.
func TestImportEPCIS(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	_, keyPath := partnerKey(t, n.HTTPURL(), admin)
	file := filepath.Join(captureCorpus, "Documents", "Combination_of_different_event.json")

	r := run(t, nil, "import", "epcis", file, "--key", keyPath, "--url", n.HTTPURL())
	if r.code != 0 || !strings.Contains(r.stdout, "recorded") || strings.Contains(r.stderr, "\r") { // no bar drawn into a pipe
		t.Fatalf("import: %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	doc := corpusDocuments(t, "Documents")["Documents/Combination_of_different_event.json"]
	d, err := epcisevent.SplitDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range d.Events {
		withCtx, _ := epcisevent.WithContext(ev, d.Context)
		sum, _ := epcisevent.Summarize(withCtx)
		id, _ := epcisevent.ID(withCtx, sum)
		if st, b := get(t, n.HTTPURL(), "/epcis/events/"+url.PathEscape(id)); st != http.StatusOK {
			t.Errorf("event %d (%s): %d %s", i, id, st, b)
		}
	}
	again := run(t, nil, "import", "epcis", file, "--key", keyPath, "--url", n.HTTPURL())
	if again.code != 0 || !strings.Contains(again.stdout, "0 recorded") {
		t.Errorf("second import: %d %s %s", again.code, again.stdout, again.stderr)
	}

	before, _ := cluster(n.HTTPURL())
	bad := run(t, nil, "import", "epcis", filepath.Join(captureCorpus, "Invalid", "ObjectEvent_with_invalid_action.json"), "--key", keyPath, "--url", n.HTTPURL())
	if bad.code == 0 || !strings.Contains(bad.stderr, "nothing was submitted") {
		t.Errorf("invalid import: %d %s", bad.code, bad.stderr)
	}
	if after, _ := cluster(n.HTTPURL()); after.Size != before.Size {
		t.Errorf("an invalid import wrote %d entries", after.Size-before.Size)
	}
	if r := run(t, nil, "import", "csv", file); r.code == 0 {
		t.Error("import csv: exit 0")
	}
}
