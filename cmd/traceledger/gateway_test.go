package main

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/api/epcis/epcistest"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// captureCorpus is the OpenEPCIS capture conformance set.
const captureCorpus = "../../ledger/epcisevent/testdata/capture"

var gatewayLine = regexp.MustCompile(`^traceledger: gateway serving http=(\S+) `)

// startGateway runs `traceledger gateway` with key against ledgerURL,
// its outbox in dir, and returns the process and its base URL.
func startGateway(t *testing.T, keyPath, ledgerURL, dir string, extra ...string) *process {
	t.Helper()
	args := append([]string{"gateway", "--key", keyPath, "--url", ledgerURL, "--listen", "127.0.0.1:0", "--outbox", dir}, extra...)
	p := execCommandIn(t, "", nil, args...)
	p.waitLine("the gateway's serving line", func(line string) bool {
		if m := gatewayLine.FindStringSubmatch(line); m != nil {
			p.url = m[1]
			return true
		}
		return false
	})
	return p
}

// partnerKey registers a new distributor on the node and writes its key
// file.
func partnerKey(t *testing.T, base string, admin *ecdsa.PrivateKey) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k := genKey(t)
	regID := "partner-" + ledger.AddressOf(k).Hex()[2:12]
	path := filepath.Join(t.TempDir(), "partner.key")
	if err := savePlainKey(path, k); err != nil {
		t.Fatal(err)
	}
	if st, b := post(t, base, mustJSON(t, registration(t, admin, k, regID, "distributor"))); st != http.StatusCreated {
		t.Fatalf("register the partner: %d %s", st, b)
	}
	return k, path
}

// capture posts a document to the gateway and waits for its job to end.
func capture(t *testing.T, gw string, doc []byte, header ...string) (int, captureJob, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, gw+"/capture", bytes.NewReader(doc))
	req.Header.Set("Content-Type", "application/ld+json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST /capture: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return resp.StatusCode, captureJob{}, body
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/capture/") {
		t.Fatalf("Location %q", loc)
	}
	return http.StatusAccepted, waitJob(t, gw+loc), body
}

// waitJob polls a capture job until it stops running.
func waitJob(t *testing.T, jobURL string) captureJob {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var j captureJob
		st, b := get(t, jobURL, "")
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d %s", jobURL, st, b)
		}
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatalf("GET %s: %v", jobURL, err)
		}
		if !j.Running {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still running after 60 s", jobURL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// corpusDocuments reads the documents of a corpus directory; a file of
// Events/ (one event with its own @context) is wrapped in a document.
func corpusDocuments(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(captureCorpus, dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if dir == "Events" {
			var ev map[string]json.RawMessage
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			b = mustJSON(t, map[string]any{"@context": ev["@context"], "type": "EPCISDocument", "schemaVersion": "2.0",
				"creationDate": "2026-06-01T00:00:00Z", "epcisBody": map[string]any{"eventList": []json.RawMessage{b}}})
		}
		out[dir+"/"+filepath.Base(f)] = b
	}
	return out
}

// comparable is an event as JSON values, without what the ledger adds:
// its extension members, the @context it stores each event with, and an
// eventID where the event had none.
func comparable(t *testing.T, raw []byte, dropID bool) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for k := range m {
		if strings.HasPrefix(k, "traceledger:") || k == "@context" || (dropID && k == "eventID") {
			delete(m, k)
		}
	}
	return m
}

