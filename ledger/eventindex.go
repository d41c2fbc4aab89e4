package ledger

// Event indexes for the EPCIS 2.0 query interface (api, GET /epcis/…).
// Every entry that is an event — a custody record, mapped as the EPCIS
// export maps it (api/epcis), or a partner's `epcis` record — is indexed
// by Apply, so every replica has the indexes and Audit rebuilds them by
// replay:
//
//	x/q/t/<event time:8><seq:8>          empty: every event, by event time
//	x/q/k/<kind:1><value>\0<seq:8>       empty: every event, by a field's value
//
// The event time is Unix milliseconds with the sign bit flipped, so that
// keys sort in time order across 1970. The kinds of x/q/k:
//
//	'e'  epc: epcList and childEPCs (MATCH_epc)
//	'a'  other instance identifiers: inputEPCList, outputEPCList, parentID (with 'e': MATCH_anyEPC)
//	'c'  epcClass of every quantity list (MATCH_epcClass, MATCH_anyEPCClass)
//	'b'  bizStep, as a CBV word or the URI (EQ_bizStep)
//	'd'  disposition, likewise (EQ_disposition)
//	'y'  event type (eventType)
//	'i'  eventID of a partner event (GET /epcis/events/{eventID})
//	'l'  bizLocation of a partner event (EQ_bizLocation)
//
// Identifiers are in their canonical GS1 Digital Link form where they
// have one (epcisevent.CanonicalID). A custody record is indexed under
// its type's bizStep and disposition, and under the epcClass of each lot
// it names; its bizLocation, a recall's descendant lots and a receive's
// source are known only to the mapping, so a query filters the mapped
// events again and uses these indexes only to narrow its scan.

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/traceledger/traceledger/ledger/epcisevent"
)

var (
	prefixEventTime = []byte("x/q/t/")
	prefixEventKey  = []byte("x/q/k/")
)

// Event index kinds (see the table above).
const (
	EventKeyEPC         byte = 'e'
	EventKeyOtherEPC    byte = 'a'
	EventKeyClass       byte = 'c'
	EventKeyBizStep     byte = 'b'
	EventKeyDisposition byte = 'd'
	EventKeyType        byte = 'y'
	EventKeyID          byte = 'i'
	EventKeyBizLocation byte = 'l'
)

// custodyEvents gives the EPCIS event type, bizStep and disposition of
// each custody record type, as the export maps them (DESIGN §4
// "Standards"; api/epcis). An inspection's disposition depends on its
// result and a recall has no CBV bizStep.
var custodyEvents = map[string]struct{ typ, step, disp string }{
	TypeHarvest:   {"ObjectEvent", "commissioning", "active"},
	TypeTransfer:  {"ObjectEvent", "shipping", "in_transit"},
	TypeReceive:   {"ObjectEvent", "receiving", "in_progress"},
	TypeTransform: {"TransformationEvent", "commissioning", "active"},
	TypeInspect:   {"ObjectEvent", "inspecting", ""},
	TypeRecall:    {"ObjectEvent", "", "recalled"},
}

// EventTimeKey is the x/q/t key part of a time.
func EventTimeKey(t time.Time) []byte { return u64(uint64(t.UnixMilli()) ^ 1<<63) }

// EventKeyPrefix is the prefix of the x/q/k keys of one value of a kind.
func EventKeyPrefix(kind byte, value string) []byte {
	return cat(prefixEventKey, []byte{kind}, []byte(value), []byte{0})
}

// EventTimePrefix is the prefix of the event time index.
func EventTimePrefix() []byte { return prefixEventTime }

// indexEvent writes the query indexes of the entry at seq; records that
// are not events (participants) get none.
func indexEvent(w Writer, seq uint64, rec *Record) error {
	var t time.Time
	keys := map[byte][]string{}
	if rec.Epcis != nil {
		s := rec.Epcis.summary
		t = s.EventTime
		keys[EventKeyEPC] = s.EPCs
		for _, id := range s.AnyEPCs {
			if !contains(s.EPCs, id) {
				keys[EventKeyOtherEPC] = append(keys[EventKeyOtherEPC], id)
			}
		}
		keys[EventKeyClass] = s.Classes
		keys[EventKeyBizStep] = nonEmpty(s.BizStep)
		keys[EventKeyDisposition] = nonEmpty(s.Disposition)
		keys[EventKeyType] = []string{s.Type}
		keys[EventKeyID] = nonEmpty(s.EventID)
		keys[EventKeyBizLocation] = nonEmpty(s.BizLocation)
	} else {
		m, ok := custodyEvents[rec.Type]
		if !ok {
			return nil
		}
		var err error
		if t, err = ParseTime(rec.Time); err != nil {
			return errCorrupt("record %s: %v", rec.ID, err)
		}
		disp := m.disp
		if rec.Inspect != nil {
			disp = "conformant"
			if rec.Inspect.Result != "pass" {
				disp = "non_conformant"
			}
		}
		keys[EventKeyBizStep] = nonEmpty(m.step)
		keys[EventKeyDisposition] = nonEmpty(disp)
		keys[EventKeyType] = []string{m.typ}
		for _, l := range rec.Lots() {
			keys[EventKeyClass] = append(keys[EventKeyClass], LotClass(l))
		}
	}
	if err := w.Set(cat(prefixEventTime, EventTimeKey(t), u64(seq)), nil); err != nil {
		return err
	}
	for kind, values := range keys {
		for _, v := range values {
			if err := w.Set(cat(EventKeyPrefix(kind, v), u64(seq)), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// LotClass is a lot's EPC class as the indexes and the export write it:
// its canonical GS1 Digital Link URI https://id.gs1.org/01/{gtin}/10/{lot}.
func LotClass(l LotRef) string {
	return epcisevent.CanonicalID("https://id.gs1.org/01/" + l.GTIN + "/10/" + l.Lot)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ScanEventIndex calls fn for every entry under an event index prefix
// (EventTimePrefix or EventKeyPrefix), in key order, from the key after
// after (nil: from the start); fn gets the entry's seq and the key, which
// is the position to resume after. fn returns false to stop.
func ScanEventIndex(r Reader, prefix, after []byte, fn func(seq uint64, key []byte) bool) error {
	var start []byte
	if after != nil {
		if !bytes.HasPrefix(after, prefix) {
			return ErrInvalidField.Detail("page token is not a position in this index")
		}
		start = append(bytes.Clone(after), 0)
	}
	return r.Scan(prefix, start, func(k, _ []byte) bool {
		if len(k) < len(prefix)+8 {
			return true
		}
		return fn(binary.BigEndian.Uint64(k[len(k)-8:]), k)
	})
}
