package consumer

import (
	"html"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

func TestFieldTimes(t *testing.T) {
	tx := catalog()
	for _, c := range []struct{ in, vi, en string }{
		// UTC says no place: shown on Vietnam's clock, unmarked.
		{"2026-11-29T20:09:00Z", "30/11/2026 03:09", "30 Nov 2026, 03:09"},
		{"2026-11-29T20:09:00+00:00", "30/11/2026 03:09", "30 Nov 2026, 03:09"},
		// Vietnam's own offset: as written.
		{"2026-06-12T05:30:00+07:00", "12/06/2026 05:30", "12 Jun 2026, 05:30"},
		// Another offset is the record's zone: kept, and marked.
		{"2026-06-12T05:30:00+09:00", "12/06/2026 05:30 (UTC+9)", "12 Jun 2026, 05:30 (UTC+9)"},
		{"2026-06-12T05:30:00+05:30", "12/06/2026 05:30 (UTC+5:30)", "12 Jun 2026, 05:30 (UTC+5:30)"},
		{"2026-06-12T05:30:00-03:00", "12/06/2026 05:30 (UTC-3)", "12 Jun 2026, 05:30 (UTC-3)"},
	} {
		tm, err := ledger.ParseTime(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := tx[langVI].formatTime(tm); got != c.vi {
			t.Errorf("%s in Vietnamese: %q, want %q", c.in, got, c.vi)
		}
		if got := tx[langEN].formatTime(tm); got != c.en {
			t.Errorf("%s in English: %q, want %q", c.in, got, c.en)
		}
	}
	if got := tx[langVI].formatTime(time.Time{}); got != "" {
		t.Errorf("zero time: %q", got)
	}
}

func TestPageNamesItsZoneOnce(t *testing.T) {
	ds := startDemo(t, nil)
	r := ds.get(t, lycheePage)
	body := html.UnescapeString(r.body)
	if n := strings.Count(body, "UTC+7"); n != 1 {
		t.Errorf("the page names UTC+7 %d times, want once", n)
	}
	mustContain(t, "page", body, `id="tz"`, "giờ Việt Nam (UTC+7)")
}
