package api_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/api/epcis/epcistest"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// partnerRecord signs an `epcis` record of ev (which carries its own
// @context) by key, with the id the ledger requires.
func partnerRecord(t *testing.T, key *ecdsa.PrivateKey, ev map[string]any) (ledger.Envelope, string) {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	id, err := epcisevent.Hash(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"type": "epcis", "id": id, "signer": addr(key), "time": ev["eventTime"], "event": json.RawMessage(raw)}
	return sign(t, key, rec), id
}

// queryResult is what the tests read of an EPCISQueryDocument.
type queryResult struct {
	Type string `json:"type"`
	Body struct {
		QueryResults struct {
			ResultsBody struct {
				EventList []map[string]any `json:"eventList"`
			} `json:"resultsBody"`
		} `json:"queryResults"`
	} `json:"epcisBody"`
}

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// queryAll follows the next links from path and returns every event, each
// page checked against the EPCIS 2.0 schema.
func (f *fixture) queryAll(c *epcistest.Checker, path string) []map[string]any {
	f.t.Helper()
	var out []map[string]any
	for pages := 0; path != ""; pages++ {
		if pages > 1000 {
			f.t.Fatalf("more than 1000 pages from %s", path)
		}
		status, h, body := f.do(http.MethodGet, path, "", nil)
		if status != http.StatusOK {
			f.t.Fatalf("GET %s: %d %s", path, status, body)
		}
		if h.Get("GS1-EPCIS-Version") != "2.0.0" || h.Get("GS1-CBV-Version") != "2.0.0" {
			f.t.Errorf("GET %s: version headers %v", path, h)
		}
		if err := c.Validate(body); err != nil {
			f.t.Fatalf("GET %s: %v", path, err)
		}
		var doc queryResult
		mustDecode(f.t, body, &doc)
		if doc.Type != "EPCISQueryDocument" {
			f.t.Fatalf("GET %s: type %q", path, doc.Type)
		}
		out = append(out, doc.Body.QueryResults.ResultsBody.EventList...)
		path = ""
		if l := h.Get("Link"); l != "" {
			m := nextLink.FindStringSubmatch(l)
			if m == nil {
				f.t.Fatalf("Link %q", l)
			}
			path = m[1]
		}
	}
	return out
}

