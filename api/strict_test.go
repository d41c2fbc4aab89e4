package api_test

// Exact envelopes, forbidden characters, recalled lots and stale intents,
// through the HTTP API: status, error code, and nothing written.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
)

// latestDigest returns the "after" a signer who just read the lot would
// send: the digest of the record of the lot's latest entry.
func (f *fixture) latestDigest(gtin, lot string) string {
	f.t.Helper()
	status, body := f.get("/v1/lots/" + gtin + "/" + lot)
	if status != http.StatusOK {
		f.t.Fatalf("GET lot: %d %s", status, body)
	}
	var v ledger.LotView
	mustDecode(f.t, body, &v)
	return ledger.RecordDigest(v.Entries[len(v.Entries)-1].Record)
}

func TestPostStrict(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600020001")
	f.accept(f.harvest(f.producer, g, "REC1"))
	f.accept(f.harvest(f.producer, g, "REC2"))
	f.accept(f.transfer(f.producer, g, "REC2", f.distributor))
	f.accept(sign(t, f.producer, f.record(f.producer, "recall", map[string]any{"lot": lotRef(g, "REC1"), "reason": "dư lượng thuốc"})))
	f.accept(sign(t, f.producer, f.record(f.producer, "recall", map[string]any{"lot": lotRef(g, "REC2"), "reason": "dư lượng thuốc"})))
	f.accept(f.harvest(f.producer, g, "ST1"))
	sawHarvest := f.latestDigest(g, "ST1")
	f.accept(sign(t, f.inspector, f.record(f.inspector, "inspect", map[string]any{"lot": lotRef(g, "ST1"), "result": "pass"})))

	valid := f.harvest(f.producer, g, "FRESH2") // never accepted
	rec, sig := string(valid.Record), `"`+valid.Signature+`"`
	other := f.harvest(f.producer, g, "FRESH3")
	withChar := func(field string, s string) []byte {
		r := f.harvestRec(f.producer, g, "CHR1", 10)
		switch field {
		case "product.name":
			r["product"] = map[string]any{"name": "Vải" + s + "thiều"}
		case "place.name":
			r["place"] = map[string]any{"name": s + "Lục Ngạn"}
		case "attributes":
			r["attributes"] = map[string]any{"ghi chú": map[string]any{"k" + s: "v"}}
		case "id":
			r["id"] = "id" + s
		}
		return asJSON(t, sign(t, f.producer, r))
	}
	after := func(rec map[string]any, d string) map[string]any { rec["after"] = d; return rec }

	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"Record in another case", []byte(`{"Record":` + rec + `,"signature":` + sig + `}`), 400, "unknown_field"},
		{"SIGNATURE in another case", []byte(`{"record":` + rec + `,"SIGNATURE":` + sig + `}`), 400, "unknown_field"},
		{"signature twice", []byte(`{"record":` + rec + `,"signature":"0x00","signature":` + sig + `}`), 400, "duplicate_key"},
		{"record twice", []byte(`{"record":` + string(other.Record) + `,"record":` + rec + `,"signature":` + sig + `}`), 400, "duplicate_key"},
		{"an extra member", []byte(`{"record":` + rec + `,"signature":` + sig + `,"received":"today"}`), 400, "unknown_field"},
		{"Records in another case", []byte(`{"Records":[{"record":` + rec + `,"signature":` + sig + `}]}`), 400, "unknown_field"},
		{"records twice", []byte(`{"records":[],"records":[{"record":` + rec + `,"signature":` + sig + `}]}`), 400, "duplicate_key"},
		{"NUL in a product name", withChar("product.name", "\x00"), 400, "forbidden_character"},
		{"escape character in a place name", withChar("place.name", "\x1b"), 400, "forbidden_character"},
		{"right-to-left override in a place name", withChar("place.name", "\u202e"), 400, "forbidden_character"},
		{"isolate in an attribute name", withChar("attributes", "\u2066"), 400, "forbidden_character"},
		{"carriage return in an id", withChar("id", "\r"), 400, "forbidden_character"},
		{"transfer of a recalled lot", asJSON(t, f.transfer(f.producer, g, "REC1", f.distributor)), 409, "lot_recalled"},
		{"receive of a lot recalled in transit", asJSON(t, f.receive(f.distributor, g, "REC2")), 409, "lot_recalled"},
		{"transfer after a record older than the lot's latest", asJSON(t, sign(t, f.producer, after(f.record(f.producer, "transfer",
			map[string]any{"lot": lotRef(g, "ST1"), "to": addr(f.distributor)}), sawHarvest))), 409, "stale"},
		{"after with 0x", asJSON(t, sign(t, f.producer, after(f.record(f.producer, "transfer",
			map[string]any{"lot": lotRef(g, "ST1"), "to": addr(f.distributor)}), "0x"+sawHarvest))), 400, "invalid_field"},
		{"stale transfer by a non-holder: 403 first", asJSON(t, sign(t, f.retailer, after(f.record(f.retailer, "transfer",
			map[string]any{"lot": lotRef(g, "ST1"), "to": addr(f.distributor)}), sawHarvest))), 403, "not_holder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			size0, head0 := f.head()
			status, header, body := f.do(http.MethodPost, "/v1/records", "application/json", tc.body)
			checkErrorBody(t, header, body)
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			mustDecode(t, body, &e)
			if status != tc.status || e.Error.Code != tc.code {
				t.Errorf("%d %s, want %d %s: %s", status, e.Error.Code, tc.status, tc.code, body)
			}
			if size, head := f.head(); size != size0 || head != head0 {
				t.Errorf("a refused request changed the ledger: size %d→%d", size0, size)
			}
			// The same envelope inside a batch is refused alike.
			if !strings.HasPrefix(tc.name, "record") && tc.code != "" && json.Valid(tc.body) && !strings.Contains(tc.name, "ecords") {
				status, body := f.post([]byte(`{"records":[` + string(tc.body) + `]}`))
				var ans api.BatchAnswer
				mustDecode(t, body, &ans)
				if status != http.StatusOK || len(ans.Results) != 1 || ans.Results[0].Status != tc.status || ans.Results[0].Error.Code != tc.code {
					t.Errorf("in a batch: %d %s", status, body)
				}
				if size, _ := f.head(); size != size0 {
					t.Errorf("a refused batch item changed the ledger")
				}
			}
		})
	}

	// The signer who read the lot's latest entry gets through.
	f.accept(sign(t, f.producer, after(f.record(f.producer, "transfer",
		map[string]any{"lot": lotRef(g, "ST1"), "to": addr(f.distributor)}), f.latestDigest(g, "ST1"))))
	f.accept(sign(t, f.distributor, after(f.record(f.distributor, "receive",
		map[string]any{"lot": lotRef(g, "ST1")}), f.latestDigest(g, "ST1"))))
}
