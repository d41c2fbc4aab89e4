package api

// The EPCIS 2.0 query interface, REST binding (GS1 EPCIS 2.0 §12, and the
// OpenAPI document openapi.yaml of the GS1 EPCIS repository), public and
// read-only, under /epcis/:
//
//	GET /epcis/events                   the events matching the query parameters
//	GET /epcis/events/{eventID}         one event
//	GET /epcis/epcs/{epc}/events        the events naming an EPC (MATCH_anyEPC)
//
// Results are EPCISQueryDocuments of at most perPage events (default 30,
// at most 1 000), with a Link rel="next" header and nextPageToken while
// more may follow. Every event, a custody record mapped as the export maps
// it (api/epcis) or a partner's own event, carries its ledger seq, entry
// hash, signer and signature as "traceledger:" extension members, so that
// a receiver can verify it (GET /v1/entries/{seq}, /v1/proofs/…).
//
// A query walks one of the ledger's event indexes (ledger/eventindex.go):
// the one of a single-valued MATCH_epc, MATCH_anyEPC, MATCH_epcClass,
// EQ_bizLocation, EQ_bizStep, EQ_disposition or eventType, in that order
// of preference, else the event time index from GE_eventTime (and it
// stops at LT_eventTime). Every other parameter (the record time bounds,
// lists of several values) is a filter on the events the walk meets, and
// one request examines at most maxQueryScan of them: a rare filter
// answers a short page with a next link rather than scanning the whole
// log in one request.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/api/epcis"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/epcisevent"
)

const (
	defaultPerPage = 30
	maxPerPage     = 1000
	// maxQueryScan bounds the index entries one request examines: each
	// costs an entry read and its mapping (~0.1–0.3 ms here), so a
	// request stays under a second.
	maxQueryScan = 2_000
	// ProblemTypePrefix prefixes the RFC 7807 problem types of the
	// binding (epcisException:QueryParameterException …).
	ProblemTypePrefix = "epcisException:"
)

// EPCISHeaders sets the headers every answer of the EPCIS 2.0 REST
// binding carries: the EPCIS and CBV versions, the identifier format, and
// the extension namespace. The gateway's capture binding uses them too.
func EPCISHeaders(h http.Header) {
	h.Set("GS1-EPCIS-Version", "2.0.0")
	h.Set("GS1-EPCIS-Min", "2.0.0")
	h.Set("GS1-EPCIS-Max", "2.0.0")
	h.Set("GS1-CBV-Version", "2.0.0")
	h.Set("GS1-CBV-Min", "2.0.0")
	h.Set("GS1-CBV-Max", "2.0.0")
	h.Set("GS1-EPC-Format", "Always_GS1_Digital_Link")
	h.Set("GS1-Extensions", epcis.Prefix+"="+epcis.Namespace)
}

// Problem is an RFC 7807 problem response body, as the binding writes its
// errors (EPCIS 2.0 §12.5: epcisException types), and a capture job lists
// them.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// writeProblem answers an error of the query binding as
// application/problem+json, with the status classify gives it.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := classify(err)
	typ, title := "ImplementationException", "the query could not be answered"
	switch status {
	case http.StatusBadRequest:
		typ, title = "QueryParameterException", "invalid query parameter"
	case http.StatusNotFound:
		typ, title = "NoSuchResourceException", "no such resource"
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	default:
		s.logger.Error("EPCIS query failed", "path", r.URL.Path, "err", err)
	}
	EPCISHeaders(w.Header())
	b, _ := json.Marshal(Problem{Type: ProblemTypePrefix + typ, Title: title, Status: status, Detail: detail.Message, Instance: r.URL.RequestURI()})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// errQuery is a query parameter the binding cannot take.
var errQuery = errBadRequest

// eventQuery is a parsed SimpleEventQuery of the REST binding.
type eventQuery struct {
	types, bizSteps, disps, epcs, anyEPCs, classes, bizLocs []string
	geEvent, ltEvent, geRecord, ltRecord                    time.Time
	perPage                                                 int
	token                                                   []byte
}

