package api

import (
	"testing"

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
		var want ledger.Envelope
		if err := decodeStrict([]byte(tc.raw), &want); err != nil {
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
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, ok := scanEnvelope(raw)
		if !ok {
			return
		}
		var want ledger.Envelope
		if err := decodeStrict(raw, &want); err != nil {
			return // the record itself may be malformed JSON: Admit refuses it
		}
		if string(env.Record) != string(want.Record) || env.Signature != want.Signature {
			t.Fatalf("%q: scanner %q %q, decoder %q %q", raw, env.Record, env.Signature, want.Record, want.Signature)
		}
	})
}
