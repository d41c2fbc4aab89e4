package api_test

// GET /v1/lots/{gtin}/{lot}/epcis: the demo history exported as GS1 EPCIS
// 2.0, checked against the GS1 JSON Schema and against the ledger.

import (
	"context"
	"fmt"
	"github.com/traceledger/traceledger/ledger/demo"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/api/epcis"
	"github.com/traceledger/traceledger/api/epcis/epcistest"
	"github.com/traceledger/traceledger/ledger"
)

// seedDemo submits the demo history to the fixture's node.
func (f *fixture) seedDemo() {
	f.t.Helper()
	envs, err := demo.Envelopes(f.admin)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := f.cluster.SubmitEnvelopes(ctx, envs)
	if err != nil {
		f.t.Fatalf("submit the demo: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			f.t.Fatalf("demo envelope %d: %v", i, r.Err)
		}
	}
}

// exportLot fetches a lot's EPCIS document, checks its media type, the
// schema and the JSON-LD terms, and decodes it.
func (f *fixture) exportLot(c *epcistest.Checker, gtin, lot string) *epcis.Document {
	f.t.Helper()
	path := "/v1/lots/" + gtin + "/" + lot + "/epcis"
	status, header, body := f.do(http.MethodGet, path, "", nil)
	if status != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if ct := header.Get("Content-Type"); ct != "application/ld+json" {
		f.t.Errorf("Content-Type %q, want application/ld+json", ct)
	}
	if err := c.Validate(body); err != nil {
		f.t.Fatalf("%s: %v\n%s", path, err, body)
	}
	if err := c.CheckTerms(body); err != nil {
		f.t.Errorf("%s: %v", path, err)
	}
	var doc epcis.Document
	mustDecode(f.t, body, &doc)
	return &doc
}

