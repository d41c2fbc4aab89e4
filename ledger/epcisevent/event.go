package epcisevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxEventBytes bounds one event as the ledger stores it. An `epcis`
// record is at most 16 KiB (ledger.MaxRecordBytes) with its header, id
// (up to 256 characters) and signer; 15 KiB leaves them room. The largest
// event of the OpenEPCIS conformance set, a TransformationEvent with every
// field, is under 10 KiB; a sensor event with more readings than that is
// better split into several events.
const MaxEventBytes = 15 << 10

// Summary is what the ledger derives from an event for its indexes and
// the query interface (EPCIS 2.0 §8.2.7): every identifier in its
// canonical GS1 Digital Link form where it has one.
type Summary struct {
	Type      string    // ObjectEvent, AggregationEvent …
	EventID   string    // the eventID member, "" when absent
	EventTime time.Time // in UTC
	// BizStep and Disposition are the bare CBV word for a CBV term, else
	// the URI as written.
	BizStep     string
	Disposition string
	BizLocation string
	ReadPoint   string
	// EPCs are the instance identifiers: epcList and childEPCs
	// (MATCH_epc), and with inputEPCList, outputEPCList and parentID,
	// MATCH_anyEPC. Each list is sorted, without duplicates.
	EPCs    []string
	AnyEPCs []string
	// Classes are the epcClass of every quantity list (MATCH_epcClass,
	// MATCH_anyEPCClass).
	Classes []string
	// Lots are the classes that name a lot: GTIN-14 and lot code, from
	// https://id.gs1.org/01/{gtin}/10/{lot} (or urn:epc:class:lgtin).
	Lots []Lot

	rawBizStep, rawDisposition string // as written, for the CBV rule
}

// Lot is a lot an event names by GTIN and lot code (GS1 AI 01 and 10).
type Lot struct{ GTIN, Lot string }

// Check validates an event: JSON object of at most MaxEventBytes, one of
// the five EPCIS 2.0 event types, valid against the EPCIS 2.0 JSON Schema
// (so it carries its own @context), bizStep and disposition by the CBV
// rule; and summarises it. Every refusal is a *FieldError.
func Check(event json.RawMessage) (*Summary, error) {
	if len(event) > MaxEventBytes {
		return nil, &FieldError{Reason: fmt.Sprintf("the event is %d bytes, at most %d", len(event), MaxEventBytes)}
	}
	trimmed := bytes.TrimSpace(event)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &FieldError{Reason: "an event is a JSON object"}
	}
	// The schema first: it names the member at fault in terms of the
	// standard, where a type mismatch while decoding would not.
	var typ string
	if err := json.Unmarshal(trimmed, &struct {
		Type *string `json:"type"`
	}{&typ}); err != nil || !IsEventType(typ) {
		return nil, &FieldError{Pointer: "/type", Reason: fmt.Sprintf("want one of %s", strings.Join(knownEventTypes, ", "))}
	}
	if err := ValidateSchema(trimmed); err != nil {
		return nil, err
	}
	s, err := Summarize(trimmed)
	if err != nil {
		return nil, err
	}
	for field, v := range map[string]string{"bizStep": s.rawBizStep, "disposition": s.rawDisposition} {
		if v == "" {
			continue
		}
		if err := checkCBV(field, v); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Summarize derives an event's Summary without checking it against the
// schema: for events the ledger already holds, and for the events of the
// ledger's own export. A member of the wrong JSON type is a *FieldError.
func Summarize(event json.RawMessage) (*Summary, error) {
	var ev eventFields
	if err := json.Unmarshal(event, &ev); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &FieldError{Pointer: "/" + strings.ReplaceAll(te.Field, ".", "/"), Reason: "wrong JSON type"}
		}
		return nil, &FieldError{Reason: err.Error()}
	}
	t, err := time.Parse(time.RFC3339Nano, ev.EventTime)
	if err != nil {
		return nil, &FieldError{Pointer: "/eventTime", Reason: fmt.Sprintf("%q is not an RFC 3339 time with offset", ev.EventTime)}
	}
	s := &Summary{
		Type:           ev.Type,
		EventID:        ev.EventID,
		EventTime:      t.UTC(),
		BizStep:        CBVTerm("bizStep", ev.BizStep),
		Disposition:    CBVTerm("disposition", ev.Disposition),
		BizLocation:    CanonicalID(ev.BizLocation.ID),
		ReadPoint:      CanonicalID(ev.ReadPoint.ID),
		rawBizStep:     ev.BizStep,
		rawDisposition: ev.Disposition,
	}
	s.EPCs = canonicalSet(ev.EPCList, ev.ChildEPCs)
	s.AnyEPCs = canonicalSet(ev.EPCList, ev.ChildEPCs, ev.InputEPCList, ev.OutputEPCList, []string{ev.ParentID})
	var classes []string
	for _, l := range [][]quantity{ev.QuantityList, ev.ChildQuantityList, ev.InputQuantityList, ev.OutputQuantityList} {
		for _, q := range l {
			classes = append(classes, q.EPCClass)
		}
	}
	s.Classes = canonicalSet(classes)
	for _, c := range s.Classes {
		if l, ok := LotOf(c); ok {
			s.Lots = append(s.Lots, l)
		}
	}
	return s, nil
}

