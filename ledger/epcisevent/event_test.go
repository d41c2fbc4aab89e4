package epcisevent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// corpus reads the events of every file in testdata/capture/dir, each
// carrying its document's context; a file in Events/ is one event.
func corpus(t *testing.T, dir string) map[string][]json.RawMessage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata/capture", dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in %s: %v", dir, err)
	}
	out := map[string][]json.RawMessage{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if dir == "Events" {
			out[filepath.Base(f)] = []json.RawMessage{raw}
			continue
		}
		d, err := SplitDocument(raw)
		if err != nil {
			out[filepath.Base(f)] = nil
			continue
		}
		for _, ev := range d.Events {
			withCtx, err := WithContext(ev, d.Context)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], withCtx)
		}
	}
	return out
}

func TestCheckAcceptsCorpus(t *testing.T) {
	for _, dir := range []string{"Documents", "Events"} {
		for name, events := range corpus(t, dir) {
			if len(events) == 0 {
				t.Errorf("%s/%s: no events", dir, name)
			}
			for i, ev := range events {
				s, err := Check(ev)
				if err != nil {
					t.Errorf("%s/%s event %d: %v", dir, name, i, err)
					continue
				}
				if s.EventTime.IsZero() || !IsEventType(s.Type) {
					t.Errorf("%s/%s event %d: summary %+v", dir, name, i, s)
				}
				if _, err := ID(ev, s); err != nil {
					t.Errorf("%s/%s event %d: id: %v", dir, name, i, err)
				}
			}
		}
	}
}

// TestCheckRefusesInvalid: every document of Invalid/ has an event Check
// refuses (or is no document at all), with the member named.
func TestCheckRefusesInvalid(t *testing.T) {
	for name, events := range corpus(t, "Invalid") {
		raw, _ := os.ReadFile(filepath.Join("testdata/capture/Invalid", name))
		if ValidateSchema(raw) == nil {
			t.Errorf("%s: the document passes the schema", name)
		}
		refused := len(events) == 0
		for _, ev := range events {
			_, err := Check(ev)
			var fe *FieldError
			if err != nil && (!errors.As(err, &fe) || !errors.Is(err, ErrInvalid)) {
				t.Errorf("%s: %v is no *FieldError", name, err)
			}
			refused = refused || err != nil
		}
		if !refused {
			t.Errorf("%s: every event passes", name)
		}
	}
}

func TestCheckSummary(t *testing.T) {
	ev := json.RawMessage(`{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
		"type":"ObjectEvent","eventTime":"2024-05-01T08:00:00+07:00","eventTimeZoneOffset":"+07:00","action":"OBSERVE",
		"bizStep":"https://ref.gs1.org/cbv/BizStep-shipping","disposition":"https://ref.gs1.org/cbv/Disp-in_transit",
		"epcList":["urn:epc:id:sgtin:0614141.107346.2017"],
		"quantityList":[{"epcClass":"urn:epc:class:lgtin:8935000.012345.VAI-2024","quantity":5,"uom":"KGM"},
			{"epcClass":"https://example.com/01/08935000123454/10/L2?x=1"}],
		"bizLocation":{"id":"urn:epc:id:sgln:0614141.00777.0"}}`)
	s, err := Check(ev)
	if err != nil {
		t.Fatal(err)
	}
	if s.BizStep != "shipping" || s.Disposition != "in_transit" || s.BizLocation != "https://id.gs1.org/414/0614141007776" {
		t.Errorf("summary %+v", s)
	}
	if len(s.Lots) != 2 || s.Lots[0] != (Lot{"08935000123454", "L2"}) || s.Lots[1] != (Lot{"08935000123454", "VAI-2024"}) {
		t.Errorf("lots %+v", s.Lots)
	}
	if got := s.EventTime.Format("15:04"); got != "01:00" {
		t.Errorf("event time in UTC %s", got)
	}
	for _, bad := range []struct{ ev, ptr string }{
		{`{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"ObjectEvent","eventTime":"2024-05-01T08:00:00+07:00","eventTimeZoneOffset":"+07:00","action":"OBSERVE","epcList":["urn:epc:id:sgtin:0614141.107346.2017"],"bizStep":"https://ref.gs1.org/cbv/BizStep-brewing"}`, "/bizStep"},
		{`{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"ObjectEvent","eventTime":"2024-05-01T08:00:00+07:00","eventTimeZoneOffset":"+07:00","action":"OBSERVE","epcList":["urn:epc:id:sgtin:0614141.107346.2017"],"disposition":"melted"}`, "/disposition"},
		{`{"type":"Event"}`, "/type"},
		{`[]`, ""},
	} {
		_, err := Check(json.RawMessage(bad.ev))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Pointer != bad.ptr {
			t.Errorf("Check(%s) = %v, want a field error at %q", bad.ev, err, bad.ptr)
		}
	}
}