// supportedParams are the query parameters this binding implements; any
// other is refused rather than silently ignored.
var supportedParams = []string{"eventType", "GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime",
	"EQ_bizStep", "EQ_disposition", "MATCH_epc", "MATCH_anyEPC", "MATCH_epcClass", "EQ_bizLocation",
	"perPage", "nextPageToken"}

func parseEventQuery(v url.Values) (*eventQuery, error) {
	q := &eventQuery{perPage: defaultPerPage}
	for k, vals := range v {
		if !slices.Contains(supportedParams, k) {
			return nil, errQuery.with(fmt.Sprintf("query parameter %q is not supported (supported: %s)", k, strings.Join(supportedParams, ", ")))
		}
		if len(vals) != 1 {
			return nil, errQuery.with(fmt.Sprintf("query parameter %q is given %d times; list values with |", k, len(vals)))
		}
	}
	list := func(name string, canon func(string) string) []string {
		raw := v.Get(name)
		if raw == "" {
			return nil
		}
		var out []string
		for _, x := range strings.Split(raw, "|") {
			if x != "" {
				out = append(out, canon(x))
			}
		}
		return out
	}
	same := func(s string) string { return s }
	q.types = list("eventType", same)
	q.bizSteps = list("EQ_bizStep", func(x string) string { return epcisevent.CBVTerm("bizStep", x) })
	q.disps = list("EQ_disposition", func(x string) string { return epcisevent.CBVTerm("disposition", x) })
	q.epcs = list("MATCH_epc", epcisevent.CanonicalID)
	q.anyEPCs = list("MATCH_anyEPC", epcisevent.CanonicalID)
	q.classes = list("MATCH_epcClass", epcisevent.CanonicalID)
	q.bizLocs = list("EQ_bizLocation", epcisevent.CanonicalID)
	for _, t := range []struct {
		name string
		into *time.Time
	}{{"GE_eventTime", &q.geEvent}, {"LT_eventTime", &q.ltEvent}, {"GE_recordTime", &q.geRecord}, {"LT_recordTime", &q.ltRecord}} {
		if s := v.Get(t.name); s != "" {
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, errQuery.with(fmt.Sprintf("%s: %q is not an RFC 3339 date-time with offset", t.name, s))
			}
			*t.into = tm
		}
	}
	if s := v.Get("perPage"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPerPage {
			return nil, errQuery.with(fmt.Sprintf("perPage: %q is not a number from 1 to %d", s, maxPerPage))
		}
		q.perPage = n
	}
	if s := v.Get("nextPageToken"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, errQuery.with("nextPageToken is not a token this server issued")
		}
		q.token = b
	}
	return q, nil
}

// plan returns the index prefix the query walks: the first filter on a
// single indexed value, else the time index (a value most events share
// has no keys; ledger.EventValueIndexed).
func (q *eventQuery) plan() []byte {
	for _, c := range []struct {
		kind   byte
		values []string
	}{{ledger.EventKeyEPC, q.epcs}, {ledger.EventKeyAnyEPC, q.anyEPCs}, {ledger.EventKeyClass, q.classes},
		{ledger.EventKeyBizLocation, q.bizLocs}, {ledger.EventKeyBizStep, q.bizSteps}, {ledger.EventKeyDisposition, q.disps},
		{ledger.EventKeyType, q.types}} {
		if len(c.values) == 1 && ledger.EventValueIndexed(c.kind, c.values[0]) {
			return ledger.EventKeyPrefix(c.kind, c.values[0])
		}
	}
	return ledger.EventTimePrefix()
}

// match reports whether an event, summarised, passes every filter.
func (q *eventQuery) match(s *epcisevent.Summary, recordTime time.Time) bool {
	anyOf := func(want []string, have ...string) bool {
		if len(want) == 0 {
			return true
		}
		for _, h := range have {
			if h != "" && slices.Contains(want, h) {
				return true
			}
		}
		return false
	}
	switch {
	case !q.geEvent.IsZero() && s.EventTime.Before(q.geEvent),
		!q.ltEvent.IsZero() && !s.EventTime.Before(q.ltEvent),
		!q.geRecord.IsZero() && recordTime.Before(q.geRecord),
		!q.ltRecord.IsZero() && !recordTime.Before(q.ltRecord):
		return false
	}
	return anyOf(q.types, s.Type) && anyOf(q.bizSteps, s.BizStep) && anyOf(q.disps, s.Disposition) &&
		anyOf(q.epcs, s.EPCs...) && anyOf(q.anyEPCs, s.AnyEPCs...) && anyOf(q.classes, s.Classes...) &&
		anyOf(q.bizLocs, s.BizLocation)
}

