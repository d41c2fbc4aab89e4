package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/traceledger/traceledger/ledger"
)

func TestScanEnvelopeAgreesWithDecoder(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		fast bool
	}{
		{`{"record":{"a":1},"signature":"0x01"}`, true},
		{` { "signature" : "0x01" , "record" : {"a":{"b":[1,"}"]}} } `, true},
		{`{"record":{"a":"\"}"},"signature":"0x01"}`, true},
		{`{"record":{"a":1}}`, false},                                     // missing signature
		{`{"record":{"a":1},"signature":"0x01","x":1}`, false},            // unknown member
		{`{"record":{"a":1},"record":{"b":2},"signature":"0x01"}`, false}, // repeated member
		{`{"record":{"a":1},"signature":"0\u0078"}`, false},               // escape
		{`{"record":[1],"signature":"0x01"}`, false},
		{`{"record":{"a":1},"signature":"0x01"} x`, false},
		{`{"record":{"a":1,"signature":"0x01"}`, false},
	} {
		env, ok := scanEnvelope([]byte(tc.raw))
		if ok != tc.fast {
			t.Errorf("scanEnvelope(%s) ok=%v, want %v", tc.raw, ok, tc.fast)
			continue
		}
		if !ok {
			continue
		}
		want, err := decodeEnvelopeMembers([]byte(tc.raw))
		if err != nil {
			t.Errorf("%s: scanner accepted what the decoder refuses: %v", tc.raw, err)
			continue
		}
		if string(env.Record) != string(want.Record) || env.Signature != want.Signature {
			t.Errorf("%s: scanner %q %q, decoder %q %q", tc.raw, env.Record, env.Signature, want.Record, want.Signature)
		}
	}
}