func TestEPCISQuery(t *testing.T) {
	f := startNode(t)
	c, err := epcistest.Load("../testdata/epcis")
	if err != nil {
		t.Fatal(err)
	}
	gtin := gtin14("893600000012")
	f.accept(f.harvest(f.producer, gtin, "VAI-Q1"))
	lotClass := "https://id.gs1.org/01/" + gtin + "/10/VAI-Q1"

	// A few thousand partner events: every third storing, the others
	// shipping; every tenth names the lot; one minute apart.
	const n = 2400
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	var envs []ledger.Envelope
	ids := make([]string, n)
	for i := 0; i < n; i++ {
		ev := map[string]any{
			"@context":  []any{epcisevent.ContextURL},
			"type":      "ObjectEvent",
			"eventTime": base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339), "eventTimeZoneOffset": "+07:00",
			"action":  "OBSERVE",
			"epcList": []any{fmt.Sprintf("urn:epc:id:sgtin:8936000.000012.S%d", i)},
			"bizStep": map[bool]string{true: "storing", false: "shipping"}[i%3 == 0],
		}
		if i%10 == 0 {
			ev["quantityList"] = []any{map[string]any{"epcClass": lotClass, "quantity": 1, "uom": "KGM"}}
		}
		if i%100 == 0 {
			ev["bizLocation"] = map[string]any{"id": "urn:epc:id:sgln:8936000.00001.0"}
		}
		envs = append(envs, ledger.Envelope{})
		envs[i], ids[i] = partnerRecord(t, f.distributor, ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for start := 0; start < n; start += 500 {
		res, err := f.cluster.SubmitEnvelopes(ctx, envs[start:min(start+500, n)])
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("event %d: %v", start+i, r.Err)
			}
		}
	}

	count := func(path string, want int) []map[string]any {
		t.Helper()
		evs := f.queryAll(c, path)
		if len(evs) != want {
			t.Errorf("%s: %d events, want %d", path, len(evs), want)
		}
		seen := map[string]bool{}
		for _, ev := range evs {
			id, _ := ev["eventID"].(string)
			if id == "" || seen[id] {
				t.Errorf("%s: eventID %q missing or repeated", path, id)
			}
			seen[id] = true
			if ev["traceledger:seq"] == nil || ev["traceledger:signature"] == nil || ev["traceledger:entryHash"] == nil || ev["traceledger:signer"] == nil {
				t.Errorf("%s: event %s lacks the ledger's extension members", path, id)
			}
		}
		return evs
	}
	storing := (n + 2) / 3
	count("/epcis/events?EQ_bizStep=storing&perPage=97", storing)
	count("/epcis/events?EQ_bizStep="+url.QueryEscape("https://ref.gs1.org/cbv/BizStep-storing")+"&perPage=1000", storing)
	count("/epcis/events?eventType=ObjectEvent&EQ_bizStep=shipping|storing&perPage=500", n)
	// The custody harvest is an event too: commissioning, naming the lot.
	count("/epcis/events?EQ_bizStep=commissioning", 1)
	classEvents := count("/epcis/events?MATCH_epcClass="+url.QueryEscape(lotClass)+"&perPage=50", n/10+1)
	count("/epcis/events?MATCH_epcClass="+url.QueryEscape("urn:epc:class:lgtin:8936000.000012.VAI-Q1")+"&EQ_bizStep=storing", (n/10+2)/3)
	count("/epcis/events?MATCH_epc="+url.QueryEscape("urn:epc:id:sgtin:8936000.000012.S77"), 1)
	count("/epcis/events?MATCH_anyEPC="+url.QueryEscape("https://id.gs1.org/01/08936000000127/21/S78"), 1)
	count("/epcis/epcs/"+url.PathEscape("urn:epc:id:sgtin:8936000.000012.S79")+"/events", 1)
	// A window of event time: 60 minutes from the 100th event.
	ge := base.Add(100 * time.Minute).Format(time.RFC3339)
	lt := base.Add(160 * time.Minute).Format(time.RFC3339)
	count("/epcis/events?GE_eventTime="+url.QueryEscape(ge)+"&LT_eventTime="+url.QueryEscape(lt)+"&perPage=7", 60)
	count("/epcis/events?GE_recordTime="+url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), 0)
	count("/epcis/events?LT_recordTime="+url.QueryEscape("2000-01-01T00:00:00Z"), 0)
	count("/epcis/events?EQ_bizLocation="+url.QueryEscape("https://id.gs1.org/414/8936000000011")+"&perPage=5", n/100)

	// One event by its id: a partner's by its event hash, the harvest by
	// the eventID its mapping gives it.
	one := count("/epcis/events/"+url.PathEscape(ids[5]), 1)
	if one[0]["eventID"] != ids[5] {
		t.Errorf("event %s answered %v", ids[5], one[0]["eventID"])
	}
	for _, ev := range classEvents {
		if ev["bizStep"] == "commissioning" {
			count("/epcis/events/"+url.PathEscape(ev["eventID"].(string)), 1)
		}
	}

	// Refusals: RFC 7807 problems of the binding's types.
	for _, bad := range []struct {
		path   string
		status int
		typ    string
	}{
		{"/epcis/events?perPage=0", 400, "epcisException:QueryParameterException"},
		{"/epcis/events?perPage=abc", 400, "epcisException:QueryParameterException"},
		{"/epcis/events?EQ_readPoint=x", 400, "epcisException:QueryParameterException"},
		{"/epcis/events?GE_eventTime=yesterday", 400, "epcisException:QueryParameterException"},
		{"/epcis/events?nextPageToken=%21%21", 400, "epcisException:QueryParameterException"},
		{"/epcis/events?EQ_bizStep=storing&nextPageToken=" + "eC9xL3Qv", 400, "epcisException:QueryParameterException"},
		{"/epcis/events/" + url.PathEscape("urn:uuid:00000000-0000-4000-8000-000000000000"), 404, "epcisException:NoSuchResourceException"},
	} {
		status, h, body := f.do(http.MethodGet, bad.path, "", nil)
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if status != bad.status || h.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d %s %s, want %d problem+json", bad.path, status, h.Get("Content-Type"), body, bad.status)
			continue
		}
		mustDecode(t, body, &p)
		if p.Type != bad.typ || p.Status != bad.status || p.Title == "" || p.Detail == "" {
			t.Errorf("GET %s: problem %+v, want type %s", bad.path, p, bad.typ)
		}
	}
	if status, h, _ := f.do(http.MethodOptions, "/epcis/events", "", nil); status != http.StatusNoContent || !strings.Contains(h.Get("Allow"), "GET") {
		t.Errorf("OPTIONS /epcis/events: %d %v", status, h)
	}
}

