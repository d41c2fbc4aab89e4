package ledger_test

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// partnerEvent is an ObjectEvent observing lot (of gtin) at a warehouse.
func partnerEvent(lot, bizStep string) map[string]any {
	return map[string]any{
		"@context":            []any{epcisevent.ContextURL},
		"type":                "ObjectEvent",
		"eventTime":           "2026-06-02T09:30:00+07:00",
		"eventTimeZoneOffset": "+07:00",
		"action":              "OBSERVE",
		"bizStep":             bizStep,
		"quantityList": []any{map[string]any{
			"epcClass": "https://id.gs1.org/01/" + gtin + "/10/" + lot, "quantity": json.Number("12"), "uom": "KGM"}},
		"readPoint": map[string]any{"id": "urn:epc:id:sgln:8936000.00001.0"},
	}
}

func epcisRec(t testing.TB, ev map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	id := ev["eventID"]
	if id == nil {
		h, err := epcisevent.Hash(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		id = h
	}
	return map[string]any{"type": "epcis", "id": id, "event": json.RawMessage(raw)}
}

func TestEpcisRecord(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("VAI-1", "500", "KGM"))
	headBefore := f.lot(ref("VAI-1"))

	// Any registered participant may record an event; the lot lists it,
	// its custody is unchanged.
	res := f.must(f.distributor, epcisRec(t, partnerEvent("VAI-1", "storing")))
	if got := f.lotTypes(ref("VAI-1")); strings.Join(got, ",") != "harvest,epcis" {
		t.Errorf("lot history %v, want harvest,epcis", got)
	}
	after := f.lot(ref("VAI-1"))
	if after.Holder != headBefore.Holder || after.Status != headBefore.Status || after.UpdatedSeq != headBefore.UpdatedSeq {
		t.Errorf("a partner event changed the lot: %+v → %+v", headBefore, after)
	}
	// It chains to the lot's latest entry without becoming its head: a
	// transfer after it is not stale for having missed it.
	f.view(func(r ledger.Reader) error {
		e, _, err := ledger.GetEntry(r, res.Seq)
		if err != nil {
			return err
		}
		if e.Prev[ref("VAI-1").String()] != res.Seq-1 {
			t.Errorf("partner entry prev %v, want the harvest %d", e.Prev, res.Seq-1)
		}
		return nil
	})
	f.move("VAI-1", f.producer, f.distributor)

	// The same event again is the same entry.
	if o := f.submit(f.distributor, epcisRec(t, partnerEvent("VAI-1", "storing"))); o.Status != 200 || o.Result.Seq != res.Seq {
		t.Errorf("resubmission: %d seq %d, want 200 seq %d", o.Status, o.Result.Seq, res.Seq)
	}
	// An event naming no lot of ours is recorded and lists under no lot.
	f.must(f.retailer, epcisRec(t, partnerEvent("ELSEWHERE", "receiving")))
	f.view(func(r ledger.Reader) error {
		if l, err := ledger.GetLot(r, ref("ELSEWHERE")); err != nil || l != nil {
			t.Errorf("a partner event created lot %+v (%v)", l, err)
		}
		if seqs, err := ledger.LotSeqs(r, ref("ELSEWHERE")); err != nil || len(seqs) != 0 {
			t.Errorf("an unknown lot lists entries %v (%v)", seqs, err)
		}
		return nil
	})

	// Refusals change nothing (submit checks the store is unchanged).
	expect(t, "unregistered signer", f.submit(f.stranger, epcisRec(t, partnerEvent("VAI-1", "storing"))), 403, ledger.ErrNotRegistered)
	bad := epcisRec(t, partnerEvent("VAI-1", "storing"))
	bad["id"] = "my-own-id"
	expect(t, "id is not the hash", f.submit(f.distributor, bad), 400, ledger.ErrInvalidField)
	withID := partnerEvent("VAI-1", "storing")
	withID["eventID"] = "urn:uuid:6a1d3a54-4f3b-4c7e-9a0e-1f2b3c4d5e6f"
	wrongID := epcisRec(t, withID)
	wrongID["id"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
	expect(t, "id is not the eventID", f.submit(f.distributor, wrongID), 400, ledger.ErrInvalidField)
	f.must(f.distributor, epcisRec(t, withID))

	for name, mutate := range map[string]func(map[string]any){
		"not a CBV bizStep": func(ev map[string]any) { ev["bizStep"] = "brewing" },
		"no @context":       func(ev map[string]any) { delete(ev, "@context") },
		"quantity as text": func(ev map[string]any) {
			ev["quantityList"] = []any{map[string]any{"epcClass": "urn:epc:class:lgtin:8936000.000012.X", "quantity": "12"}}
		},
		"unknown action":      func(ev map[string]any) { ev["action"] = "MOVE" },
		"time without offset": func(ev map[string]any) { ev["eventTime"] = "2026-06-02T09:30:00" },
		"unknown event type":  func(ev map[string]any) { ev["type"] = "SensorEvent" },
	} {
		ev := partnerEvent("VAI-1", "storing")
		mutate(ev)
		rec := epcisRec(t, ev)
		o := f.submit(f.distributor, rec)
		expect(t, name, o, 400, ledger.ErrInvalidField)
		if o.Err != nil && !strings.Contains(o.Err.Error(), "event/") {
			t.Errorf("%s: %v does not name the member", name, o.Err)
		}
	}
	expect(t, "no event", f.submit(f.distributor, map[string]any{"type": "epcis", "id": "x"}), 400, ledger.ErrMissingField)
}

// TestEpcisIndexes checks the query indexes Apply writes for partner
// events and custody records.
func TestEpcisIndexes(t *testing.T) {
	f := newFixture(t)
	h := f.must(f.producer, harvestRec("VAI-2", "100", "KGM"))
	p := f.must(f.distributor, epcisRec(t, partnerEvent("VAI-2", "storing")))
	seqs := func(prefix []byte) []uint64 {
		var out []uint64
		f.view(func(r ledger.Reader) error {
			return ledger.ScanEventIndex(r, prefix, nil, func(seq uint64, _ []byte) bool {
				out = append(out, seq)
				return true
			})
		})
		return out
	}
	raw := func(prefix []byte) []uint64 {
		var out []uint64
		f.view(func(r ledger.Reader) error {
			return r.Scan(prefix, nil, func(k, _ []byte) bool {
				out = append(out, binary.BigEndian.Uint64(k[len(k)-8:]))
				return true
			})
		})
		return out
	}
	// A plain lot's class has a key for the partner's event only; the
	// walk meets the harvest in the lot index.
	class := ledger.EventKeyPrefix(ledger.EventKeyClass, ledger.LotClass(ref("VAI-2")))
	if got := seqs(class); len(got) != 2 || got[0] != h.Seq || got[1] != p.Seq {
		t.Errorf("class index %v, want [%d %d]", got, h.Seq, p.Seq)
	}
	if got := raw(class); !slices.Equal(got, []uint64{p.Seq}) {
		t.Errorf("class keys %v, want [%d]", got, p.Seq)
	}
	if got := seqs(ledger.EventKeyPrefix(ledger.EventKeyBizStep, "storing")); len(got) != 1 || got[0] != p.Seq {
		t.Errorf("bizStep index %v, want [%d]", got, p.Seq)
	}
	// The values most events share have no keys, whoever records them:
	// a harvest's bizStep, disposition and type, a partner's ObjectEvent.
	// An inspection's are indexed.
	for _, c := range []struct {
		kind  byte
		value string
	}{{ledger.EventKeyBizStep, "commissioning"}, {ledger.EventKeyDisposition, "active"}, {ledger.EventKeyType, "ObjectEvent"}} {
		if ledger.EventValueIndexed(c.kind, c.value) {
			t.Errorf("%c %q is indexed", c.kind, c.value)
		}
		if got := seqs(ledger.EventKeyPrefix(c.kind, c.value)); len(got) != 0 {
			t.Errorf("%c %q has keys for %v", c.kind, c.value, got)
		}
	}
	f.move("VAI-2", f.producer, f.distributor)
	in := f.must(f.inspector, inspectRec("VAI-2", "fail"))
	if got := seqs(ledger.EventKeyPrefix(ledger.EventKeyBizStep, "inspecting")); len(got) != 1 || got[0] != in.Seq {
		t.Errorf("inspection bizStep index %v, want [%d]", got, in.Seq)
	}
	if got := seqs(ledger.EventKeyPrefix(ledger.EventKeyDisposition, "non_conformant")); len(got) != 1 || got[0] != in.Seq {
		t.Errorf("inspection disposition index %v, want [%d]", got, in.Seq)
	}
	// Of every bizStep, disposition and type key, only the partner's
	// storing and the inspection's two remain: the harvest, transfer and
	// receipt wrote none.
	var kept []string
	f.view(func(r ledger.Reader) error {
		return r.Scan([]byte("x/q/k/"), nil, func(k, _ []byte) bool {
			if kind := k[len("x/q/k/")]; kind == ledger.EventKeyBizStep || kind == ledger.EventKeyDisposition || kind == ledger.EventKeyType {
				kept = append(kept, string(k[len("x/q/k/"):len(k)-9]))
			}
			return true
		})
	})
	if want := []string{"bstoring", "binspecting", "dnon_conformant"}; !slices.Equal(slices.Sorted(slices.Values(kept)), slices.Sorted(slices.Values(want))) {
		t.Errorf("bizStep, disposition and type keys %q, want %q", kept, want)
	}
	// A harvest's bizLocation is where the lot stays, as the export says.
	if got := seqs(ledger.EventKeyPrefix(ledger.EventKeyBizLocation, "geo:21.387,106.556")); len(got) != 1 || got[0] != h.Seq {
		t.Errorf("custody bizLocation index %v, want [%d]", got, h.Seq)
	}
	// By event time: the harvest (06-01) before the partner event (06-02),
	// then the custody records that followed.
	got := seqs(ledger.EventTimePrefix())
	if hi, pi := slices.Index(got, h.Seq), slices.Index(got, p.Seq); len(got) != 5 || hi < 0 || pi < hi {
		t.Errorf("time index %v", got)
	}
	// A lot whose class is not the plain concatenation keeps its key.
	odd := f.must(f.producer, harvestRec("VAI/2+x", "10", "KGM"))
	oddClass := ledger.EventKeyPrefix(ledger.EventKeyClass, ledger.LotClass(ref("VAI/2+x")))
	if got := seqs(oddClass); !slices.Equal(got, []uint64{odd.Seq}) || !slices.Equal(raw(oddClass), got) {
		t.Errorf("class index of lot VAI/2+x %v, keys %v, want [%d]", got, raw(oddClass), odd.Seq)
	}
}

// TestIndexEventsBackfill: a ledger written before the event indexes gets
// exactly the keys Apply would have written, and a second run is a no-op.
func TestIndexEventsBackfill(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("VAI-3", "100", "KGM"))
	f.move("VAI-3", f.producer, f.distributor)
	f.must(f.inspector, inspectRec("VAI-3", "pass"))
	f.must(f.distributor, epcisRec(t, partnerEvent("VAI-3", "storing")))
	want := map[string]string{}
	old := ledger.NewMemStore()
	f.view(func(r ledger.Reader) error {
		return r.Scan(nil, nil, func(k, v []byte) bool {
			want[string(k)] = string(v)
			return true
		})
	})
	if err := old.Update(func(w ledger.Writer) error {
		for k, v := range want {
			if !strings.HasPrefix(k, "x/q/") && k != "m/events" {
				if err := w.Set([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for run := 0; run < 2; run++ {
		if err := ledger.IndexEvents(old); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		old.View(func(r ledger.Reader) error {
			return r.Scan(nil, nil, func(k, v []byte) bool {
				got[string(k)] = string(v)
				return true
			})
		})
		if len(got) != len(want) {
			t.Errorf("run %d: %d keys after the backfill, want %d", run, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("run %d: key %q = %q, want %q", run, k, got[k], v)
			}
		}
	}
}
