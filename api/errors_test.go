package api_test

// Every class of refusal of POST /v1/records (DESIGN §3.3, §3.4): the
// status, the one error body shape, and a ledger left exactly as it was.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/traceledger/traceledger/ledger"
)

const anyClientError = -4 // want: any 4xx, never a 5xx

type refusal struct {
	name        string
	contentType string
	body        []byte
	want        int // a status, or anyClientError
}

func TestPostRefusals(t *testing.T) {
	f := startNode(t)
	g := gtin14("0893600010001")
	f.accept(f.harvest(f.producer, g, "HELD1"))
	f.accept(f.harvest(f.producer, g, "SENT1"))
	f.accept(f.transfer(f.producer, g, "SENT1", f.distributor))
	reusedID := f.harvestRec(f.producer, g, "IDREUSE1", 100)
	f.accept(sign(t, f.producer, reusedID))
	reusedID["quantity"] = map[string]any{"amount": 200, "unit": "KGM"}

	js := func(v any) []byte { return asJSON(t, v) }
	valid := f.harvest(f.producer, g, "FRESH1") // never accepted: every use below is refused
	unknownField := f.harvestRec(f.producer, g, "UNK1", 10)
	unknownField["colour"] = "red"
	wrongSigner := f.harvestRec(f.producer, g, "WS1", 10) // names the producer, signed by the distributor
	outsider := newKey(t)

	tests := []refusal{
		// 400: shape and field validity.
		{"wrong GTIN check digit", "application/json", js(f.harvest(f.producer, "08936000100010", "G1")), http.StatusBadRequest},
		{"GTIN with letters", "application/json", js(f.harvest(f.producer, "0893600010001A", "G2")), http.StatusBadRequest},
		{"lot code with a Vietnamese letter", "application/json", js(f.harvest(f.producer, g, "LÔ1")), http.StatusBadRequest},
		{"unknown record field (signed)", "application/json", js(sign(t, f.producer, unknownField)), http.StatusBadRequest},
		{"unknown envelope field", "application/json", js(map[string]any{"record": valid.Record, "signature": valid.Signature, "note": "x"}), http.StatusBadRequest},
		{"missing signature", "application/json", js(map[string]any{"record": valid.Record}), http.StatusBadRequest},
		{"empty signature", "application/json", js(map[string]any{"record": valid.Record, "signature": ""}), http.StatusBadRequest},
		{"missing record", "application/json", js(map[string]any{"signature": valid.Signature}), http.StatusBadRequest},
		{"record is an array", "application/json", []byte(`{"record":[1,2],"signature":"` + valid.Signature + `"}`), http.StatusBadRequest},
		{"record and records together", "application/json", js(map[string]any{"record": valid.Record, "signature": valid.Signature, "records": []any{valid}}), http.StatusBadRequest},
		{"empty batch", "application/json", []byte(`{"records":[]}`), http.StatusBadRequest},
		{"malformed JSON", "application/json", []byte(`{"record": {"type": "harvest",`), http.StatusBadRequest},
		{"empty body", "application/json", []byte{}, http.StatusBadRequest},
		{"JSON null", "application/json", []byte(`null`), http.StatusBadRequest},
		{"JSON array at the top", "application/json", []byte(`[]`), http.StatusBadRequest},
		{"trailing data after the envelope", "application/json", append(js(valid), []byte(` {"x":1}`)...), http.StatusBadRequest},
		{"invalid UTF-8 in a string", "application/json", []byte("{\"record\":{\"type\":\"harvest\",\"id\":\"\xff\xfe\"},\"signature\":\"" + valid.Signature + "\"}"), http.StatusBadRequest},
		{"invalid UTF-8 in the signed record", "application/json", invalidUTF8Record(valid), http.StatusBadRequest},
		{"deeply nested arrays", "application/json", []byte(strings.Repeat("[", 100000)), anyClientError},
		{"deeply nested record", "application/json", []byte(`{"record":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000) + `,"signature":"0x00"}`), anyClientError},
		{"100 000 empty envelopes", "application/json", []byte(`{"records":[` + strings.Repeat(`{},`, 99999) + `{}]}`), anyClientError},
		{"records is null", "application/json", []byte(`{"records":null}`), http.StatusBadRequest},
		{"record is null", "application/json", []byte(`{"record":null,"signature":"` + valid.Signature + `"}`), http.StatusBadRequest},
		{"duplicate member in the record", "application/json", duplicateMember(valid), http.StatusBadRequest},
		{"field name in another case (signed)", "application/json", js(sign(t, f.producer, withField(f.harvestRec(f.producer, g, "CASE1", 10), "ID", "x"))), http.StatusBadRequest},
		{"time a year in the future (signed)", "application/json", js(sign(t, f.producer, withField(f.harvestRec(f.producer, g, "FUT1", 10), "time", "2099-01-01T00:00:00Z"))), http.StatusBadRequest},
		{"time without an offset (signed)", "application/json", js(sign(t, f.producer, withField(f.harvestRec(f.producer, g, "OFF1", 10), "time", "2026-06-12T05:30:00"))), http.StatusBadRequest},
		{"record over 16 KiB (signed)", "application/json", js(sign(t, f.producer, withField(f.harvestRec(f.producer, g, "BIG1", 10), "attributes", map[string]string{"note": strings.Repeat("x", 20<<10)}))), http.StatusBadRequest},
		{"unit outside UN/ECE Rec 20 (signed)", "application/json", js(sign(t, f.producer, withField(f.harvestRec(f.producer, g, "UNIT1", 10), "quantity", map[string]any{"amount": 10, "unit": "kg"}))), http.StatusBadRequest},
		// 401: signature and signer.
		{"record changed after signing", "application/json", js(tampered(t, valid, "quantity", map[string]any{"amount": 9000, "unit": "KGM"})), http.StatusUnauthorized},
		{"high-S twin of a valid signature", "application/json", js(highS(t, valid)), http.StatusUnauthorized},
		{"record names another signer", "application/json", js(sign(t, f.distributor, wrongSigner)), http.StatusUnauthorized},
		{"signature too short", "application/json", js(map[string]any{"record": valid.Record, "signature": valid.Signature[:len(valid.Signature)-2]}), http.StatusUnauthorized},
		{"signature not hex", "application/json", js(map[string]any{"record": valid.Record, "signature": "0x" + strings.Repeat("zz", 65)}), http.StatusUnauthorized},
		// 403: permission.
		{"distributor harvests (wrong role)", "application/json", js(f.harvest(f.distributor, g, "D1")), http.StatusForbidden},
		{"unregistered signer", "application/json", js(f.harvest(outsider, g, "O1")), http.StatusForbidden},
		{"transfer by a non-holder", "application/json", js(f.transfer(f.distributor, g, "HELD1", f.retailer)), http.StatusForbidden},
		{"receive by someone other than the recipient", "application/json", js(f.receive(f.retailer, g, "SENT1")), http.StatusForbidden},
		{"producer registers a participant", "application/json", js(sign(t, f.producer, f.record(f.producer, "participant",
			map[string]any{"address": addr(outsider), "name": "Self-made admin", "roles": []string{"admin"}}))), http.StatusForbidden},
		// 404: existence.
		{"transfer of an unknown lot", "application/json", js(f.transfer(f.producer, g, "NOSUCH", f.distributor)), http.StatusNotFound},
		{"receive of an unknown lot", "application/json", js(f.receive(f.distributor, g, "NOSUCH")), http.StatusNotFound},
		// 409: conflicts.
		{"harvest of an existing lot", "application/json", js(f.harvest(f.producer, g, "HELD1")), http.StatusConflict},
		{"id reused with different content", "application/json", js(sign(t, f.producer, reusedID)), http.StatusConflict},
		{"double transfer", "application/json", js(f.transfer(f.producer, g, "SENT1", f.retailer)), http.StatusConflict},
		{"transfer to an unregistered recipient", "application/json", js(f.transfer(f.producer, g, "HELD1", outsider)), http.StatusConflict},
		// When several checks fail, the first in the order of DESIGN §3.3
		// answers: 400 → 401 → 404 → 403 → 409.
		{"invalid field and bad signature: 400", "application/json", js(tampered(t, valid, "lot", lotRef("08936000100010", "X1"))), http.StatusBadRequest},
		{"bad signature and unknown lot: 401", "application/json", js(tampered(t, f.transfer(f.producer, g, "NOSUCH", f.distributor), "id", "changed")), http.StatusUnauthorized},
		{"unknown lot and unregistered signer: 404", "application/json", js(f.transfer(outsider, g, "NOSUCH", f.distributor)), http.StatusNotFound},
		{"unknown lot and wrong role: 404", "application/json", js(f.receive(f.inspector, g, "NOSUCH")), http.StatusNotFound},
		{"wrong role and existing lot: 403", "application/json", js(f.harvest(f.distributor, g, "HELD1")), http.StatusForbidden},
		{"unregistered signer and existing lot: 403", "application/json", js(f.harvest(outsider, g, "HELD1")), http.StatusForbidden},
		{"non-holder and lot in transit: 403", "application/json", js(f.transfer(f.retailer, g, "SENT1", f.distributor)), http.StatusForbidden},
		// 413: too large.
		{"body over 4 MiB", "application/json", oversized(valid), http.StatusRequestEntityTooLarge},
		{"batch of 1001 envelopes", "application/json", batchOf(t, valid, 1001), http.StatusRequestEntityTooLarge},
		// 415: not JSON.
		{"Content-Type text/plain", "text/plain", js(valid), http.StatusUnsupportedMediaType},
		{"no Content-Type", "", js(valid), http.StatusUnsupportedMediaType},
		{"Content-Type form", "application/x-www-form-urlencoded", js(valid), http.StatusUnsupportedMediaType},
		{"Content-Type garbage", ";;;", js(valid), http.StatusUnsupportedMediaType},
		{"JSON in a charset other than UTF-8", "application/json; charset=iso-8859-1", js(valid), http.StatusUnsupportedMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			size0, head0 := f.head()
			status, header, body := f.do(http.MethodPost, "/v1/records", tc.contentType, tc.body)
			switch {
			case tc.want == anyClientError && (status < 400 || status > 499):
				t.Errorf("status %d, want a 4xx: %.300s", status, body)
			case tc.want != anyClientError && status != tc.want:
				t.Errorf("status %d, want %d: %.300s", status, tc.want, body)
			}
			checkErrorBody(t, header, body)
			if size, head := f.head(); size != size0 || head != head0 {
				t.Errorf("a refused request changed the ledger: size %d→%d, head %s→%s", size0, size, head0, head)
			}
		})
	}

	// Each refused envelope is refused again the same way when resent
	// inside a batch, and a good one beside them still goes in.
	t.Run("the same refusals inside a batch", func(t *testing.T) {
		f := f.with(t)
		var raws []json.RawMessage
		var want []int
		for _, tc := range tests {
			if tc.want >= 400 && tc.want < 413 && tc.contentType == "application/json" && json.Valid(tc.body) && utf8.Valid(tc.body) &&
				bytes.HasPrefix(tc.body, []byte(`{"record":`)) {
				raws, want = append(raws, tc.body), append(want, tc.want)
			}
		}
		raws, want = append(raws, asJSON(t, f.harvest(f.producer, g, "BATCHOK"))), append(want, http.StatusCreated)
		size0, _ := f.head()
		status, body := f.post(map[string]any{"records": raws})
		if status != http.StatusOK {
			t.Fatalf("batch: %d %.300s", status, body)
		}
		var ans struct {
			Results []struct {
				Status int `json:"status"`
			} `json:"results"`
		}
		mustDecode(t, body, &ans)
		if len(ans.Results) != len(want) {
			t.Fatalf("%d results for %d envelopes", len(ans.Results), len(want))
		}
		for i, w := range want {
			if ans.Results[i].Status != w {
				t.Errorf("item %d: status %d, want %d", i, ans.Results[i].Status, w)
			}
		}
		if size, _ := f.head(); size != size0+1 {
			t.Errorf("ledger size %d, want %d", size, size0+1)
		}
	})
}

// oversized is an envelope whose body is just over 4 MiB.
func oversized(env ledger.Envelope) []byte {
	var b bytes.Buffer
	b.WriteString(`{"record":{"type":"harvest","pad":"`)
	b.WriteString(strings.Repeat("a", 4<<20))
	b.WriteString(`"},"signature":"` + env.Signature + `"}`)
	return b.Bytes()
}

// batchOf repeats one envelope n times in a batch.
func batchOf(t *testing.T, env ledger.Envelope, n int) []byte {
	raws := make([]ledger.Envelope, n)
	for i := range raws {
		raws[i] = env
	}
	b := asJSON(t, map[string]any{"records": raws})
	if len(b) >= 4<<20 {
		t.Fatalf("batch of %d is %d bytes: it would test the body limit, not the batch limit", n, len(b))
	}
	return b
}

// invalidUTF8Record splices an invalid byte into the product name of a
// signed harvest record.
func invalidUTF8Record(env ledger.Envelope) []byte {
	rec := bytes.Replace(env.Record, []byte(`"name":"`), []byte("\"name\":\"\xc3\x28"), 1)
	return []byte(`{"record":` + string(rec) + `,"signature":"` + env.Signature + `"}`)
}

func withField(rec map[string]any, k string, v any) map[string]any {
	rec[k] = v
	return rec
}

// duplicateMember repeats the "id" member of env's record.
func duplicateMember(env ledger.Envelope) []byte {
	rec := bytes.Replace(env.Record, []byte(`{`), []byte(`{"id":"dup",`), 1)
	return []byte(`{"record":` + string(rec) + `,"signature":"` + env.Signature + `"}`)
}
