package epcisevent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzEvent: whatever a client sends as an event, Check, Summarize and
// Hash return an answer or an error, never a panic; an event Check
// accepts has an id.
func FuzzEvent(f *testing.F) {
	f.Add([]byte(benchEvent))
	files, _ := filepath.Glob("testdata/capture/Events/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"type":"ObjectEvent","epcList":["urn:epc:id:grai:401234567890...9"],"bizTransactionList":[{}]}`))
	f.Add([]byte(`{"type":"AggregationEvent","childEPCs":[1,{}],"sensorElementList":[{"sensorReport":[{"type":null}]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		if s, err := Check(raw); err == nil {
			if _, err := ID(raw, s); err != nil {
				t.Errorf("an accepted event has no id: %v", err)
			}
		}
		Summarize(raw)
		Hash(raw, nil)
	})
}

// FuzzCanonicalDL: the normaliser never panics; what it returns is a
// Digital Link URI on id.gs1.org, and from a Digital Link URI its own
// canonical form. (From an EPC URI it need not be: the reference
// percent-encodes a serial's characters, which its Digital Link patterns
// then refuse.)
func FuzzCanonicalDL(f *testing.F) {
	for _, s := range []string{"urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgln:012345678901..0",
		"urn:epc:id:gdti:987659999999..9", "urn:epc:id:itip:4012345.011111.01.02.987", "https://example.com/gtin/9780345418913/21/765tz?abc=1",
		"https://id.gs1.org/01/04012345123456/22/A/10/L/21/S", "urn:epc:idpat:cpi:0614141.123ABC.*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		dl, ok := CanonicalDL(uri)
		if !ok {
			return
		}
		if !strings.HasPrefix(dl, "https://id.gs1.org/") {
			t.Errorf("CanonicalDL(%q) = %q", uri, dl)
		}
		if !strings.HasPrefix(uri, "http") {
			return
		}
		if again, ok := CanonicalDL(dl); !ok || again != dl {
			t.Errorf("CanonicalDL(%q) = %q, whose canonical form is %q, %v", uri, dl, again, ok)
		}
	})
}