// TestPartnerEventInLotHistory: a partner's event naming a lot is in the
// lot's history — its JSON, EPCIS export (valid against the
// schema) and provenance bundle (which verifies) — and changes no custody.
func TestPartnerEventInLotHistory(t *testing.T) {
	f := startNode(t)
	c, err := epcistest.Load("../testdata/epcis")
	if err != nil {
		t.Fatal(err)
	}
	gtin := gtin14("893600000012")
	f.accept(f.harvest(f.producer, gtin, "VAI-P1"))
	ev := map[string]any{
		"@context":  []any{epcisevent.ContextURL, map[string]any{"wh": "https://warehouse.example.vn/epcis/"}},
		"type":      "ObjectEvent",
		"eventTime": "2026-06-13T08:00:00+07:00", "eventTimeZoneOffset": "+07:00",
		"action":       "OBSERVE",
		"bizStep":      "storing",
		"disposition":  "sellable_not_accessible",
		"quantityList": []any{map[string]any{"epcClass": "urn:epc:class:lgtin:8936000.000012.VAI-P1", "quantity": 40, "uom": "KGM"}},
		"wh:coldRoom":  "B2",
	}
	env, id := partnerRecord(t, f.distributor, ev)
	partner := f.accept(env)

	var lot struct {
		Lot struct {
			Holder string `json:"holder"`
		} `json:"lot"`
		Entries []struct {
			Seq  uint64 `json:"seq"`
			Type string `json:"type"`
		} `json:"entries"`
	}
	mustDecode(t, f.mustGet("/v1/lots/"+gtin+"/VAI-P1"), &lot)
	if lot.Lot.Holder != addr(f.producer) {
		t.Errorf("holder %s after a partner event, want the producer", lot.Lot.Holder)
	}
	found := false
	for _, e := range lot.Entries {
		found = found || (e.Seq == partner.Seq && e.Type == "epcis")
	}
	if !found {
		t.Errorf("lot entries %+v lack the partner event %d", lot.Entries, partner.Seq)
	}

	if doc := f.exportLot(c, gtin, "VAI-P1"); len(doc.Body.EventList) != 2 {
		t.Fatalf("export has %d events, want harvest and partner", len(doc.Body.EventList))
	}
	var export struct {
		Body struct {
			EventList []map[string]any `json:"eventList"`
		} `json:"epcisBody"`
	}
	mustDecode(t, f.mustGet("/v1/lots/"+gtin+"/VAI-P1/epcis"), &export)
	if got := export.Body.EventList[1]; got["eventID"] != id || got["wh:coldRoom"] != "B2" || got["traceledger:signature"] == nil {
		t.Errorf("exported partner event %v", got)
	}

	var bundle ledger.Bundle
	f.waitFor("a bundle under a checkpoint covering the partner event", func() bool {
		status, body := f.get("/v1/lots/" + gtin + "/VAI-P1/provenance")
		if status != http.StatusOK || json.Unmarshal(body, &bundle) != nil {
			return false
		}
		g, _ := ledger.NormalizeGTIN(gtin)
		return slicesContains(bundle.Lots[g+"/VAI-P1"], partner.Seq)
	})
	if _, fails := ledger.VerifyBundle(&bundle, bundle.NodeKeys); len(fails) != 0 {
		t.Errorf("bundle with a partner event: %v", fails)
	}
}

func slicesContains(list []uint64, x uint64) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}
