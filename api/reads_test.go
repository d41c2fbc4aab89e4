package api_test

// Reads (DESIGN §3.5), health, metrics and the router's answers to unknown
// routes and wrong methods.

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
)

func TestGetLot(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	h := f.accept(f.harvest(f.producer, g, "LN2606A"))
	tr := f.accept(f.transfer(f.producer, g, "LN2606A", f.distributor))
	f.accept(f.harvest(f.producer, g, "A/B-1"))
	f.accept(f.harvest(f.producer, g, "50%OFF"))

	tests := []struct {
		name      string
		path      string
		want      int
		lot       string
		entries   int
		inTransit bool
	}{
		{"GTIN-14", "/v1/lots/" + g + "/LN2606A", http.StatusOK, "LN2606A", 2, true},
		{"GTIN-13 is normalised", "/v1/lots/" + g[1:] + "/LN2606A", http.StatusOK, "LN2606A", 2, true},
		{"linearizable read on the leader", "/v1/lots/" + g + "/LN2606A?consistency=linearizable", http.StatusOK, "LN2606A", 2, true},
		{"local read", "/v1/lots/" + g + "/LN2606A?consistency=local", http.StatusOK, "LN2606A", 2, true},
		{"lot with '/' sent as %2F", "/v1/lots/" + g + "/A%2FB-1", http.StatusOK, "A/B-1", 1, false},
		{"lot with '/' sent as %2f", "/v1/lots/" + g + "/A%2fB-1", http.StatusOK, "A/B-1", 1, false},
		{"lot with '%' sent as %25", "/v1/lots/" + g + "/" + url.PathEscape("50%OFF"), http.StatusOK, "50%OFF", 1, false},
		{"unknown lot", "/v1/lots/" + g + "/NOSUCH", http.StatusNotFound, "", 0, false},
		{"unknown GTIN", "/v1/lots/" + gtin14("0893600099999") + "/LN2606A", http.StatusNotFound, "", 0, false},
		{"wrong check digit", "/v1/lots/08936000100010/LN2606A", http.StatusBadRequest, "", 0, false},
		{"GTIN of 11 digits", "/v1/lots/89360001000/LN2606A", http.StatusBadRequest, "", 0, false},
		{"lot outside CSET 82", "/v1/lots/" + g + "/" + url.PathEscape("LÔ 1"), http.StatusBadRequest, "", 0, false},
		{"lot of 21 characters", "/v1/lots/" + g + "/" + strings.Repeat("A", 21), http.StatusBadRequest, "", 0, false},
		{"unknown consistency", "/v1/lots/" + g + "/LN2606A?consistency=bogus", http.StatusBadRequest, "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			status, header, body := f.do(http.MethodGet, tc.path, "", nil)
			if status != tc.want {
				t.Fatalf("GET %s: %d %s, want %d", tc.path, status, body, tc.want)
			}
			if status != http.StatusOK {
				checkErrorBody(t, header, body)
				return
			}
			var v ledger.LotView
			mustDecode(t, body, &v)
			if v.Lot == nil || v.Lot.GTIN != g || v.Lot.Lot != tc.lot {
				t.Fatalf("lot %+v, want %s/%s", v.Lot, g, tc.lot)
			}
			if !strings.EqualFold(v.Lot.Holder, addr(f.producer)) {
				t.Errorf("holder %s, want the producer %s", v.Lot.Holder, addr(f.producer))
			}
			if tc.inTransit != (v.Lot.Status == ledger.StatusInTransit) || (tc.inTransit && !strings.EqualFold(v.Lot.InTransitTo, addr(f.distributor))) {
				t.Errorf("status %q in transit to %q", v.Lot.Status, v.Lot.InTransitTo)
			}
			if len(v.Entries) != tc.entries {
				t.Fatalf("%d entries, want %d", len(v.Entries), tc.entries)
			}
			if tc.entries == 2 {
				if v.Entries[0].Seq != h.Seq || v.Entries[0].Hash != h.Hash || v.Entries[0].Type != "harvest" ||
					v.Entries[1].Seq != tr.Seq || v.Entries[1].Hash != tr.Hash || v.Entries[1].Type != "transfer" {
					t.Errorf("entries %+v, want the harvest %+v then the transfer %+v", v.Entries, h, tr)
				}
			}
		})
	}
}

