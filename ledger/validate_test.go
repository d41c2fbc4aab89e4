package ledger_test

// Stateless checks: field validation in DecodeRecord, canonicalisation
// limits, and the signature checks of Admit.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
)

// validSigner is an EIP-55 checksummed address (from the public scenario).
const validSigner = "0xf6B12D92Df87eFd90600Df5f791b49BA795953bd"

// badChecksum flips the case of the first letter of a checksummed address.
func badChecksum(addr string) string {
	b := []byte(addr)
	for i := 2; i < len(b); i++ {
		switch {
		case b[i] >= 'a' && b[i] <= 'f':
			b[i] -= 'a' - 'A'
			return string(b)
		case b[i] >= 'A' && b[i] <= 'F':
			b[i] += 'a' - 'A'
			return string(b)
		}
	}
	panic("no letter in " + addr)
}

func withHeader(rec map[string]any) map[string]any {
	rec["id"] = "v-1"
	rec["time"] = "2026-06-01T06:15:00+07:00"
	rec["signer"] = validSigner
	return rec
}

// at returns the object under path in rec.
func at(rec map[string]any, path ...string) map[string]any {
	m := rec
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func decodeMap(rec map[string]any) (*ledger.Record, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	canon, err := ledger.Canonicalize(raw)
	if err != nil {
		return nil, err
	}
	return ledger.DecodeRecord(canon)
}

type fieldCase struct {
	name   string
	base   func() map[string]any
	mutate func(map[string]any)
	want   error // nil: valid
}

func set(path []string, field string, v any) func(map[string]any) {
	return func(m map[string]any) { at(m, path...)[field] = v }
}

func del(path []string, field string) func(map[string]any) {
	return func(m map[string]any) { delete(at(m, path...), field) }
}

var top []string

func harvestBase() map[string]any { return withHeader(harvestRec("V1", "500", "KGM")) }

func TestDecodeRecordHarvestFields(t *testing.T) {
	h := harvestBase
	q, lot, prod, place := []string{"quantity"}, []string{"lot"}, []string{"product"}, []string{"place"}
	cases := []fieldCase{
		{"valid", h, func(map[string]any) {}, nil},
		{"unknown top-level field", h, set(top, "color", "red"), ledger.ErrUnknownField},
		{"unknown field in lot", h, set(lot, "serial", "1"), ledger.ErrUnknownField},
		{"unknown field in quantity", h, set(q, "approx", true), ledger.ErrUnknownField},
		{"unknown field in product", h, set(prod, "price", 5), ledger.ErrUnknownField},
		{"unknown field in place", h, set(place, "altitude", 5), ledger.ErrUnknownField},
		{"free-form attributes", h, set(top, "attributes", map[string]any{"color": "red", "x": []any{1, map[string]any{"y": nil}}}), nil},
		{"attributes not an object", h, set(top, "attributes", []any{1}), ledger.ErrInvalidField},
		{"attributes a string", h, set(top, "attributes", "x"), ledger.ErrInvalidField},
		{"missing type", h, del(top, "type"), ledger.ErrMissingField},
		{"empty type", h, set(top, "type", ""), ledger.ErrMissingField},
		{"unknown type", h, set(top, "type", "shipment"), ledger.ErrUnknownType},
		{"genesis type", h, set(top, "type", "genesis"), ledger.ErrUnknownType},
		{"capitalised type", h, set(top, "type", "Harvest"), ledger.ErrUnknownType},
		{"numeric type", h, set(top, "type", 5), ledger.ErrInvalidField},
		{"missing id", h, del(top, "id"), ledger.ErrMissingField},
		{"missing signer", h, del(top, "signer"), ledger.ErrMissingField},
		{"missing time", h, del(top, "time"), ledger.ErrMissingField},
		{"missing lot", h, del(top, "lot"), ledger.ErrMissingField},
		{"missing lot code", h, del(lot, "lot"), ledger.ErrInvalidLot},
		{"missing quantity", h, del(top, "quantity"), ledger.ErrMissingField},
		{"missing unit", h, del(q, "unit"), ledger.ErrMissingField},
		{"missing product name", h, del(prod, "name"), ledger.ErrMissingField},
		{"blank product name", h, set(prod, "name", "   "), ledger.ErrInvalidField},
		{"product name too long", h, set(prod, "name", strings.Repeat("ả", 201)), ledger.ErrInvalidField},
		{"product name 200 characters", h, set(prod, "name", strings.Repeat("ả", 200)), nil},
		{"missing place", h, del(top, "place"), ledger.ErrMissingField},
		{"time without offset", h, set(top, "time", "2026-06-01T06:15:00"), ledger.ErrInvalidTime},
		{"date only", h, set(top, "time", "2026-06-01"), ledger.ErrInvalidTime},
		{"space separator", h, set(top, "time", "2026-06-01 06:15:00+07:00"), ledger.ErrInvalidTime},
		{"offset without colon", h, set(top, "time", "2026-06-01T06:15:00+0700"), ledger.ErrInvalidTime},
		{"month 13", h, set(top, "time", "2026-13-01T06:15:00Z"), ledger.ErrInvalidTime},
		{"hour 25", h, set(top, "time", "2026-06-01T25:15:00Z"), ledger.ErrInvalidTime},
		{"time not a string", h, set(top, "time", 1717200000), ledger.ErrInvalidField},
		{"time in UTC with fraction", h, set(top, "time", "2026-06-01T06:15:00.123456789Z"), nil},
		{"unit kg", h, set(q, "unit", "kg"), ledger.ErrInvalidUnit},
		{"unit KG", h, set(q, "unit", "KG"), ledger.ErrInvalidUnit},
		{"unit kgm", h, set(q, "unit", "kgm"), ledger.ErrInvalidUnit},
		{"unit H87", h, set(q, "unit", "H87"), nil},
		{"amount zero", h, set(q, "amount", json.Number("0")), ledger.ErrInvalidAmount},
		{"amount negative", h, set(q, "amount", json.Number("-5")), ledger.ErrInvalidAmount},
		{"amount negative fraction", h, set(q, "amount", json.Number("-0.5")), ledger.ErrInvalidAmount},
		{"amount 7 decimals", h, set(q, "amount", json.Number("1.1234567")), ledger.ErrInvalidAmount},
		{"amount 1e-7", h, set(q, "amount", json.Number("0.0000001")), ledger.ErrInvalidAmount},
		{"amount 6 decimals", h, set(q, "amount", json.Number("0.000001")), nil},
		{"amount 10^12", h, set(q, "amount", json.Number("1000000000000")), nil},
		{"amount above 10^12", h, set(q, "amount", json.Number("1000000000001")), ledger.ErrInvalidAmount},
		{"amount 1e13", h, set(q, "amount", json.Number("1e13")), ledger.ErrInvalidAmount},
		{"amount boolean", h, set(q, "amount", true), ledger.ErrInvalidField},
		{"geo with space", h, set(place, "geo", "21.387, 106.556"), nil},
		{"geo negative", h, set(place, "geo", "-33.9,-70.5"), nil},
		{"geo latitude 91", h, set(place, "geo", "91,0"), ledger.ErrInvalidField},
		{"geo longitude 181", h, set(place, "geo", "0,181"), ledger.ErrInvalidField},
		{"geo semicolon", h, set(place, "geo", "21.3;106.5"), ledger.ErrInvalidField},
		{"geo one number", h, set(place, "geo", "21.3"), ledger.ErrInvalidField},
		{"geo words", h, set(place, "geo", "Lục Ngạn"), ledger.ErrInvalidField},
		{"gtin check digit", h, set(lot, "gtin", "08936000000128"), ledger.ErrInvalidGTIN},
		{"gtin letters", h, set(lot, "gtin", "0893600000012A"), ledger.ErrInvalidGTIN},
		{"lot with Vietnamese letter", h, set(lot, "lot", "LÔ01"), ledger.ErrInvalidLot},
		{"lot with space", h, set(lot, "lot", "LOT 1"), ledger.ErrInvalidLot},
		{"lot of 21 characters", h, set(lot, "lot", strings.Repeat("A", 21)), ledger.ErrInvalidLot},
		{"signer with a wrong EIP-55 checksum", h, set(top, "signer", badChecksum(validSigner)), ledger.ErrInvalidAddr},
		{"signer lower case", h, set(top, "signer", strings.ToLower(validSigner)), nil},
		{"signer without 0x", h, set(top, "signer", validSigner[2:]+"00"), ledger.ErrInvalidAddr},
		{"signer too short", h, set(top, "signer", validSigner[:40]), ledger.ErrInvalidAddr},
		{"signer not hex", h, set(top, "signer", "0x"+strings.Repeat("g", 40)), ledger.ErrInvalidAddr},
		{"id of 64 characters", h, set(top, "id", strings.Repeat("x", 64)), nil},
		{"id of 64 Vietnamese letters", h, set(top, "id", strings.Repeat("ệ", 64)), nil},
		{"id of 65 characters", h, set(top, "id", strings.Repeat("x", 65)), ledger.ErrInvalidField},
		{"id with a newline", h, set(top, "id", "a\nb"), ledger.ErrInvalidField},
		{"empty id", h, set(top, "id", ""), ledger.ErrMissingField},
		{"numeric id", h, set(top, "id", 7), ledger.ErrInvalidField},
		{"certificate", h, set(top, "certificates", []any{map[string]any{"scheme": "OCOP", "stars": 4, "valid_from": "2026-01-01", "valid_until": "2028-12-31"}}), nil},
		{"certificate with 6 stars", h, set(top, "certificates", []any{map[string]any{"scheme": "OCOP", "stars": 6}}), ledger.ErrInvalidField},
		{"certificate without scheme", h, set(top, "certificates", []any{map[string]any{"number": "1"}}), ledger.ErrMissingField},
		{"certificate date with slashes", h, set(top, "certificates", []any{map[string]any{"scheme": "VietGAP", "valid_from": "2026/01/01"}}), ledger.ErrInvalidTime},
		{"certificate ends before it starts", h, set(top, "certificates", []any{map[string]any{"scheme": "VietGAP", "valid_from": "2026-02-01", "valid_until": "2026-01-01"}}), ledger.ErrInvalidField},
		{"record larger than MaxRecordBytes", h, set(top, "attributes", map[string]any{"blob": strings.Repeat("x", ledger.MaxRecordBytes)}), ledger.ErrMalformed},
	}
	runFieldCases(t, cases)
}

func runFieldCases(t *testing.T, cases []fieldCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := c.base()
			c.mutate(rec)
			_, err := decodeMap(rec)
			if c.want == nil {
				if err != nil {
					t.Errorf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if k, _, _ := ledger.Describe(err); k != ledger.KindInvalid {
				t.Errorf("kind %d, want KindInvalid", k)
			}
		})
	}
}

