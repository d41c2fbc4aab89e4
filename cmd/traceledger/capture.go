package main

// The capture side of the EPCIS 2.0 REST binding, as the gateway serves it
// to a partner's systems: POST /capture takes an EPCISDocument (or
// EPCISQueryDocument) and answers 202 with the job's URL; GET
// /capture/{captureID} reports the job and GET /capture lists the jobs,
// newest first; OPTIONS /capture advertises the limits. Every event is
// checked as the ledger will check it (schema, CBV, id, size) and signed
// with the partner's key before the job is accepted, so the key never
// leaves the gateway and a refusal costs no round trip.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/epcisevent"
)

const (
	behaviourRollback = "rollback"
	behaviourProceed  = "proceed"
)

// errNotDocument is a capture body that is no EPCIS document at all.
var errNotDocument = errors.New("not an EPCISDocument or EPCISQueryDocument")

// signDocument checks every event of an EPCIS document and signs each
// valid one as an `epcis` record: the event with the document's @context,
// its eventID or canonical event hash as id, its eventTime as time. It
// returns the signed events and a problem per invalid event; an error
// means the body is not a document.
func signDocument(key *ecdsa.PrivateKey, raw []byte) ([]jobEvent, []api.Problem, error) {
	var head struct {
		Type    string          `json:"type"`
		Context json.RawMessage `json:"@context"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errNotDocument, err)
	}
	if head.Type != "EPCISDocument" && head.Type != "EPCISQueryDocument" {
		return nil, nil, fmt.Errorf("%w: its type is %q", errNotDocument, head.Type)
	}
	if len(head.Context) == 0 {
		return nil, nil, fmt.Errorf("%w: it has no @context (EPCIS 2.0 §10.3 requires the JSON-LD context)", errNotDocument)
	}
	doc, err := epcisevent.SplitDocument(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errNotDocument, err)
	}
	signer := ledger.AddressOf(key).Hex()
	// Checking and signing cost a schema validation, an event hash and a
	// signature each: spread over the cores, in document order.
	signed := make([]jobEvent, len(doc.Events))
	failed := make([]error, len(doc.Events))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(doc.Events); i += workers {
				signed[i], failed[i] = signEvent(key, signer, doc.Events[i], doc.Context)
			}
		}(w)
	}
	wg.Wait()
	var events []jobEvent
	var problems []api.Problem
	seen := map[string]string{} // id → canonical record, within the document
	for i := range doc.Events {
		je, err := signed[i], failed[i]
		if err == nil {
			if prev, ok := seen[je.ID]; ok && prev != string(je.Envelope) {
				err = fmt.Errorf("another event of this document has the id %s", je.ID)
			} else if ok {
				continue // the same event twice: once on the ledger
			}
		}
		if err != nil {
			problems = append(problems, api.Problem{Type: api.ProblemTypePrefix + "ValidationException", Title: "invalid EPCIS event",
				Status: http.StatusBadRequest, Detail: err.Error(), Instance: eventPointer(i)})
			continue
		}
		je.Index = i
		seen[je.ID] = string(je.Envelope)
		events = append(events, je)
	}
	return events, problems, nil
}

// signEvent makes and signs the `epcis` record of one event, refusing
// what the ledger would refuse without looking at its state: Admit runs
// the ledger's own checks of the event (schema, CBV, id) on the record.
func signEvent(key *ecdsa.PrivateKey, signer string, ev, ctx json.RawMessage) (jobEvent, error) {
	ev, err := epcisevent.WithContext(ev, ctx)
	if err != nil {
		return jobEvent{}, err
	}
	sum, err := epcisevent.Summarize(ev)
	if err != nil {
		return jobEvent{}, err
	}
	id, err := epcisevent.ID(ev, sum)
	if err != nil {
		return jobEvent{}, err
	}
	var t struct {
		EventTime string `json:"eventTime"`
	}
	if err := json.Unmarshal(ev, &t); err != nil {
		return jobEvent{}, err
	}
	rec, err := json.Marshal(map[string]any{"type": ledger.TypeEpcis, "id": id, "signer": signer, "time": t.EventTime, "event": ev})
	if err != nil {
		return jobEvent{}, err
	}
	env, err := ledger.SignEnvelope(key, rec)
	if err != nil {
		return jobEvent{}, err
	}
	if _, err := ledger.Admit(env, time.Now()); err != nil {
		return jobEvent{}, err
	}
	b, err := json.Marshal(env)
	if err != nil {
		return jobEvent{}, err
	}
	return jobEvent{ID: id, Envelope: b}, nil
}

// captureServer serves the capture binding over an outbox.
type captureServer struct {
	key       *ecdsa.PrivateKey
	outbox    *outbox
	maxEvents int   // GS1-EPCIS-Capture-Limit
	maxBytes  int64 // GS1-EPCIS-Capture-File-Size-Limit
}

func (c *captureServer) mount(r *mux.Router) {
	r.HandleFunc("/capture", c.post).Methods(http.MethodPost)
	r.HandleFunc("/capture", c.list).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/capture", c.options).Methods(http.MethodOptions)
	r.HandleFunc("/capture/{id}", c.get).Methods(http.MethodGet, http.MethodHead)
}

func writeProblem(w http.ResponseWriter, p api.Problem) {
	api.EPCISHeaders(w.Header())
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	w.Write(append(b, '\n'))
}

func (c *captureServer) options(w http.ResponseWriter, r *http.Request) {
	api.EPCISHeaders(w.Header())
	w.Header().Set("Allow", "OPTIONS, GET, HEAD, POST")
	w.Header().Set("GS1-EPCIS-Capture-Limit", strconv.Itoa(c.maxEvents))
	w.Header().Set("GS1-EPCIS-Capture-File-Size-Limit", strconv.FormatInt(c.maxBytes, 10))
	w.Header().Set("GS1-Capture-Error-Behaviour", "all")
	w.WriteHeader(http.StatusNoContent)
}

func (c *captureServer) post(w http.ResponseWriter, r *http.Request) {
	bad := func(status int, typ, title, detail string) {
		writeProblem(w, api.Problem{Type: api.ProblemTypePrefix + typ, Title: title, Status: status, Detail: detail, Instance: r.URL.Path})
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json" && mt != "application/ld+json") {
		bad(http.StatusUnsupportedMediaType, "ValidationException", "unsupported media type", "send the EPCIS document as application/json or application/ld+json")
		return
	}
	behaviour := r.Header.Get("GS1-Capture-Error-Behaviour")
	switch behaviour {
	case "":
		behaviour = behaviourRollback
	case behaviourRollback, behaviourProceed:
	default:
		bad(http.StatusBadRequest, "ValidationException", "invalid GS1-Capture-Error-Behaviour", fmt.Sprintf("%q: want rollback or proceed", behaviour))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.maxBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		bad(http.StatusRequestEntityTooLarge, "CaptureLimitExceededException", "document too large", fmt.Sprintf("at most %d bytes per capture", c.maxBytes))
		return
	case err != nil:
		bad(http.StatusBadRequest, "ValidationException", "unreadable body", err.Error())
		return
	}
	var count struct {
		Body struct {
			EventList []json.RawMessage `json:"eventList"`
		} `json:"epcisBody"`
	}
	if json.Unmarshal(raw, &count) == nil && len(count.Body.EventList) > c.maxEvents {
		bad(http.StatusRequestEntityTooLarge, "CaptureLimitExceededException", "too many events", fmt.Sprintf("%d events; at most %d per capture", len(count.Body.EventList), c.maxEvents))
		return
	}
	events, problems, err := signDocument(c.key, bytes.TrimSpace(raw))
	if err != nil {
		bad(http.StatusBadRequest, "ValidationException", "not an EPCIS document", err.Error())
		return
	}
	id, err := newCaptureID()
	if err != nil {
		bad(http.StatusInternalServerError, "ImplementationException", "capture failed", err.Error())
		return
	}
	job := &captureJob{CaptureID: id, CreatedAt: time.Now().UTC().Format(time.RFC3339Nano), Running: true,
		Behaviour: behaviour, Errors: problems, Events: events}
	if len(problems) > 0 && behaviour == behaviourRollback {
		job.Events = nil // all or nothing: none is submitted
	}
	if len(job.Events) == 0 {
		c.outbox.finish(job, nil)
	}
	if err := c.outbox.add(job); err != nil {
		bad(http.StatusInternalServerError, "ImplementationException", "capture failed", err.Error())
		return
	}
	api.EPCISHeaders(w.Header())
	w.Header().Set("Location", "/capture/"+id)
	w.WriteHeader(http.StatusAccepted)
}

// Capture job lists are paged: perPage jobs (default 30, at most
// maxJobsPerPage), newest first, with nextPageToken and a Link rel="next"
// while there are more.
const (
	defaultJobsPerPage = 30
	maxJobsPerPage     = 1000
)

// list serves GET /capture: the capture jobs, newest first, paged.
func (c *captureServer) list(w http.ResponseWriter, r *http.Request) {
	bad := func(detail string) {
		writeProblem(w, api.Problem{Type: api.ProblemTypePrefix + "QueryParameterException", Title: "invalid query parameter", Status: http.StatusBadRequest, Detail: detail, Instance: r.URL.Path})
	}
	q := r.URL.Query()
	for name := range q {
		if name != "perPage" && name != "nextPageToken" {
			bad(fmt.Sprintf("unknown parameter %q: GET /capture takes perPage and nextPageToken", name))
			return
		}
	}
	n := defaultJobsPerPage
	if s := q.Get("perPage"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxJobsPerPage {
			bad(fmt.Sprintf("perPage: %q is not a number from 1 to %d", s, maxJobsPerPage))
			return
		}
		n = v
	}
	after := q.Get("nextPageToken")
	if after != "" {
		if _, ok := c.outbox.get(after); !ok {
			bad("nextPageToken is not a token this gateway issued, or its job is gone")
			return
		}
	}
	jobs, next := c.outbox.list(after, n)
	b, err := json.Marshal(jobs)
	if err != nil {
		writeProblem(w, api.Problem{Type: api.ProblemTypePrefix + "ImplementationException", Title: "capture jobs unreadable", Status: http.StatusInternalServerError})
		return
	}
	api.EPCISHeaders(w.Header())
	if next != "" {
		u := *r.URL
		v := u.Query()
		v.Set("perPage", strconv.Itoa(n))
		v.Set("nextPageToken", next)
		u.RawQuery = v.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.RequestURI()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

func (c *captureServer) get(w http.ResponseWriter, r *http.Request) {
	j, ok := c.outbox.get(mux.Vars(r)["id"])
	if !ok {
		writeProblem(w, api.Problem{Type: api.ProblemTypePrefix + "NoSuchResourceException", Title: "no such capture job", Status: http.StatusNotFound, Instance: r.URL.Path})
		return
	}
	b, err := json.Marshal(j)
	if err != nil {
		writeProblem(w, api.Problem{Type: api.ProblemTypePrefix + "ImplementationException", Title: "capture job unreadable", Status: http.StatusInternalServerError})
		return
	}
	api.EPCISHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

// newCaptureID is a fresh random job id.
func newCaptureID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