// queryPage is one page of results and where the next begins (nil: none).
type queryPage struct {
	events []epcis.Event
	next   []byte
}

// runQuery walks the plan's index from the token, maps and filters the
// events it meets, and stops at a full page, the end of the index or
// maxQueryScan entries.
func runQuery(rd ledger.Reader, q *eventQuery) (*queryPage, error) {
	prefix := q.plan()
	timeIndex := string(prefix) == string(ledger.EventTimePrefix())
	var from []byte
	switch {
	case q.token != nil:
		from = append(append([]byte{}, q.token...), 0) // the key after the last one served
	case timeIndex && !q.geEvent.IsZero():
		from = append(append([]byte{}, prefix...), ledger.EventTimeKey(q.geEvent)...)
	}
	page := &queryPage{}
	parties := participantsOf(rd)
	scanned := 0
	var failure error
	var lastKey []byte
	err := ledger.ScanEventIndex(rd, prefix, from, func(seq uint64, key []byte) bool {
		if timeIndex && !q.ltEvent.IsZero() && string(key[len(prefix):len(prefix)+8]) >= string(ledger.EventTimeKey(q.ltEvent)) {
			lastKey = nil
			return false // the time index is in event time order: nothing later matches
		}
		scanned++
		lastKey = append(lastKey[:0], key...)
		e, _, err := ledger.GetEntry(rd, seq)
		if err != nil {
			failure = err
			return false
		}
		ev, sum, err := mapEvent(e, parties)
		if err != nil {
			failure = fmt.Errorf("entry %d: %w", seq, err)
			return false
		}
		rt, _ := time.Parse(time.RFC3339Nano, e.RecordTime)
		if q.match(sum, rt) {
			page.events = append(page.events, ev)
		}
		return len(page.events) < q.perPage && scanned < maxQueryScan
	})
	if err == nil {
		err = failure
	}
	if err != nil {
		return nil, err
	}
	if lastKey != nil && (len(page.events) == q.perPage || scanned >= maxQueryScan) {
		page.next = lastKey
	}
	return page, nil
}

// participantsOf looks participants up in rd, for the export mapping.
func participantsOf(rd ledger.Reader) epcis.Parties {
	return func(address string) (*ledger.ParticipantInfo, error) {
		a, err := ledger.ParseAddress(address)
		if err != nil {
			return nil, err
		}
		return ledger.GetParticipant(rd, a)
	}
}

// mapEvent maps one entry to its event and the event's summary, which the
// filters read: a partner event as recorded, a custody record as the
// export maps it.
func mapEvent(e *ledger.Entry, parties epcis.Parties) (epcis.Event, *epcisevent.Summary, error) {
	doc, err := epcis.FromEntries([]*ledger.Entry{e}, parties, time.Time{})
	if err != nil {
		return epcis.Event{}, nil, err
	}
	if len(doc.Body.EventList) != 1 {
		return epcis.Event{}, nil, fmt.Errorf("entry of type %s is no event", e.Type)
	}
	ev := doc.Body.EventList[0]
	raw := ev.Partner
	if raw == nil {
		if raw, err = json.Marshal(ev); err != nil {
			return epcis.Event{}, nil, err
		}
	}
	sum, err := epcisevent.Summarize(raw)
	if err != nil {
		return epcis.Event{}, nil, err
	}
	return ev, sum, nil
}

// queryDocument is an EPCISQueryDocument (EPCIS 2.0 §12.4).
type queryDocument struct {
	Context       []any  `json:"@context"`
	Type          string `json:"type"`
	SchemaVersion string `json:"schemaVersion"`
	CreationDate  string `json:"creationDate"`
	Body          struct {
		QueryResults struct {
			QueryName   string `json:"queryName"`
			ResultsBody struct {
				EventList []epcis.Event `json:"eventList"`
			} `json:"resultsBody"`
		} `json:"queryResults"`
	} `json:"epcisBody"`
}