func TestDecodeRecordOtherTypes(t *testing.T) {
	other := newKey(t).hex()
	part := func() map[string]any {
		r := withHeader(map[string]any{"type": "participant", "address": other, "name": "HTX", "roles": []any{"producer"}})
		return r
	}
	transfer := func() map[string]any {
		return withHeader(map[string]any{"type": "transfer", "lot": lotJSON("V1"), "to": other})
	}
	transform := func() map[string]any {
		return withHeader(transformRec([]lq{{"V1", "1", "KGM"}}, []lq{{"V2", "1", "KGM"}}))
	}
	inspect := func() map[string]any { return withHeader(inspectRec("V1", "pass")) }
	recall := func() map[string]any { return withHeader(recallRec("V1")) }
	receive := func() map[string]any { return withHeader(receiveRec("V1")) }
	many := make([]any, ledger.MaxTransformLots+1)
	for i := range many {
		many[i] = map[string]any{"lot": lotJSON(fmt.Sprintf("M%d", i)), "quantity": qty("1", "KGM")}
	}
	cases := []fieldCase{
		{"participant", part, func(map[string]any) {}, nil},
		{"participant with every role", part, set(top, "roles", []any{"admin", "producer", "processor", "distributor", "retailer", "inspector"}), nil},
		{"participant role farmer", part, set(top, "roles", []any{"farmer"}), ledger.ErrInvalidField},
		{"participant role twice", part, set(top, "roles", []any{"producer", "producer"}), ledger.ErrInvalidField},
		{"participant without roles", part, set(top, "roles", []any{}), ledger.ErrMissingField},
		{"participant without address", part, del(top, "address"), ledger.ErrMissingField},
		{"participant without name", part, del(top, "name"), ledger.ErrMissingField},
		{"participant address with a wrong checksum", part, set(top, "address", badChecksum(other)), ledger.ErrInvalidAddr},
		{"participant gln of 12 digits", part, set(top, "gln", "893600000000"), ledger.ErrInvalidField},
		{"participant gln check digit", part, set(top, "gln", "8936000000005"), ledger.ErrInvalidField},
		{"participant tax code too long", part, set(top, "tax_code", strings.Repeat("1", 21)), ledger.ErrInvalidField},
		{"participant with a lot", part, set(top, "lot", lotJSON("V1")), ledger.ErrUnknownField},
		{"participant location without name", part, set(top, "location", map[string]any{"province": "Hà Giang"}), ledger.ErrMissingField},
		{"transfer", transfer, func(map[string]any) {}, nil},
		{"transfer without to", transfer, del(top, "to"), ledger.ErrMissingField},
		{"transfer to with a wrong checksum", transfer, set(top, "to", badChecksum(other)), ledger.ErrInvalidAddr},
		{"transfer to the signer in lower case", transfer, set(top, "to", strings.ToLower(validSigner)), ledger.ErrInvalidField},
		{"transfer with a quantity", transfer, set(top, "quantity", qty("1", "KGM")), ledger.ErrUnknownField},
		{"receive", receive, func(map[string]any) {}, nil},
		{"receive with to", receive, set(top, "to", other), ledger.ErrUnknownField},
		{"transform", transform, func(map[string]any) {}, nil},
		{"transform without inputs", transform, del(top, "inputs"), ledger.ErrMissingField},
		{"transform with no outputs", transform, set(top, "outputs", []any{}), ledger.ErrMissingField},
		{"transform output without product", transform, func(m map[string]any) {
			delete(m["outputs"].([]any)[0].(map[string]any), "product")
		}, ledger.ErrMissingField},
		{"transform input without quantity", transform, func(m map[string]any) {
			delete(m["inputs"].([]any)[0].(map[string]any), "quantity")
		}, ledger.ErrMissingField},
		{"transform input amount zero", transform, func(m map[string]any) {
			m["inputs"].([]any)[0].(map[string]any)["quantity"] = qty("0", "KGM")
		}, ledger.ErrInvalidAmount},
		{"transform with too many inputs", transform, set(top, "inputs", many), ledger.ErrInvalidField},
		{"transform output named as input by GTIN-13", transform, func(m map[string]any) {
			m["outputs"].([]any)[0].(map[string]any)["lot"] = map[string]any{"gtin": gtin[1:], "lot": "V1"}
		}, ledger.ErrInvalidField},
		{"inspect", inspect, func(map[string]any) {}, nil},
		{"inspect without result", inspect, del(top, "result"), ledger.ErrMissingField},
		{"inspect result PASS", inspect, set(top, "result", "PASS"), ledger.ErrInvalidField},
		{"recall", recall, func(map[string]any) {}, nil},
		{"recall without reason", recall, del(top, "reason"), ledger.ErrMissingField},
		{"recall blank reason", recall, set(top, "reason", " "), ledger.ErrInvalidField},
	}
	runFieldCases(t, cases)
}