// eventFields are the members of an event a Summary reads.
type eventFields struct {
	Type        string `json:"type"`
	EventID     string `json:"eventID"`
	EventTime   string `json:"eventTime"`
	BizStep     string `json:"bizStep"`
	Disposition string `json:"disposition"`
	ParentID    string `json:"parentID"`
	ReadPoint   struct {
		ID string `json:"id"`
	} `json:"readPoint"`
	BizLocation struct {
		ID string `json:"id"`
	} `json:"bizLocation"`
	EPCList            []string   `json:"epcList"`
	ChildEPCs          []string   `json:"childEPCs"`
	InputEPCList       []string   `json:"inputEPCList"`
	OutputEPCList      []string   `json:"outputEPCList"`
	QuantityList       []quantity `json:"quantityList"`
	ChildQuantityList  []quantity `json:"childQuantityList"`
	InputQuantityList  []quantity `json:"inputQuantityList"`
	OutputQuantityList []quantity `json:"outputQuantityList"`
}

type quantity struct {
	EPCClass string `json:"epcClass"`
}

// CanonicalID is an identifier's canonical Digital Link URI when it has
// one, else the identifier as written.
func CanonicalID(id string) string {
	if dl, ok := CanonicalDL(id); ok {
		return dl
	}
	return id
}

// canonicalSet is the sorted, deduplicated canonical form of the
// non-empty identifiers in lists.
func canonicalSet(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, id := range l {
			if id != "" {
				out = append(out, CanonicalID(id))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CBVTerm is the bare CBV word of a bizStep or disposition given as a
// word, a CBV web URI or a CBV URN; any other value is returned as is.
// The query interface compares values in this form.
func CBVTerm(field, v string) string {
	terms := vocabulary(field)
	for _, prefix := range cbvURIs[field] {
		if w, ok := strings.CutPrefix(v, prefix); ok {
			if _, known := terms[w]; known {
				return w
			}
		}
	}
	return v
}

// LotOf returns the lot a canonical class identifier names:
// https://id.gs1.org/01/{gtin-14}/10/{lot}.
func LotOf(class string) (Lot, bool) {
	rest, ok := strings.CutPrefix(class, "https://id.gs1.org/01/")
	if !ok || len(rest) < 19 || rest[14:18] != "/10/" {
		return Lot{}, false
	}
	lot, err := url.PathUnescape(rest[18:])
	if err != nil || lot == "" || strings.Contains(lot, "/") {
		return Lot{}, false
	}
	return Lot{GTIN: rest[:14], Lot: lot}, true
}

// ID returns the id an `epcis` record must carry for an event: its
// eventID, or, when it has none, its canonical event hash.
func ID(event json.RawMessage, s *Summary) (string, error) {
	if s.EventID != "" {
		return s.EventID, nil
	}
	return Hash(event, nil)
}