func TestEPCISExport(t *testing.T) {
	f := startNode(t)
	f.seedDemo()
	c, err := epcistest.Load("../testdata/epcis")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every demo lot validates", func(t *testing.T) {
		f := f.with(t)
		for _, l := range demo.Lots() {
			if doc := f.exportLot(c, l.GTIN, l.Lot); len(doc.Body.EventList) == 0 {
				t.Errorf("%s/%s: no events", l.GTIN, l.Lot)
			}
		}
	})

	t.Run("lychee boxes: harvest to shop", func(t *testing.T) {
		f := f.with(t)
		doc := f.exportLot(c, "08936000100025", "LNB2606A")
		const fresh = "https://id.gs1.org/01/08936000100018/10/LN2606A"
		const boxes = "https://id.gs1.org/01/08936000100025/10/LNB2606A"
		want := []struct{ typ, action, step, disp, class string }{
			{"ObjectEvent", "ADD", "commissioning", "active", fresh},
			{"ObjectEvent", "OBSERVE", "inspecting", "conformant", fresh},
			{"ObjectEvent", "OBSERVE", "shipping", "in_transit", fresh},
			{"ObjectEvent", "OBSERVE", "receiving", "in_progress", fresh},
			{"TransformationEvent", "", "commissioning", "active", ""},
			{"ObjectEvent", "OBSERVE", "shipping", "in_transit", boxes},
			{"ObjectEvent", "OBSERVE", "receiving", "in_progress", boxes},
			{"ObjectEvent", "OBSERVE", "shipping", "in_transit", boxes},
			{"ObjectEvent", "OBSERVE", "receiving", "in_progress", boxes},
		}
		ev := doc.Body.EventList
		if len(ev) != len(want) {
			t.Fatalf("%d events, want %d: %+v", len(ev), len(want), ev)
		}
		for i, w := range want {
			e := ev[i]
			if e.Type != w.typ || e.Action != w.action || e.BizStep != w.step || e.Disposition != w.disp {
				t.Errorf("event %d: %s %s %s %s, want %+v", i, e.Type, e.Action, e.BizStep, e.Disposition, w)
			}
			if w.class != "" && (len(e.QuantityList) != 1 || e.QuantityList[0].EPCClass != w.class) {
				t.Errorf("event %d: quantityList %+v, want %s", i, e.QuantityList, w.class)
			}
			if i > 0 && e.Seq <= ev[i-1].Seq {
				t.Errorf("event %d: seq %d after %d: not in log order", i, e.Seq, ev[i-1].Seq)
			}
			if e.EventTimeZoneOffset != "+07:00" || !strings.HasPrefix(e.EventID, "urn:uuid:") || e.RecordTime == "" {
				t.Errorf("event %d: offset %q eventID %q recordTime %q", i, e.EventTimeZoneOffset, e.EventID, e.RecordTime)
			}
			// The extension ties the event to the ledger entry.
			var entry ledger.EntryView
			mustDecode(t, f.mustGet(fmt.Sprintf("/v1/entries/%d", e.Seq)), &entry)
			if entry.Hash != e.EntryHash || entry.Signer != e.Signer {
				t.Errorf("event %d: entryHash %s signer %s, but entry %d has %s %s", i, e.EntryHash, e.Signer, e.Seq, entry.Hash, entry.Signer)
			}
			if w.step == "shipping" || w.step == "receiving" {
				if len(e.SourceList) != 1 || e.SourceList[0].Type != "owning_party" || !strings.HasPrefix(e.SourceList[0].Source, "did:pkh:eip155:1:0x") ||
					len(e.DestinationList) != 1 || e.DestinationList[0].Type != "owning_party" || e.DestinationList[0].Destination == e.SourceList[0].Source {
					t.Errorf("event %d (%s): source %+v destination %+v", i, w.step, e.SourceList, e.DestinationList)
				}
			}
		}
		// Each hand-over is received by the party it was shipped to.
		for _, i := range []int{2, 5, 7} {
			if ev[i].DestinationList[0] != ev[i+1].DestinationList[0] || ev[i].SourceList[0] != ev[i+1].SourceList[0] {
				t.Errorf("shipping %d and receiving %d name different parties", i, i+1)
			}
		}
		if h := ev[0]; h.QuantityList[0].Quantity != "2000" || h.QuantityList[0].UOM != "KGM" || h.ReadPoint == nil ||
			h.ReadPoint.ID != "geo:21.387,106.556" || h.ILMD == nil || h.ILMD.Product == nil || len(h.ILMD.Certificates) != 1 {
			t.Errorf("harvest %+v", h)
		}
		tr := ev[4]
		if len(tr.InputQuantityList) != 1 || tr.InputQuantityList[0] != (epcis.QuantityElement{EPCClass: fresh, Quantity: "500", UOM: "KGM"}) ||
			len(tr.OutputQuantityList) != 1 || tr.OutputQuantityList[0] != (epcis.QuantityElement{EPCClass: boxes, Quantity: "2000", UOM: "XBX"}) {
			t.Errorf("transformation inputs %+v outputs %+v", tr.InputQuantityList, tr.OutputQuantityList)
		}
	})

	t.Run("recalled honey", func(t *testing.T) {
		f := f.with(t)
		doc := f.exportLot(c, "08936000600020", "HG2607R")
		const jars = "https://id.gs1.org/01/08936000600020/10/HG2607R"
		var recalled, failed bool
		for _, e := range doc.Body.EventList {
			if e.Disposition == "non_conformant" && e.Inspection != nil && e.Inspection.Result == "fail" {
				failed = true
			}
			if e.Disposition != "recalled" {
				continue
			}
			for _, q := range e.QuantityList {
				recalled = recalled || q.EPCClass == jars
			}
			if e.Recall == nil || !strings.Contains(e.Recall.Reason, "TCVN 12605:2019") || e.Recall.Origin != "https://id.gs1.org/01/08936000600013/10/HG2607B" {
				t.Errorf("recall extension %+v", e.Recall)
			}
		}
		if !recalled || !failed {
			t.Errorf("recalled event naming %s: %v; failed inspection: %v", jars, recalled, failed)
		}
	})

	t.Run("errors", func(t *testing.T) {
		f := f.with(t)
		for _, tc := range []struct {
			path string
			want int
		}{
			{"/v1/lots/08936000100025/NOSUCH/epcis", http.StatusNotFound},
			{"/v1/lots/08936000100026/LNB2606A/epcis", http.StatusBadRequest},
			{"/v1/lots/89360001000/LNB2606A/epcis", http.StatusBadRequest},
			{"/v1/lots/08936000100025/LNB2606A/epcis?consistency=bogus", http.StatusBadRequest},
		} {
			status, header, body := f.do(http.MethodGet, tc.path, "", nil)
			if status != tc.want {
				t.Errorf("GET %s: %d %s, want %d", tc.path, status, body, tc.want)
				continue
			}
			checkErrorBody(t, header, body)
		}
		// GTIN-13 is normalised, and a linearizable read works on the leader.
		if status, _, body := f.do(http.MethodGet, "/v1/lots/8936000100025/LNB2606A/epcis?consistency=linearizable", "", nil); status != http.StatusOK {
			t.Errorf("GTIN-13, linearizable: %d %s", status, body)
		}
	})
}

func (f *fixture) mustGet(path string) []byte {
	f.t.Helper()
	status, body := f.get(path)
	if status != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return body
}