func TestDecodeRecordResult(t *testing.T) {
	rec := harvestBase()
	at(rec, "lot")["gtin"] = gtin[1:]
	r, err := decodeMap(rec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != ledger.TypeHarvest || r.Harvest == nil || r.Transfer != nil || r.ID != "v-1" || r.Signer != validSigner {
		t.Errorf("record %+v", r)
	}
	if r.Harvest.Lot.GTIN != gtin {
		t.Errorf("GTIN %q not normalised to %q", r.Harvest.Lot.GTIN, gtin)
	}
	if got := r.Lots(); len(got) != 1 || got[0] != ref("V1") {
		t.Errorf("Lots() = %v", got)
	}
	tr, err := decodeMap(withHeader(transformRec([]lq{{"A", "1", "KGM"}, {"B", "1", "KGM"}}, []lq{{"C", "1", "KGM"}})))
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Lots(); len(got) != 3 || got[0] != ref("A") || got[2] != ref("C") {
		t.Errorf("transform Lots() = %v", got)
	}
}

// Field names are matched exactly: encoding/json's case-insensitive
// matching would let "LOT" or "Signer" through as known fields, so that the
// ledger reads a record differently from a strict verifier.
func TestDecodeRecordFieldNamesAreCaseSensitive(t *testing.T) {
	for _, c := range []struct{ from, to string }{{"lot", "LOT"}, {"quantity", "Quantity"}, {"place", "Place"}} {
		rec := harvestBase()
		rec[c.to] = rec[c.from]
		delete(rec, c.from)
		if _, err := decodeMap(rec); err == nil {
			t.Errorf("a record with %q instead of %q was accepted", c.to, c.from)
		}
	}
	// Two members differing only by case are both in the signed bytes; the
	// ledger must not silently pick one of them.
	rec := harvestBase()
	rec["ID"] = "other-id"
	if r, err := decodeMap(rec); err == nil {
		t.Errorf("a record with both \"id\" and \"ID\" was accepted (id read as %q)", r.ID)
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	nest := func(depth int) []byte {
		return []byte(`{"type":"harvest","attributes":` + strings.Repeat(`[`, depth-2) + `{}` + strings.Repeat(`]`, depth-2) + `}`)
	}
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{"depth MaxDepth", nest(ledger.MaxDepth), nil},
		{"depth MaxDepth+1", nest(ledger.MaxDepth + 1), ledger.ErrMalformed},
		{"deep nesting", []byte(strings.Repeat(`[`, 100000) + strings.Repeat(`]`, 100000)), ledger.ErrMalformed},
		{"brackets inside strings do not count", []byte(`{"a":"` + strings.Repeat(`[{`, 100) + `\"` + `"}`), nil},
		{"invalid UTF-8", []byte("{\"id\":\"\xff\xfe\"}"), ledger.ErrMalformed},
		{"truncated UTF-8", []byte("{\"id\":\"\xe1\xba\"}"), ledger.ErrMalformed},
		{"duplicate keys", []byte(`{"id":"a","id":"b"}`), ledger.ErrDuplicateKey},
		{"nested duplicate keys", []byte(`{"lot":{"lot":"A","lot":"B"}}`), ledger.ErrDuplicateKey},
		{"duplicate keys, one escaped", []byte(`{"id":"a","i\u0064":"b"}`), ledger.ErrDuplicateKey},
		{"trailing data", []byte(`{"id":"a"} {}`), ledger.ErrMalformed},
		{"not JSON", []byte(`{id:1}`), ledger.ErrMalformed},
		{"empty", []byte(``), ledger.ErrMalformed},
	}
	for _, c := range cases {
		out, err := ledger.Canonicalize(c.raw)
		if c.want == nil && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %q, %v; want %v", c.name, out, err, c.want)
		}
	}
	out, err := ledger.Canonicalize([]byte(" {\"b\": 1.50, \"a\": [1e3, \"\\u00e9\", \"<&>\"]}\n"))
	if want := `{"a":[1000,"é","<&>"],"b":1.5}`; err != nil || string(out) != want {
		t.Errorf("Canonicalize = %s, %v; want %s", out, err, want)
	}
}