func TestGetEntry(t *testing.T) {
	f := startNode(t)
	env := f.harvest(f.producer, gtin14("0893600010001"), "LN2606A")
	a := f.accept(env)
	size, _ := f.head()
	tests := []struct {
		name string
		seq  string
		want int
		typ  string
	}{
		{"genesis", "0", http.StatusOK, "genesis"},
		{"the harvest", strconv.FormatUint(a.Seq, 10), http.StatusOK, "harvest"},
		{"the harvest, linearizable", strconv.FormatUint(a.Seq, 10) + "?consistency=linearizable", http.StatusOK, "harvest"},
		{"one past the end", strconv.FormatUint(size, 10), http.StatusNotFound, ""},
		{"far past the end", "1000000", http.StatusNotFound, ""},
		{"max uint64", "18446744073709551615", http.StatusNotFound, ""},
		{"overflowing uint64", "18446744073709551616", http.StatusBadRequest, ""},
		{"negative", "-1", http.StatusBadRequest, ""},
		{"not a number", "abc", http.StatusBadRequest, ""},
		{"fraction", "1.5", http.StatusBadRequest, ""},
		{"hex", "0x1", http.StatusBadRequest, ""},
		{"unknown consistency", "0?consistency=bogus", http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			status, header, body := f.do(http.MethodGet, "/v1/entries/"+tc.seq, "", nil)
			if status != tc.want {
				t.Fatalf("GET /v1/entries/%s: %d %s, want %d", tc.seq, status, body, tc.want)
			}
			if status != http.StatusOK {
				checkErrorBody(t, header, body)
				return
			}
			var e ledger.EntryView
			mustDecode(t, body, &e)
			if e.Type != tc.typ {
				t.Errorf("type %q, want %q", e.Type, tc.typ)
			}
			if tc.typ == "harvest" {
				if e.Seq != a.Seq || e.Hash != a.Hash || e.Signature != env.Signature || string(e.Record) != string(env.Record) {
					t.Errorf("entry %+v is not the accepted harvest %+v", e, a)
				}
				// The stored record and signature still verify.
				if adm, err := ledger.Admit(ledger.Envelope{Record: e.Record, Signature: e.Signature}, time.Time{}); err != nil ||
					adm.Signer.Hex() != addr(f.producer) {
					t.Errorf("stored envelope does not verify to the producer: %v", err)
				}
			}
		})
	}
}

func TestGetParticipant(t *testing.T) {
	f := startNode(t)
	p := addr(f.producer)
	outsider := addr(newKey(t))
	wrongChecksum := badChecksum(t, p)
	tests := []struct {
		name  string
		path  string
		want  int
		roles []string
	}{
		{"registered producer", p, http.StatusOK, []string{"producer"}},
		{"lower case", strings.ToLower(p), http.StatusOK, []string{"producer"}},
		{"upper case hex", "0x" + strings.ToUpper(p[2:]), http.StatusOK, []string{"producer"}},
		{"genesis admin", addr(f.admin), http.StatusOK, []string{"admin"}},
		{"linearizable", p + "?consistency=linearizable", http.StatusOK, []string{"producer"}},
		{"paged", p + "?from=0", http.StatusOK, []string{"producer"}},
		{"unknown", outsider, http.StatusNotFound, nil},
		{"too short", "0x1234", http.StatusBadRequest, nil},
		{"no 0x", p[2:] + "00", http.StatusBadRequest, nil},
		{"not hex", "0x" + strings.Repeat("g", 40), http.StatusBadRequest, nil},
		{"wrong EIP-55 checksum", wrongChecksum, http.StatusBadRequest, nil},
		{"bad from", p + "?from=abc", http.StatusBadRequest, nil},
		{"unknown consistency", p + "?consistency=bogus", http.StatusBadRequest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			status, header, body := f.do(http.MethodGet, "/v1/participants/"+tc.path, "", nil)
			if status != tc.want {
				t.Fatalf("GET /v1/participants/%s: %d %s, want %d", tc.path, status, body, tc.want)
			}
			if status != http.StatusOK {
				checkErrorBody(t, header, body)
				return
			}
			var v api.ParticipantView
			mustDecode(t, body, &v)
			if v.Participant == nil || strings.Join(v.Participant.Roles, ",") != strings.Join(tc.roles, ",") {
				t.Fatalf("participant %+v, want roles %v", v.Participant, tc.roles)
			}
			if len(v.Entries) == 0 {
				t.Errorf("no entries listed for a registered participant")
			}
		})
	}
}

func TestHealthMetricsAndRouting(t *testing.T) {
	f := startNode(t) // registering participants counts records
	tests := []struct {
		method, path string
		want         int
		jsonError    bool
		contains     string
	}{
		{http.MethodGet, "/healthz", http.StatusOK, false, ""},
		{http.MethodGet, "/readyz", http.StatusOK, false, ""},
		{http.MethodGet, "/metrics", http.StatusOK, false, "traceledger_records_total"},
		{http.MethodGet, "/v1/cluster", http.StatusOK, false, "ledger_head"},
		{http.MethodGet, "/v1/nope", http.StatusNotFound, true, ""},
		{http.MethodGet, "/", http.StatusNotFound, true, ""},
		{http.MethodGet, "/v1/lots/" + gtin14("0893600010001"), http.StatusNotFound, true, ""},
		{http.MethodGet, "/v1/records", http.StatusMethodNotAllowed, true, ""},
		{http.MethodPut, "/v1/records", http.StatusMethodNotAllowed, true, ""},
		{http.MethodDelete, "/v1/lots/" + gtin14("0893600010001") + "/LN1", http.StatusMethodNotAllowed, true, ""},
		{http.MethodPost, "/v1/entries/1", http.StatusMethodNotAllowed, true, ""},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, true, ""},
		{http.MethodDelete, "/epcis/events", http.StatusMethodNotAllowed, true, ""},
		{http.MethodPost, "/log/checkpoint", http.StatusMethodNotAllowed, true, ""},
		{http.MethodGet, "/log/nope", http.StatusNotFound, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			f := f.with(t)
			status, header, body := f.do(tc.method, tc.path, "", nil)
			if status != tc.want {
				t.Fatalf("%d %s, want %d", status, body, tc.want)
			}
			if tc.jsonError {
				checkErrorBody(t, header, body)
			}
			if tc.contains != "" && !strings.Contains(string(body), tc.contains) {
				t.Errorf("body does not contain %q: %.500s", tc.contains, body)
			}
		})
	}
}

