package ledger_test

// Fuzz targets. Without -fuzz they run their seed corpus as ordinary tests.
//
//	go test ./ledger -run '^$' -fuzz FuzzCanonicalize -fuzztime 30s

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/traceledger/traceledger/ledger"
)

// scenarioSeeds returns the records and signatures of the public scenario.
func scenarioSeeds(f *testing.F) (records [][]byte, sigs []string) {
	f.Helper()
	b, err := os.ReadFile("../testdata/scenario-public.json")
	if err != nil {
		f.Fatal(err)
	}
	var s scenario
	if err := json.Unmarshal(b, &s); err != nil {
		f.Fatal(err)
	}
	for _, st := range s.Steps {
		records = append(records, st.Envelope.Record, []byte(st.Canonical))
		sigs = append(sigs, st.Envelope.Signature, st.Envelope.Signature)
	}
	return records, sigs
}

var extraJSONSeeds = []string{
	`{}`, `[]`, `null`, `1e21`, `-0`, `0.1`, `1E400`, `"\u0000\ud800"`, `{"a":1,"a":2}`, `{"\u20ac":1,"\r":2,"ö":3,"1":4}`,
	`[1e-7,123456789012345678901234567890,5e-324,1.7976931348623157e308]`, `{"a":[[[[[[]]]]]]}`,
	"{\"a\":\"\xff\"}", `{"a":"\\\"[{"}`, `  {"b" : true , "a":false}  `, `{"id":"x"} trailing`,
	// Strict records: forbidden characters, repeated and case-variant names, "after".
	`{"type":"inspect","note":"a\u0000b"}`, "{\"type\":\"inspect\",\"note\":\"\u202e\"}", `{"attributes":{"k\u0007":1},"type":"harvest"}`,
	`{"type":"transfer","ID":"x","id":"y"}`, `{"attributes":{"a":[{"b":1,"b":2}]},"type":"harvest"}`,
	`{"after":"` + strings.Repeat("0", 64) + `","id":"t","lot":{"gtin":"08936000000127","lot":"A"},"signer":"0xf6B12D92Df87eFd90600Df5f791b49BA795953bd","time":"2026-06-01T06:15:00+07:00","type":"receive"}`,
}

func FuzzCanonicalize(f *testing.F) {
	records, _ := scenarioSeeds(f)
	for _, r := range records {
		f.Add(r)
	}
	for _, s := range extraJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// The fast path (input already canonical) must agree with the
		// canonicaliser itself.
		if ledger.IsCanonical(raw) {
			full, err := jcs.Transform(raw)
			if err != nil || !bytes.Equal(full, raw) {
				t.Fatalf("%q judged canonical, but jcs gives %q (%v)", raw, full, err)
			}
		}
		out, err := ledger.Canonicalize(raw)
		if err != nil {
			if k, _, ok := ledger.Describe(err); !ok || k != ledger.KindInvalid {
				t.Fatalf("Canonicalize error %v is not a KindInvalid *ledger.Error", err)
			}
			return
		}
		again, err := ledger.Canonicalize(out)
		if err != nil {
			t.Fatalf("canonical output %q does not canonicalise again: %v", out, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n  once %q\n twice %q", out, again)
		}
		if !json.Valid(out) {
			t.Fatalf("canonical output %q is not valid JSON", out)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	records, _ := scenarioSeeds(f)
	for _, r := range records {
		f.Add(r)
	}
	for _, s := range extraJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rec, err := ledger.DecodeRecord(raw)
		if err != nil {
			if k, _, ok := ledger.Describe(err); !ok || k != ledger.KindInvalid {
				t.Fatalf("DecodeRecord error %v is not a KindInvalid *ledger.Error", err)
			}
			return
		}
		if rec.Type == "" || rec.ID == "" {
			t.Fatalf("decoded record without type or id: %+v", rec)
		}
		if _, err := ledger.ParseAddress(rec.Signer); err != nil {
			t.Fatalf("decoded record with a bad signer %q", rec.Signer)
		}
		for _, l := range rec.Lots() {
			if len(l.GTIN) != 14 || ledger.CheckLot(l.Lot) != nil {
				t.Fatalf("decoded record names lot %+v", l)
			}
		}
	})
}

func FuzzAdmit(f *testing.F) {
	records, sigs := scenarioSeeds(f)
	for i := range records {
		f.Add(records[i], sigs[i], int64(0))
		f.Add(records[i], sigs[i], time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	}
	f.Add([]byte(`{"type":"harvest"}`), "0x00", int64(1))
	f.Fuzz(func(t *testing.T, raw []byte, sig string, nowNanos int64) {
		var now time.Time
		if nowNanos != 0 {
			now = time.Unix(0, nowNanos)
		}
		adm, err := ledger.Admit(ledger.Envelope{Record: raw, Signature: sig}, now)
		if err != nil {
			k, _, ok := ledger.Describe(err)
			if !ok || (k != ledger.KindInvalid && k != ledger.KindSignature) {
				t.Fatalf("Admit error %v is not a stateless refusal", err)
			}
			return
		}
		if again, err := ledger.Canonicalize(adm.Canonical); err != nil || !bytes.Equal(again, adm.Canonical) {
			t.Fatalf("admitted bytes are not canonical: %q", adm.Canonical)
		}
		signer, err := ledger.Recover(adm.Canonical, adm.Signature)
		if err != nil || signer != adm.Signer {
			t.Fatalf("admitted signature recovers %s, %v; want %s", signer.Hex(), err, adm.Signer.Hex())
		}
		if _, err := ledger.DecodeRecord(adm.Canonical); err != nil {
			t.Fatalf("admitted record does not decode: %v", err)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdGenesis, Time: genesisTime}))
	records, sigs := scenarioSeeds(f)
	for i := 0; i < 4; i++ {
		adm, err := ledger.Admit(ledger.Envelope{Record: records[i], Signature: sigs[i]}, time.Time{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime, Envelopes: []*ledger.Admitted{adm}}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ledger.DecodeCommand(b)
		if err != nil {
			return
		}
		if again := ledger.EncodeCommand(c); !bytes.Equal(again, b) {
			t.Fatalf("decode/encode round trip differs:\n%x\n%x", b, again)
		}
	})
}
