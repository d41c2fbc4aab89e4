package epcisevent

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoEvents is returned for a document whose body holds no event list.
var ErrNoEvents = errors.New("epcisevent: the document's epcisBody holds no eventList")

// Document is what the capture of an EPCIS 2.0 document needs of it: the
// JSON-LD context in force around its events, and the events as written.
type Document struct {
	Context json.RawMessage
	Events  []json.RawMessage
}

// SplitDocument reads an EPCISDocument (epcisBody.eventList, or a single
// epcisBody.event) or an EPCISQueryDocument
// (epcisBody.queryResults.resultsBody.eventList).
func SplitDocument(raw []byte) (*Document, error) {
	var doc struct {
		Context json.RawMessage `json:"@context"`
		Body    *struct {
			EventList    []json.RawMessage `json:"eventList"`
			Event        json.RawMessage   `json:"event"`
			QueryResults *struct {
				ResultsBody struct {
					EventList []json.RawMessage `json:"eventList"`
				} `json:"resultsBody"`
			} `json:"queryResults"`
		} `json:"epcisBody"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("epcisevent: document: %w", err)
	}
	if doc.Body == nil {
		return nil, ErrNoEvents
	}
	d := &Document{Context: doc.Context}
	switch {
	case doc.Body.EventList != nil:
		d.Events = doc.Body.EventList
	case doc.Body.QueryResults != nil && doc.Body.QueryResults.ResultsBody.EventList != nil:
		d.Events = doc.Body.QueryResults.ResultsBody.EventList
	case len(doc.Body.Event) > 0:
		d.Events = []json.RawMessage{doc.Body.Event}
	default:
		return nil, ErrNoEvents
	}
	return d, nil
}

// WithContext returns the event carrying the document's @context, as an
// event stored alone must (EPCIS 2.0 §10.3: the context travels with
// each JSON-LD object it applies to). An event with its own @context, or
// a document without one, is returned unchanged.
func WithContext(event, ctx json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(event, &m); err != nil {
		return nil, fmt.Errorf("epcisevent: event: %w", err)
	}
	if _, ok := m["@context"]; ok || len(ctx) == 0 {
		return event, nil
	}
	m["@context"] = ctx
	return json.Marshal(m)
}