// TestGatewayConformance captures every document of the OpenEPCIS set
// through a real gateway process into a real node, queries every event
// back by its id through the gateway, and checks that every invalid
// document is refused with a reason and writes nothing.
func TestGatewayConformance(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	checker, err := epcistest.Load("../../testdata/epcis")
	if err != nil {
		t.Fatal(err)
	}
	// The corpus reuses some eventIDs across files for other events. An
	// id is unique per signer on the ledger (a partner reusing one for
	// another event is refused, 409), so each document goes to the first
	// partner, with its own gateway, that has not used its ids otherwise.
	type partner struct {
		gw     *process
		signer string
		events map[string]string // id → event with its context
	}
	var partners []*partner
	partnerFor := func(ids map[string]string) *partner {
		for _, p := range partners {
			clash := false
			for id, ev := range ids {
				if prev, ok := p.events[id]; ok && prev != ev {
					clash = true
				}
			}
			if !clash {
				return p
			}
		}
		k, keyPath := partnerKey(t, n.HTTPURL(), admin)
		p := &partner{gw: startGateway(t, keyPath, n.HTTPURL(), t.TempDir()), signer: ledger.AddressOf(k).Hex(), events: map[string]string{}}
		partners = append(partners, p)
		return p
	}

	for _, dir := range []string{"Documents", "Events"} {
		for name, doc := range corpusDocuments(t, dir) {
			d, err := epcisevent.SplitDocument(doc)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]string{}
			sums := make([]*epcisevent.Summary, len(d.Events))
			idOf := make([]string, len(d.Events))
			for i, ev := range d.Events {
				withCtx, _ := epcisevent.WithContext(ev, d.Context)
				if sums[i], err = epcisevent.Summarize(withCtx); err != nil {
					t.Fatal(err)
				}
				if idOf[i], err = epcisevent.ID(withCtx, sums[i]); err != nil {
					t.Fatal(err)
				}
				canon, err := ledger.Canonicalize(withCtx)
				if err != nil {
					t.Fatal(err)
				}
				ids[idOf[i]] = string(canon)
			}
			p := partnerFor(ids)
			status, job, body := capture(t, p.gw.url, doc)
			if status != http.StatusAccepted || !job.Success || len(job.Errors) != 0 {
				t.Errorf("%s: %d %s, job %+v", name, status, body, job)
				continue
			}
			for id, ev := range ids {
				p.events[id] = ev
			}
			for i, ev := range d.Events {
				sum, id := sums[i], idOf[i]
				st, got := get(t, p.gw.url, "/events/"+url.PathEscape(id))
				if st != http.StatusOK {
					t.Errorf("%s event %d: GET /events/%s: %d %s", name, i, id, st, got)
					continue
				}
				if err := checker.Validate(got); err != nil {
					t.Errorf("%s event %d: query result: %v", name, i, err)
				}
				var qd struct {
					Body struct {
						QR struct {
							RB struct {
								EventList []json.RawMessage `json:"eventList"`
							} `json:"resultsBody"`
						} `json:"queryResults"`
					} `json:"epcisBody"`
				}
				if err := json.Unmarshal(got, &qd); err != nil {
					t.Fatal(err)
				}
				var mine []json.RawMessage
				for _, e := range qd.Body.QR.RB.EventList {
					var by struct {
						Signer string `json:"traceledger:signer"`
					}
					if json.Unmarshal(e, &by) == nil && by.Signer == p.signer {
						mine = append(mine, e)
					}
				}
				if len(mine) != 1 {
					t.Errorf("%s event %d: %d events of its partner for its id", name, i, len(mine))
					continue
				}
				want := comparable(t, ev, false)
				have := comparable(t, mine[0], sum.EventID == "")
				if !reflect.DeepEqual(want, have) {
					t.Errorf("%s event %d: queried back\n%s\nwant\n%s", name, i, mustJSON(t, have), mustJSON(t, want))
				}
			}
		}
	}

	t.Logf("%d partners captured the corpus", len(partners))
	gw := partners[0].gw
	before, _ := cluster(n.HTTPURL())
	for name, doc := range corpusDocuments(t, "Invalid") {
		status, job, body := capture(t, gw.url, doc)
		switch {
		case status == http.StatusBadRequest:
			var p api.Problem
			if json.Unmarshal(body, &p) != nil || p.Detail == "" || !strings.HasPrefix(p.Type, "epcisException:") {
				t.Errorf("%s: refused without a reason: %s", name, body)
			}
		case status == http.StatusAccepted:
			if job.Success || len(job.Errors) == 0 || job.Errors[0].Detail == "" || job.Errors[0].Instance == "" {
				t.Errorf("%s: job %+v, want a failure naming the event", name, job)
			}
		default:
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	if after, _ := cluster(n.HTTPURL()); after.Size != before.Size {
		t.Errorf("invalid documents wrote %d entries", after.Size-before.Size)
	}

	// The capture binding's own refusals and discovery.
	if st, _, body := capture(t, gw.url, []byte(`{"type":"EPCISDocument"}`), "GS1-Capture-Error-Behaviour", "sometimes"); st != http.StatusBadRequest {
		t.Errorf("unknown error behaviour: %d %s", st, body)
	}
	req, _ := http.NewRequest(http.MethodOptions, gw.url+"/capture", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("GS1-EPCIS-Capture-Limit") == "" || resp.Header.Get("GS1-Capture-Error-Behaviour") == "" {
		t.Errorf("OPTIONS /capture: %d %v", resp.StatusCode, resp.Header)
	}
	if st, _ := get(t, gw.url, "/capture/nosuchjob"); st != http.StatusNotFound {
		t.Errorf("unknown job: %d", st)
	}
}

// TestGatewayProceed: with proceed, a document's valid events are
// recorded and its invalid ones reported; with rollback (the default),
// none is.
func TestGatewayProceed(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	_, keyPath := partnerKey(t, n.HTTPURL(), admin)
	gw := startGateway(t, keyPath, n.HTTPURL(), t.TempDir())
	doc := corpusDocuments(t, "Invalid")["Invalid/ObjectEvent_with_non_standard_bizStep_in_second_event.json"]
	if doc == nil {
		t.Fatal("corpus document missing")
	}
	before, _ := cluster(n.HTTPURL())
	if st, job, body := capture(t, gw.url, doc); st != http.StatusAccepted || job.Success || job.Behaviour != "rollback" {
		t.Fatalf("rollback: %d %s %+v", st, body, job)
	}
	if after, _ := cluster(n.HTTPURL()); after.Size != before.Size {
		t.Fatalf("rollback wrote %d entries", after.Size-before.Size)
	}
	st, job, body := capture(t, gw.url, doc, "GS1-Capture-Error-Behaviour", "proceed")
	if st != http.StatusAccepted || job.Success || len(job.Errors) != 1 || job.Errors[0].Instance != "/epcisBody/eventList/1" {
		t.Fatalf("proceed: %d %s %+v", st, body, job)
	}
	if after, _ := cluster(n.HTTPURL()); after.Size != before.Size+1 {
		t.Errorf("proceed wrote %d entries, want the valid event", after.Size-before.Size)
	}
}

// TestGatewayRestart kills the gateway in the middle of a job — one batch
// applied by the ledger but its answer lost — and restarts it on the same
// outbox: the job completes, every event is on the ledger exactly once.
func TestGatewayRestart(t *testing.T) {
	admin := genKey(t)
	n := startNode(t, "127.0.0.1:0", admin)
	partner, keyPath := partnerKey(t, n.HTTPURL(), admin)

	// A link to the ledger that forwards two batches, forwards the third
	// but never answers it, and holds every later request.
	target, _ := url.Parse(n.HTTPURL())
	fwd := httputil.NewSingleHostReverseProxy(target)
	hold := make(chan struct{})
	var mu sync.Mutex
	batches := 0
	link := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			fwd.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		batches++
		k := batches
		mu.Unlock()
		switch {
		case k <= 2:
			fwd.ServeHTTP(w, r)
		case k == 3:
			fwd.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer is lost
			<-hold
		default:
			<-hold
		}
	}))
	t.Cleanup(func() { close(hold); link.Close() })

	const events = 40
	var list []map[string]any
	for i := 0; i < events; i++ {
		list = append(list, map[string]any{"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
			"eventTime": time.Date(2026, 6, 1, 8, i, 0, 0, time.UTC).Format(time.RFC3339), "eventTimeZoneOffset": "+00:00",
			"epcList": []string{"urn:epc:id:sgtin:8936000.000012.R" + string(rune('A'+i%26)) + string(rune('A'+i/26))}})
	}
	doc := mustJSON(t, map[string]any{"@context": []string{epcisevent.ContextURL}, "type": "EPCISDocument", "schemaVersion": "2.0",
		"creationDate": "2026-06-01T09:00:00Z", "epcisBody": map[string]any{"eventList": list}})

	dir := t.TempDir()
	gw := startGateway(t, keyPath, link.URL, dir, "--batch", "7")
	req, _ := http.NewRequest(http.MethodPost, gw.url+"/capture", bytes.NewReader(doc))
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("POST /capture: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		k := batches
		mu.Unlock()
		if k >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not send a third batch")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gw.cmd.Process.Kill()
	<-gw.exited

	gw2 := startGateway(t, keyPath, n.HTTPURL(), dir, "--batch", "7")
	job := waitJob(t, gw2.url+loc)
	if !job.Success || len(job.Errors) != 0 {
		t.Fatalf("after the restart: %+v", job)
	}
	var pv struct {
		Entries []uint64 `json:"entries"`
	}
	st, b := get(t, n.HTTPURL(), "/v1/participants/"+ledger.AddressOf(partner).Hex())
	if st != http.StatusOK || json.Unmarshal(b, &pv) != nil {
		t.Fatalf("participant: %d %s", st, b)
	}
	// The registration, then each event once.
	if len(pv.Entries) != 1+events {
		t.Errorf("the partner has %d entries, want 1 + %d events", len(pv.Entries), events)
	}
}