// FuzzScanEnvelope: whenever the scanner accepts an envelope, the strict
// decoder must accept it too and read the same record and signature.
func FuzzScanEnvelope(f *testing.F) {
	f.Add([]byte(`{"record":{"a":1},"signature":"0x01"}`))
	f.Add([]byte(`{"signature":"0x01","record":{"a":[{"b":"}"}]}}`))
	f.Add([]byte(`{"Record":{"a":1},"signature":"0x01"}`))
	f.Add([]byte(`{"record":{"a":1},"signature":"0x01","signature":"0x02"}`))
	f.Add([]byte(`{"recor\u0064":{"a":1},"signature":"0x01"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, ok := scanEnvelope(raw)
		if !ok {
			return
		}
		want, err := decodeEnvelopeMembers(raw)
		if err != nil {
			return // the record itself may be malformed JSON: Admit refuses it
		}
		if string(env.Record) != string(want.Record) || env.Signature != want.Signature {
			t.Fatalf("%q: scanner %q %q, decoder %q %q", raw, env.Record, env.Signature, want.Record, want.Signature)
		}
	})
}

func TestDecodeEnvelopeIsExact(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want error
	}{
		{`{"record":{"a":1},"signature":"0x01"}`, nil},
		{`{"recor\u0064":{"a":1},"signature":"0\u0078"}`, nil}, // the same names, escaped
		{`{"Record":{"a":1},"signature":"0x01"}`, ledger.ErrUnknownField},
		{`{"record":{"a":1},"SIGNATURE":"0x01"}`, ledger.ErrUnknownField},
		{`{"record":{"a":1},"signature":"0x01","signature":"0x02"}`, ledger.ErrDuplicateKey},
		{`{"record":{"a":1},"record":{"a":1},"signature":"0x01"}`, ledger.ErrDuplicateKey},
		{`{"record":{"a":1},"signature":"0x01","note":"x"}`, ledger.ErrUnknownField},
		{`{"records":[],"record":{"a":1},"signature":"0x01"}`, ledger.ErrUnknownField}, // no batches in batches
		{`{"record":{"a":1},"signature":5}`, ledger.ErrInvalidField},
		{`{"record":{"a":1},"signature":"0x01"`, ledger.ErrMalformed},
		{`{"record":{"a":1},"signature":"0x01"} {}`, ledger.ErrMalformed},
		{`["record"]`, ledger.ErrMalformed},
	} {
		env, err := decodeEnvelope([]byte(tc.raw))
		if tc.want == nil {
			if err != nil || string(env.Record) != `{"a":1}` || env.Signature != "0x01" && env.Signature != "0x" {
				t.Errorf("%s: %+v, %v", tc.raw, env, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.raw, err, tc.want)
		}
	}
}

func TestDecodeSubmission(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		batch bool
		want  error
	}{
		{`{"record":{"a":1},"signature":"0x01"}`, false, nil},
		{`{"records":[{"record":{"a":1},"signature":"0x01"}]}`, true, nil},
		{`{"Records":[]}`, false, ledger.ErrUnknownField},
		{`{"records":[],"records":[]}`, false, ledger.ErrDuplicateKey},
		{`{"records":[],"record":{"a":1}}`, false, ledger.ErrMalformed},
		{`{"records":null}`, false, ledger.ErrInvalidField},
		{`{"records":{}}`, false, ledger.ErrInvalidField},
		{`{"record":{"a":1},"signature":"0x01","extra":true}`, false, ledger.ErrUnknownField},
	} {
		_, recs, batch, err := decodeSubmission([]byte(tc.raw))
		if tc.want == nil {
			if err != nil || batch != tc.batch || batch && len(recs) != 1 {
				t.Errorf("%s: batch=%v %d records, %v", tc.raw, batch, len(recs), err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.raw, err, tc.want)
		}
	}
}

// FuzzDecodeSubmission: the body decoder refuses with a 400 or reads a
// submission; it never reads one member twice.
func FuzzDecodeSubmission(f *testing.F) {
	f.Add([]byte(`{"record":{"a":1},"signature":"0x01"}`))
	f.Add([]byte(`{"records":[{"record":{"a":1},"signature":"0x01"}]}`))
	f.Add([]byte(`{"Record":{"a":1},"signature":"0x01"}`))
	f.Add([]byte(`{"record":{"a":1},"signature":"0x01","signature":"0x02"}`))
	f.Add([]byte(`{"records":[],"records":[1]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _, _, err := decodeSubmission(raw)
		if err != nil {
			if k, _, ok := ledger.Describe(err); !ok || k != ledger.KindInvalid {
				t.Fatalf("%q: error %v is not a 400", raw, err)
			}
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			t.Fatalf("%q accepted but is not a JSON object", raw)
		}
		for k := range m {
			if !slices.Contains(submissionMembers, k) {
				t.Fatalf("%q accepted with member %q", raw, k)
			}
		}
	})
}

// BenchmarkDecodeEnvelope compares the scanner with the general decoder on
// a typical envelope (a harvest record, ~400 bytes), beside one signature
// recovery, the step that dominates admission. The scanner stays only while
// it saves a share of admission worth its code:
//
//	go test -run '^$' -bench DecodeEnvelope ./api/
func BenchmarkDecodeEnvelope(b *testing.B) {
	key, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	rec := fmt.Sprintf(`{"id":"h-0001","lot":{"gtin":"08938505974019","lot":"LN2606A"},"place":{"geo":"21.387,106.556","growing_area_code":"VN-BGLN-0012","name":"Vườn vải Phì Điền, Lục Ngạn","province":"Bắc Giang"},"product":{"name":"Vải thiều Lục Ngạn","name_en":"Luc Ngan lychee"},"quantity":{"amount":500,"unit":"KGM"},"signer":"%s","time":"2026-06-01T06:30:00+07:00","type":"harvest"}`,
		ledger.AddressOf(key).Hex())
	env, err := ledger.SignEnvelope(key, []byte(rec))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := scanEnvelope(raw); !ok {
		b.Fatal("the scanner does not take a typical envelope")
	}
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, ok := scanEnvelope(raw); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := decodeEnvelopeMembers(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("admit", func(b *testing.B) { // canonical check, validation, recovery
		for b.Loop() {
			if _, err := ledger.Admit(env, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