// TestMetricsLabelRoutes checks the route label of the request metrics:
// the template of the route that served a request, never a family's
// prefix, and "other" for what no route served, so that unknown paths
// cannot grow the metric.
func TestMetricsLabelRoutes(t *testing.T) {
	f := startNode(t)
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/v1/cluster"},
		{http.MethodGet, "/v1/checkpoint"},
		{http.MethodGet, "/log/checkpoint"},
		{http.MethodGet, "/v1/nope-1"},
		{http.MethodGet, "/nope-2"},
		{http.MethodPut, "/v1/records"},
		{http.MethodPost, "/healthz"},
	} {
		f.do(req.method, req.path, "", nil)
	}
	_, _, body := f.do(http.MethodGet, "/metrics", "", nil)
	count := func(route, code string) string {
		prefix := `traceledger_http_request_duration_seconds_count{code="` + code + `",route="` + route + `"} `
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				return v
			}
		}
		return ""
	}
	for _, want := range []struct{ route, code, n string }{
		{"/v1/cluster", "200", "1"},
		{"/v1/checkpoint", "200", "1"},
		{"/log/checkpoint", "200", "1"},
		{"other", "404", "2"},
		{"other", "405", "2"},
	} {
		if got := count(want.route, want.code); got != want.n {
			t.Errorf("requests labelled route=%q code=%s: %q, want %s", want.route, want.code, got, want.n)
		}
	}
	for _, prefix := range []string{"/v1/", "/log/", "/epcis/"} {
		if strings.Contains(string(body), `route="`+prefix+`"`) {
			t.Errorf("a request is labelled with the family prefix %s", prefix)
		}
	}
}

// badChecksum flips the case of one letter of a checksummed address so that
// it is mixed case with a wrong EIP-55 checksum.
func badChecksum(t *testing.T, a string) string {
	t.Helper()
	for i := 2; i < len(a); i++ {
		c := a[i]
		var flipped byte
		switch {
		case c >= 'a' && c <= 'f':
			flipped = c - 'a' + 'A'
		case c >= 'A' && c <= 'F':
			flipped = c - 'A' + 'a'
		default:
			continue
		}
		s := a[:i] + string(flipped) + a[i+1:]
		if _, err := ledger.ParseAddress(s); err != nil {
			return s
		}
	}
	t.Fatalf("no letter to flip in %s", a)
	return ""
}

// TestEntriesAddUpToHead re-checks the log as an auditor would from the
// API alone: each entry's hash is the RFC 6962 leaf hash of its canonical
// bytes, each signature verifies, and the leaves hash up to ledger_head.
func TestEntriesAddUpToHead(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	f.accept(f.harvest(f.producer, g, "AUD1"))
	f.accept(f.transfer(f.producer, g, "AUD1", f.distributor))
	size, head := f.head()
	var leaves [][32]byte
	for seq := uint64(0); seq < size; seq++ {
		status, body := f.get("/v1/entries/" + strconv.FormatUint(seq, 10))
		if status != http.StatusOK {
			t.Fatalf("entry %d: %d %s", seq, status, body)
		}
		var v ledger.EntryView
		mustDecode(t, body, &v)
		data, err := ledger.MarshalEntry(&ledger.Entry{Seq: v.Seq, Type: v.Type, RecordTime: v.RecordTime,
			Signer: v.Signer, Record: v.Record, Signature: v.Signature, Prev: v.Prev})
		if err != nil {
			t.Fatal(err)
		}
		leaf := sha256.Sum256(append([]byte{0}, data...))
		if v.Seq != seq || v.Hash != fmt.Sprintf("0x%x", leaf) {
			t.Errorf("entry %d: seq %d hash %s, recomputed %x", seq, v.Seq, v.Hash, leaf)
		}
		if v.Type != "genesis" {
			adm, err := ledger.Admit(ledger.Envelope{Record: v.Record, Signature: v.Signature}, time.Time{})
			if err != nil || !strings.EqualFold(adm.Signer.Hex(), v.Signer) {
				t.Errorf("entry %d does not verify: %v", seq, err)
			}
		}
		leaves = append(leaves, leaf)
	}
	if root := mth(leaves); head != fmt.Sprintf("0x%x", root) {
		t.Errorf("ledger_head %s, RFC 6962 root of the entries %x", head, root)
	}
}

// mth is the RFC 6962 Merkle Tree Hash of leaf hashes.
func mth(leaves [][32]byte) [32]byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}