func (s *Server) writeQueryDocument(w http.ResponseWriter, r *http.Request, events []epcis.Event, next []byte) {
	doc := queryDocument{
		Context:       []any{epcis.ContextURL, map[string]string{epcis.Prefix: epcis.Namespace}},
		Type:          "EPCISQueryDocument",
		SchemaVersion: epcis.SchemaVersion,
		CreationDate:  s.cfg.Clock().UTC().Format(time.RFC3339Nano),
	}
	doc.Body.QueryResults.QueryName = "SimpleEventQuery"
	doc.Body.QueryResults.ResultsBody.EventList = events
	if events == nil {
		doc.Body.QueryResults.ResultsBody.EventList = []epcis.Event{}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		s.writeProblem(w, r, fmt.Errorf("encode query document: %w", err))
		return
	}
	EPCISHeaders(w.Header())
	if next != nil {
		u := *r.URL
		v := u.Query()
		v.Set("nextPageToken", base64.RawURLEncoding.EncodeToString(next))
		u.RawQuery = v.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.RequestURI()))
	}
	w.Header().Set("Content-Type", epcis.MediaType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

// getEPCISEvents serves GET /epcis/events.
func (s *Server) getEPCISEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseEventQuery(r.URL.Query())
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.answerQuery(w, r, q)
}

// getEPCISEPCEvents serves GET /epcis/epcs/{epc}/events: the events that
// name the EPC among any of their instance identifiers.
func (s *Server) getEPCISEPCEvents(w http.ResponseWriter, r *http.Request) {
	epc, err := url.PathUnescape(mux.Vars(r)["epc"])
	if err != nil || epc == "" {
		s.writeProblem(w, r, errQuery.with("the EPC in the path is not a percent-encoded URI"))
		return
	}
	v := r.URL.Query()
	if v.Has("MATCH_anyEPC") {
		s.writeProblem(w, r, errQuery.with("MATCH_anyEPC is given by the path"))
		return
	}
	v.Set("MATCH_anyEPC", epc)
	q, err := parseEventQuery(v)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.answerQuery(w, r, q)
}

func (s *Server) answerQuery(w http.ResponseWriter, r *http.Request, q *eventQuery) {
	var page *queryPage
	err := s.cluster.Store().View(func(rd ledger.Reader) error {
		var err error
		page, err = runQuery(rd, q)
		return err
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeQueryDocument(w, r, page.events, page.next)
}

// getEPCISEvent serves GET /epcis/events/{eventID}.
func (s *Server) getEPCISEvent(w http.ResponseWriter, r *http.Request) {
	id, err := url.PathUnescape(mux.Vars(r)["eventID"])
	if err != nil || id == "" {
		s.writeProblem(w, r, errQuery.with("the eventID in the path is not percent-encoded"))
		return
	}
	var events []epcis.Event
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		parties := participantsOf(rd)
		var failure error
		err := ledger.ScanEventIndex(rd, ledger.EventKeyPrefix(ledger.EventKeyID, id), nil, func(seq uint64, _ []byte) bool {
			e, _, err := ledger.GetEntry(rd, seq)
			if err == nil {
				var ev epcis.Event
				if ev, _, err = mapEvent(e, parties); err == nil {
					events = append(events, ev)
				}
			}
			failure = err
			return err == nil && len(events) < maxPerPage
		})
		return errors.Join(err, failure)
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if len(events) == 0 {
		s.writeProblem(w, r, errNotFound.with(fmt.Sprintf("no event has the eventID %q", id)))
		return
	}
	s.writeQueryDocument(w, r, events, nil)
}

// optionsEPCIS answers OPTIONS on the query resources: the versions and
// the methods (EPCIS 2.0 REST binding, discovery).
func (s *Server) optionsEPCIS(w http.ResponseWriter, r *http.Request) {
	EPCISHeaders(w.Header())
	w.Header().Set("Allow", "OPTIONS, GET, HEAD")
	w.WriteHeader(http.StatusNoContent)
}
