package epcis_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/api/epcis"
	"github.com/traceledger/traceledger/api/epcis/epcistest"
	"github.com/traceledger/traceledger/ledger"
)

const testdata = "../../testdata/epcis"

func checker(t *testing.T) *epcistest.Checker {
	t.Helper()
	c, err := epcistest.Load(testdata)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The checker itself: GS1's own examples pass, a broken event does not.
func TestCheckerAcceptsGS1Examples(t *testing.T) {
	c := checker(t)
	examples, err := filepath.Glob(filepath.Join(testdata, "Example_*.jsonld"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no GS1 examples in %s: %v", testdata, err)
	}
	for _, ex := range examples {
		b, err := os.ReadFile(ex)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(b); err != nil {
			t.Errorf("%s: %v", filepath.Base(ex), err)
		}
		if err := c.CheckTerms(b); err != nil {
			t.Errorf("%s: %v", filepath.Base(ex), err)
		}
	}
	broken := `{"@context":["` + epcis.ContextURL + `"],"type":"EPCISDocument","schemaVersion":"2.0",
		"creationDate":"2026-01-01T00:00:00Z","epcisBody":{"eventList":[{"type":"ObjectEvent","action":"OBSERVE",
		"eventTime":"2026-01-01T00:00:00Z","epcList":[],"bizStep":"urn:epcglobal:cbv:bizstep:shipping"}]}}`
	if err := c.Validate([]byte(broken)); err == nil {
		t.Error("an event without eventTimeZoneOffset and with a CBV URN bizStep validated")
	}
	if err := c.CheckTerms([]byte(`{"@context":["` + epcis.ContextURL + `",{"x":"urn:x:"}],"x:ok":1,"y:no":2,"lotCode":3}`)); err == nil ||
		!strings.Contains(err.Error(), "/lotCode, /y:no") || strings.Contains(err.Error(), "x:ok") {
		t.Errorf("CheckTerms on undeclared keys: %v", err)
	}
}

const (
	producer  = "0x1111111111111111111111111111111111111111"
	processor = "0x2222222222222222222222222222222222222222"
	inspector = "0x3333333333333333333333333333333333333333"
	admin     = "0x4444444444444444444444444444444444444444"
)

func gtin(body string) string { return body + string(ledger.CheckDigit(body)) }

// story is a small history: a producer with a GLN harvests, an inspector
// fails the lot, the producer ships it to a processor without one, who
// receives it and boxes part of it, and the producer recalls the harvest.
func story(t *testing.T) (entries []*ledger.Entry, fresh, boxes ledger.LotRef) {
	t.Helper()
	fresh = ledger.LotRef{GTIN: gtin("0893600010001"), Lot: "LN2606A"}
	boxes = ledger.LotRef{GTIN: gtin("0893600010002"), Lot: "LNB/2606"}
	add := func(signer, typ, when string, fields map[string]any) {
		rec := map[string]any{"type": typ, "id": typ + "-1", "signer": signer, "time": when}
		for k, v := range fields {
			rec[k] = v
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, &ledger.Entry{Seq: uint64(len(entries) + 1), Type: typ,
			RecordTime: "2026-06-14T01:00:00.5Z", Signer: signer, Record: raw, Signature: "0x00"})
	}
	add(admin, "participant", "2026-03-01T08:00:00+07:00", map[string]any{"address": producer, "name": "HTX Phì Điền", "roles": []string{"producer"}})
	add(producer, "harvest", "2026-06-12T05:30:00+07:00", map[string]any{"lot": fresh,
		"product":      map[string]any{"name": "Vải thiều Lục Ngạn", "name_en": "Luc Ngan lychee"},
		"quantity":     map[string]any{"amount": 2000.5, "unit": "KGM"},
		"place":        map[string]any{"name": "Vườn vải Phì Điền", "geo": "21.387, 106.556", "growing_area_code": "VN-BGLN-0012"},
		"certificates": []any{map[string]any{"scheme": "VietGAP", "number": "VG-1"}}})
	add(inspector, "inspect", "2026-06-12T10:00:00-05:00", map[string]any{"lot": fresh, "result": "fail", "note": "ẩm",
		"certificate": map[string]any{"scheme": "OCOP", "stars": 4}})
	add(producer, "transfer", "2026-06-12T13:00:00Z", map[string]any{"lot": fresh, "to": processor})
	add(processor, "receive", "2026-06-12T16:30:00+07:00", map[string]any{"lot": fresh,
		"place": map[string]any{"name": "Xưởng Đình Trám", "gln": gtin("893600000001")}})
	add(processor, "transform", "2026-06-13T07:00:00+07:00", map[string]any{
		"inputs":  []any{map[string]any{"lot": fresh, "quantity": map[string]any{"amount": 500, "unit": "KGM"}}},
		"outputs": []any{map[string]any{"lot": boxes, "product": map[string]any{"name": "Hộp 250 g"}, "quantity": map[string]any{"amount": 2000, "unit": "H87"}}},
		"process": "đóng hộp"})
	add(producer, "recall", "2026-06-15T09:00:00+07:00", map[string]any{"lot": fresh, "reason": "ẩm quá"})
	return entries, fresh, boxes
}

func parties(t *testing.T) epcis.Parties {
	return func(addr string) (*ledger.ParticipantInfo, error) {
		if !strings.EqualFold(addr, producer) {
			return nil, nil
		}
		return &ledger.ParticipantInfo{Address: addr, GLN: gtin("893600000002")}, nil
	}
}

func TestFromEntriesMapping(t *testing.T) {
	entries, fresh, boxes := story(t)
	created := time.Date(2026, 7, 1, 3, 4, 5, 0, time.FixedZone("ICT", 7*3600))
	doc, err := epcis.FromEntries(entries, parties(t), created)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := checker(t)
	if err := c.Validate(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if err := c.CheckTerms(b); err != nil {
		t.Error(err)
	}
	if doc.CreationDate != "2026-06-30T20:04:05Z" || doc.SchemaVersion != "2.0" || doc.Context[0] != epcis.ContextURL {
		t.Errorf("document header %q %q %v", doc.CreationDate, doc.SchemaVersion, doc.Context)
	}
	ev := doc.Body.EventList
	if len(ev) != len(entries)-1 {
		t.Fatalf("%d events for %d entries (one a participant)", len(ev), len(entries))
	}
	freshClass := "https://id.gs1.org/01/" + fresh.GTIN + "/10/LN2606A"
	boxClass := "https://id.gs1.org/01/" + boxes.GTIN + "/10/LNB%2F2606"
	producerID := "https://id.gs1.org/417/" + gtin("893600000002")
	processorID := "did:pkh:eip155:1:" + processor
	want := []struct {
		typ, action, step, disp, offset string
	}{
		{"ObjectEvent", "ADD", "commissioning", "active", "+07:00"},
		{"ObjectEvent", "OBSERVE", "inspecting", "non_conformant", "-05:00"},
		{"ObjectEvent", "OBSERVE", "shipping", "in_transit", "+00:00"},
		{"ObjectEvent", "OBSERVE", "receiving", "in_progress", "+07:00"},
		{"TransformationEvent", "", "commissioning", "active", "+07:00"},
		{"ObjectEvent", "OBSERVE", "", "recalled", "+07:00"},
	}
	ids := map[string]bool{}
	for i, w := range want {
		e, entry := ev[i], entries[i+1]
		if e.Type != w.typ || e.Action != w.action || e.BizStep != w.step || e.Disposition != w.disp || e.EventTimeZoneOffset != w.offset {
			t.Errorf("event %d: %s %s %s %s %s, want %+v", i, e.Type, e.Action, e.BizStep, e.Disposition, e.EventTimeZoneOffset, w)
		}
		data, err := ledger.MarshalEntry(entry)
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != entry.Seq || e.EntryHash != ledger.HashHex(ledger.LeafHash(data)) || e.Signer != entry.Signer || e.RecordTime != entry.RecordTime {
			t.Errorf("event %d: ledger link seq %d hash %s signer %s recordTime %s", i, e.Seq, e.EntryHash, e.Signer, e.RecordTime)
		}
		if !strings.HasPrefix(e.EventID, "urn:uuid:") || ids[e.EventID] {
			t.Errorf("event %d: eventID %q is not a fresh urn:uuid", i, e.EventID)
		}
		ids[e.EventID] = true
	}

	harvest := ev[0]
	if q := harvest.QuantityList; len(q) != 1 || q[0].EPCClass != freshClass || q[0].Quantity != "2000.5" || q[0].UOM != "KGM" {
		t.Errorf("harvest quantityList %+v", q)
	}
	if harvest.EventTime != "2026-06-12T05:30:00+07:00" || harvest.ReadPoint == nil || harvest.ReadPoint.ID != "geo:21.387,106.556" ||
		harvest.BizLocation == nil || harvest.Place.GrowingAreaCode != "VN-BGLN-0012" {
		t.Errorf("harvest time %s readPoint %+v bizLocation %+v place %+v", harvest.EventTime, harvest.ReadPoint, harvest.BizLocation, harvest.Place)
	}
	if harvest.ILMD == nil || harvest.ILMD.Product.NameEN != "Luc Ngan lychee" || len(harvest.ILMD.Certificates) != 1 {
		t.Errorf("harvest ilmd %+v", harvest.ILMD)
	}
	if in := ev[1].Inspection; in == nil || in.Result != "fail" || in.Certificate == nil || in.Certificate.Stars != 4 {
		t.Errorf("inspection %+v", in)
	}
	ship, recv := ev[2], ev[3]
	if len(ship.SourceList) != 1 || ship.SourceList[0] != (epcis.Source{Type: "owning_party", Source: producerID}) ||
		len(ship.DestinationList) != 1 || ship.DestinationList[0] != (epcis.Destination{Type: "owning_party", Destination: processorID}) {
		t.Errorf("shipping source %+v destination %+v", ship.SourceList, ship.DestinationList)
	}
	if len(ship.QuantityList) != 1 || ship.QuantityList[0] != (epcis.QuantityElement{EPCClass: freshClass}) {
		t.Errorf("shipping quantityList %+v", ship.QuantityList)
	}
	if len(recv.SourceList) != 1 || recv.SourceList[0].Source != producerID || recv.DestinationList[0].Destination != processorID ||
		recv.BizLocation == nil || recv.BizLocation.ID != "https://id.gs1.org/414/"+gtin("893600000001") {
		t.Errorf("receiving source %+v destination %+v bizLocation %+v", recv.SourceList, recv.DestinationList, recv.BizLocation)
	}
	tr := ev[4]
	if len(tr.InputQuantityList) != 1 || tr.InputQuantityList[0] != (epcis.QuantityElement{EPCClass: freshClass, Quantity: "500", UOM: "KGM"}) ||
		len(tr.OutputQuantityList) != 1 || tr.OutputQuantityList[0] != (epcis.QuantityElement{EPCClass: boxClass, Quantity: "2000", UOM: "H87"}) ||
		tr.QuantityList != nil || tr.Process != "đóng hộp" || tr.ILMD.Products[0].EPCClass != boxClass {
		t.Errorf("transformation %+v", tr)
	}
	rc := ev[5]
	if len(rc.QuantityList) != 2 || rc.QuantityList[0].EPCClass != freshClass || rc.QuantityList[1].EPCClass != boxClass ||
		rc.Recall == nil || rc.Recall.Reason != "ẩm quá" || rc.Recall.Origin != freshClass ||
		rc.PersistentDisposition == nil || rc.PersistentDisposition.Set[0] != "recalled" {
		t.Errorf("recall %+v (wants the harvested lot and the boxes made from it)", rc)
	}

	// Deterministic: the same entries give the same events.
	again, err := epcis.FromEntries(entries, parties(t), created)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(again)
	if string(b2) != string(b) {
		t.Error("a second export of the same entries differs")
	}
}

func TestFromEntriesEdges(t *testing.T) {
	entries, _, _ := story(t)
	// No lookup: everyone is a did:pkh.
	doc, err := epcis.FromEntries(entries, nil, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if src := doc.Body.EventList[2].SourceList[0].Source; src != "did:pkh:eip155:1:"+producer {
		t.Errorf("source without a lookup: %s", src)
	}
	// A failing lookup is reported, wrapped.
	boom := errors.New("store closed")
	_, err = epcis.FromEntries(entries, func(string) (*ledger.ParticipantInfo, error) { return nil, boom }, time.Unix(0, 0))
	if !errors.Is(err, boom) {
		t.Errorf("lookup error: %v", err)
	}
	// An undecodable record is an error naming the entry.
	bad := []*ledger.Entry{{Seq: 9, Type: "harvest", RecordTime: "2026-06-14T01:00:00Z", Record: json.RawMessage(`{"type":"harvest"}`)}}
	if _, err := epcis.FromEntries(bad, nil, time.Unix(0, 0)); err == nil || !strings.Contains(err.Error(), "entry 9") {
		t.Errorf("undecodable record: %v", err)
	}
	// Nothing to export is an empty, valid document.
	doc, err = epcis.FromEntries(nil, nil, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(doc)
	if err := checker(t).Validate(b); err != nil || len(doc.Body.EventList) != 0 || !strings.Contains(string(b), `"eventList":[]`) {
		t.Errorf("empty document %s: %v", b, err)
	}
}
