package consumer

import (
	"encoding/json"
	"testing"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// TestPartnerEventOnPage: a partner's EPCIS event naming a lot is a step
// of the lot's journey, with its business step, signed by the partner.
func TestPartnerEventOnPage(t *testing.T) {
	ds := startDemo(t, nil)
	ev, err := json.Marshal(map[string]any{
		"@context":  []any{epcisevent.ContextURL},
		"type":      "ObjectEvent",
		"eventTime": "2026-06-20T10:00:00+07:00", "eventTimeZoneOffset": "+07:00",
		"action":       "OBSERVE",
		"bizStep":      "cycle_counting",
		"quantityList": []any{map[string]any{"epcClass": "https://id.gs1.org/01/" + lycheeGTIN + "/10/" + lycheeLot}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := epcisevent.Hash(ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := demo.Key("cert") // any registered participant may record an event
	rec, _ := json.Marshal(map[string]any{"type": "epcis", "id": id, "signer": ledger.AddressOf(key).Hex(),
		"time": "2026-06-20T10:00:00+07:00", "event": json.RawMessage(ev)})
	env, err := ledger.SignEnvelope(key, rec)
	if err != nil {
		t.Fatal(err)
	}
	ds.submit(t, env)
	r := ds.get(t, lycheePage)
	mustContain(t, "lychee page", r.body, "ev-partner", "Sự kiện của đối tác (EPCIS)", "cycle counting")
}
