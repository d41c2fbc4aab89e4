package consumer

import (
	"net/http"
	"strings"
	"testing"
)

// A malformed code's page says what is wrong in one sentence of the page's
// language, without Go error prefixes.
func TestBadCodeDetailIsOnePlainSentence(t *testing.T) {
	ds := startDemo(t, nil)
	for _, tc := range []struct {
		path  string
		wants []string
	}{
		{"/01/08936000100026/10/LNB2606A", []string{"Mã GTIN", "chữ số kiểm tra sai"}},
		{"/01/08936000100026/10/LNB2606A?lang=en", []string{"The GTIN", "wrong check digit"}},
		{"/01/08936000100025/10/L%C3%B4-V%E1%BA%A3i-1", []string{"Số lô", "Lô-Vải-1", "có ký tự", "ô"}},
	} {
		r := ds.get(t, tc.path)
		if r.status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", tc.path, r.status)
			continue
		}
		mustContain(t, tc.path, r.body, tc.wants...)
		for _, bad := range []string{"digitallink:", "invalid GTIN", "invalid lot code", "Ã"} {
			if strings.Contains(r.body, bad) {
				t.Errorf("GET %s: the page shows %q", tc.path, bad)
			}
		}
	}
}
