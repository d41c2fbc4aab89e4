package consumer

import (
	"net/http"
	"strings"
	"testing"
)

// An address without a lot, where a lot is needed, is answered with one
// plain sentence in the page's language, not an error chain.
func TestMissingLotIsOnePlainSentence(t *testing.T) {
	ds := startDemo(t, nil)
	for path, want := range map[string]string{
		"/labels/01/" + lycheeGTIN:                   "không có số lô",
		"/labels/01/" + lycheeGTIN + "?lang=en":      "names no lot",
		"/lot/01/" + lycheeGTIN:                      "không có số lô",
		"/product/01/" + lycheeGTIN + "/10/LNB2606A": "chỉ có mã GTIN",
	} {
		r := ds.get(t, path)
		if r.status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", path, r.status)
		}
		if !strings.Contains(r.body, want) || strings.Contains(r.body, "digitallink:") || strings.Contains(r.body, "AI 10) is required") {
			t.Errorf("GET %s: want one sentence with %q, got:\n%.400s", path, want, r.body)
		}
	}
}