// Admit rejects the same depth and encoding problems before decoding.
func TestAdmitShape(t *testing.T) {
	k := newKey(t)
	good := signRecord(t, k, withHeaderFor(k, harvestRec("V1", "500", "KGM")))
	cases := []struct {
		name string
		env  ledger.Envelope
		want error
	}{
		{"no record", ledger.Envelope{Signature: good.Signature}, ledger.ErrMissingField},
		{"null record", ledger.Envelope{Record: json.RawMessage("null"), Signature: good.Signature}, ledger.ErrMissingField},
		{"no signature", ledger.Envelope{Record: good.Record}, ledger.ErrMissingField},
		{"record is an array", ledger.Envelope{Record: json.RawMessage(`[1]`), Signature: good.Signature}, ledger.ErrMalformed},
		{"record is a string", ledger.Envelope{Record: json.RawMessage(`"x"`), Signature: good.Signature}, ledger.ErrMalformed},
		{"record nested too deep", ledger.Envelope{Record: json.RawMessage(strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)), Signature: good.Signature}, ledger.ErrMalformed},
		{"record with duplicate keys", ledger.Envelope{Record: json.RawMessage(`{"type":"harvest","type":"recall"}`), Signature: good.Signature}, ledger.ErrDuplicateKey},
		{"record with invalid UTF-8", ledger.Envelope{Record: json.RawMessage("{\"type\":\"harvest\",\"id\":\"\xc3\"}"), Signature: good.Signature}, ledger.ErrMalformed},
	}
	for _, c := range cases {
		if _, err := ledger.Admit(c.env, time.Time{}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func withHeaderFor(k *key, rec map[string]any) map[string]any {
	withHeader(rec)
	rec["signer"] = k.hex()
	return rec
}

func TestAdmitSignature(t *testing.T) {
	k, other := newKey(t), newKey(t)
	rec := withHeaderFor(k, harvestRec("V1", "500", "KGM"))
	at(rec, "lot")["gtin"] = gtin[1:]
	env := signRecord(t, k, rec)
	adm, err := ledger.Admit(env, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	canon, _ := ledger.Canonicalize(env.Record)
	if string(adm.Canonical) != string(canon) || adm.Signer != k.addr || fmt.Sprintf("0x%x", adm.Signature) != env.Signature {
		t.Errorf("admitted %+v", adm)
	}
	if adm.Record == nil || adm.Record.Harvest == nil || adm.Record.Harvest.Lot.GTIN != gtin {
		t.Errorf("admitted record %+v", adm.Record)
	}

	sig, _ := ledger.ParseSignature(env.Signature)
	with := func(b []byte) ledger.Envelope {
		return ledger.Envelope{Record: env.Record, Signature: fmt.Sprintf("0x%x", b)}
	}
	v01 := append([]byte(nil), sig...)
	v01[64] -= 27
	highS := append([]byte(nil), sig...)
	s := new(big.Int).Sub(crypto.S256().Params().N, new(big.Int).SetBytes(sig[32:64]))
	s.FillBytes(highS[32:64])
	highS[64] ^= 1 // 27 <-> 28
	flipped := append([]byte(nil), sig...)
	flipped[10] ^= 0x40
	v29 := append([]byte(nil), sig...)
	v29[64] = 29
	// A signature over the record as written rather than its canonical form.
	pretty, _ := json.MarshalIndent(rec, "", "   ")
	raw := ledger.Envelope{Record: pretty}
	rs, _ := ledger.Sign(k.priv, pretty)
	raw.Signature = fmt.Sprintf("0x%x", rs)
	// The same record signed by another key, still naming k as signer.
	byOther := signRaw(t, other, env.Record)

	cases := []struct {
		name string
		env  ledger.Envelope
		want error
	}{
		{"v as 0/1", with(v01), nil},
		{"upper-case 0X prefix", ledger.Envelope{Record: env.Record, Signature: "0X" + env.Signature[2:]}, nil},
		{"no 0x prefix", ledger.Envelope{Record: env.Record, Signature: env.Signature[2:]}, ledger.ErrBadSignature},
		{"not hex", ledger.Envelope{Record: env.Record, Signature: "0x" + strings.Repeat("zz", 65)}, ledger.ErrBadSignature},
		{"64 bytes", with(sig[:64]), ledger.ErrBadSignature},
		{"66 bytes", with(append(append([]byte(nil), sig...), 0)), ledger.ErrBadSignature},
		{"v = 29", with(v29), ledger.ErrBadSignature},
		{"high-S twin", with(highS), ledger.ErrBadSignature},
		{"r and s zero", with(make([]byte, 65)), ledger.ErrBadSignature},
		{"corrupted", with(flipped), nil}, // either ErrBadSignature or ErrSignerMismatch
		{"signed by another key", byOther, ledger.ErrSignerMismatch},
		{"signed over non-canonical bytes", raw, ledger.ErrSignerMismatch},
	}
	for _, c := range cases {
		_, err := ledger.Admit(c.env, time.Time{})
		switch {
		case c.name == "corrupted":
			if k, _, _ := ledger.Describe(err); k != ledger.KindSignature {
				t.Errorf("%s: %v, want a KindSignature error", c.name, err)
			}
		case c.want == nil && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}

	// The record may be sent in any key order and spacing: the canonical
	// bytes are what was signed.
	if _, err := ledger.Admit(ledger.Envelope{Record: pretty, Signature: env.Signature}, time.Time{}); err != nil {
		t.Errorf("indented record: %v", err)
	}
}

func TestAdmitFutureTime(t *testing.T) {
	k := newKey(t)
	when := time.Date(2026, 6, 1, 6, 15, 0, 0, time.FixedZone("ICT", 7*3600))
	rec := withHeaderFor(k, harvestRec("V1", "500", "KGM"))
	rec["time"] = when.Format(time.RFC3339)
	env := signRecord(t, k, rec)
	for _, c := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"zero now skips the check", time.Time{}, nil},
		{"recorded after it happened", when.Add(30 * 24 * time.Hour), nil},
		{"within the skew", when.Add(-ledger.FutureSkew + time.Minute), nil},
		{"exactly at the skew", when.Add(-ledger.FutureSkew), nil},
		{"beyond the skew", when.Add(-ledger.FutureSkew - time.Second), ledger.ErrInvalidTime},
		{"a month early", when.Add(-30 * 24 * time.Hour), ledger.ErrInvalidTime},
	} {
		_, err := ledger.Admit(env, c.now)
		if (c.want == nil && err != nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParseAddress(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{validSigner, true}, {strings.ToLower(validSigner), true}, {"0x" + strings.ToUpper(validSigner[2:]), true},
		{"0X" + validSigner[2:], true}, {badChecksum(validSigner), false}, {validSigner[:41], false},
		{validSigner + "0", false}, {"", false}, {"0x" + strings.Repeat("z", 40), false}, {validSigner[:41] + "g", false},
	} {
		a, err := ledger.ParseAddress(c.in)
		if c.ok && (err != nil || !strings.EqualFold(a.Hex(), "0x"+c.in[2:])) {
			t.Errorf("ParseAddress(%q) = %s, %v", c.in, a.Hex(), err)
		}
		if !c.ok && !errors.Is(err, ledger.ErrInvalidAddr) {
			t.Errorf("ParseAddress(%q) = %v, want ErrInvalidAddr", c.in, err)
		}
	}
}

// A lot code outside CSET 82 is refused naming the character the user
// typed, not one byte of its UTF-8 form.
func TestCheckLotNamesTheCharacter(t *testing.T) {
	for _, tc := range []struct{ lot, want, not string }{
		{"Lô-Vải-1", `character 'ô'`, "Ã"},
		{"LÔ 1", `character 'Ô'`, "Ã"},
		{"AB 1", `character ' '`, ""},
		{"A#1", `character '#'`, ""},
		{"A\xc3", `byte 0xc3 is not UTF-8`, ""},
	} {
		err := ledger.CheckLot(tc.lot)
		if !errors.Is(err, ledger.ErrInvalidLot) {
			t.Errorf("CheckLot(%q) = %v, want ErrInvalidLot", tc.lot, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || (tc.not != "" && strings.Contains(err.Error(), tc.not)) {
			t.Errorf("CheckLot(%q) = %q, want it to name %s", tc.lot, err, tc.want)
		}
	}
	for _, ok := range []string{"LNB2606A", "VT-2026/0001", `A!"%&'()*+,-./:;<=>?_`[:20]} {
		if err := ledger.CheckLot(ok); err != nil {
			t.Errorf("CheckLot(%q) = %v, want nil", ok, err)
		}
	}
}
