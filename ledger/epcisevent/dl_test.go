package epcisevent

import (
	"encoding/json"
	"testing"
)

func TestCanonicalDL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"},
		{"urn:epc:class:lgtin:4012345.012345.Lot987", "https://id.gs1.org/01/04012345123456/10/Lot987"},
		{"urn:epc:id:sgln:4012345.00005.0", "https://id.gs1.org/414/4012345000054"},
		{"urn:epc:id:sscc:4012345.0000000333", "https://id.gs1.org/00/040123450000003338"},
		{"https://example.com/gtin/09780345418913/21/765tz?abc=1", "https://id.gs1.org/01/09780345418913/21/765tz"},
		{"https://id.gs1.org/01/4012345123456/10/L1", "https://id.gs1.org/01/04012345123456/10/L1"},
		{"https://id.gs1.org/01/04012345123456/10/L1/21/S9", "https://id.gs1.org/01/04012345123456/21/S9"},
	} {
		got, ok := CanonicalDL(tc.in)
		if !ok || got != tc.want {
			t.Errorf("CanonicalDL(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	for _, in := range []string{"", "shipping", "urn:epc:id:sgtin:0614141.107346", "https://example.com/no/key", "urn:epc:id:sscc:4012345.12"} {
		if got, ok := CanonicalDL(in); ok {
			t.Errorf("CanonicalDL(%q) = %q, want no canonical form", in, got)
		}
	}
}

// TestHashCoversContentNotBookkeeping checks that what the hash leaves
// out (eventID, recordTime, key order, CBV spelling) does not change it,
// and that a changed field does.
func TestHashCoversContentNotBookkeeping(t *testing.T) {
	base := `{"type":"ObjectEvent","eventTime":"2024-05-01T08:00:00+07:00","eventTimeZoneOffset":"+07:00",
		"epcList":["urn:epc:id:sgtin:0614141.107346.2017"],"action":"OBSERVE","bizStep":"shipping"}`
	same := []string{
		`{"eventID":"urn:uuid:1","recordTime":"2024-06-01T00:00:00Z","action":"OBSERVE","bizStep":"urn:epcglobal:cbv:bizstep:shipping",
		"type":"ObjectEvent","eventTime":"2024-05-01T01:00:00.0000Z","eventTimeZoneOffset":"+07:00",
		"epcList":["https://id.gs1.org/01/10614141073464/21/2017"]}`,
	}
	other := []string{
		`{"type":"ObjectEvent","eventTime":"2024-05-01T08:00:00.001+07:00","eventTimeZoneOffset":"+07:00",
		"epcList":["urn:epc:id:sgtin:0614141.107346.2017"],"action":"OBSERVE","bizStep":"shipping"}`,
		`{"type":"ObjectEvent","eventTime":"2024-05-01T08:00:00+07:00","eventTimeZoneOffset":"+07:00",
		"epcList":["urn:epc:id:sgtin:0614141.107346.2018"],"action":"OBSERVE","bizStep":"shipping"}`,
		`{"type":"ObjectEvent","eventTime":"2024-05-01T08:00:00+07:00","eventTimeZoneOffset":"+07:00",
		"epcList":["urn:epc:id:sgtin:0614141.107346.2017"],"action":"OBSERVE","bizStep":"receiving"}`,
	}
	want, err := Hash(json.RawMessage(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range same {
		if got, err := Hash(json.RawMessage(s), nil); err != nil || got != want {
			t.Errorf("Hash = %s, %v; want %s for %s", got, err, want, s)
		}
	}
	for _, s := range other {
		if got, err := Hash(json.RawMessage(s), nil); err != nil || got == want {
			t.Errorf("Hash = %s, %v; want another hash than %s for %s", got, err, want, s)
		}
	}
	if _, err := Hash(json.RawMessage(`[1]`), nil); err == nil {
		t.Error("Hash of a JSON array: no error")
	}
}
