package epcisevent

import (
	"encoding/json"
	"testing"
)

var benchEvent = json.RawMessage(`{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
	"type":"ObjectEvent","action":"OBSERVE","eventTime":"2026-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00",
	"bizStep":"storing","epcList":["urn:epc:id:sgtin:8936000.000012.E1"],
	"quantityList":[{"epcClass":"urn:epc:class:lgtin:8936000.000012.L1","quantity":1,"uom":"KGM"}]}`)

// BenchmarkCheck: schema, CBV rule and summary of a small event.
func BenchmarkCheck(b *testing.B) {
	for b.Loop() {
		if _, err := Check(benchEvent); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHash: the canonical event hash of a small event.
func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash(benchEvent, nil); err != nil {
			b.Fatal(err)
		}
	}
}
