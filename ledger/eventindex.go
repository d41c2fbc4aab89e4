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
//	'a'  every instance identifier: those of 'e', inputEPCList, outputEPCList, parentID (MATCH_anyEPC)
//	'c'  epcClass of every quantity list (MATCH_epcClass, MATCH_anyEPCClass)
//	'b'  bizStep, as a CBV word or the URI (EQ_bizStep)
//	'd'  disposition, likewise (EQ_disposition)
//	'y'  event type (eventType)
//	'i'  eventID: a partner event's id (its eventID or event hash), a
//	     custody record's EventID (GET /epcis/events/{eventID})
//	'l'  bizLocation (EQ_bizLocation)
//
// Identifiers are in their canonical GS1 Digital Link form where they
// have one (epcisevent.CanonicalID). A custody record is indexed under
// its type's bizStep and disposition, its bizLocation, and the epcClass of
// each lot it names; a recall's descendant lots are known only to the
// mapping, so a query filters the mapped events again and uses these
// indexes only to narrow its walk.
//
// The epcClass of a lot whose Digital Link URI is the plain concatenation
// of its GTIN and lot (LotClass; nearly every lot) has no 'c' key for
// custody records: each of them already has a key in the lot index x/l/,
// and ScanEventIndex walks that beside the class's keys. A key is what
// the state machine pays for most, in its transaction and in Badger's
// memtable, and this was one in ten of a harvest's. Ledgers written before
// keep their custody class keys; the walk meets those entries once.
//
// The values most events share are not indexed (EventValueIndexed): the
// bizStep, disposition and type of harvests, transfers, receipts and
// transformations, whoever records them. Those records are most of a
// ledger, so each such value names a fifth to a half of all events, and
// walking its keys narrows a query little over walking the time index and
// filtering; yet their three keys were a fifth of the keys Apply wrote per
// harvest, and every key is paid for again in each compaction. A query on
// such a value walks the time index (api, plan). Ledgers written before
// have keys for these values; nothing reads them, and Audit accepts them.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// EPCISNamespace is the IRI of traceledger's EPCIS extension members
// (the "traceledger:" prefix of api/epcis). It lives under the project's
// own repository path, so it cannot collide with anyone's vocabulary.
const EPCISNamespace = "https://github.com/traceledger/traceledger/ns/epcis/"

// eventNamespace is the UUID name space of the eventIDs of custody
// records' events: the version 5 UUID of EPCISNamespace (RFC 9562 §5.5),
// so that an event's id is a stable function of its entry.
var eventNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte(EPCISNamespace))

// EventID is the eventID of the EPCIS event a custody entry maps to: the
// version 5 UUID URN of its leaf hash in eventNamespace.
func EventID(leaf tlog.Hash) string { return uuid.NewSHA1(eventNamespace, leaf[:]).URN() }

var (
	prefixEventTime = []byte("x/q/t/")
	prefixEventKey  = []byte("x/q/k/")
)

// Event index kinds (see the table above).
const (
	EventKeyEPC         byte = 'e'
	EventKeyAnyEPC      byte = 'a'
	EventKeyClass       byte = 'c'
	EventKeyBizStep     byte = 'b'
	EventKeyDisposition byte = 'd'
	EventKeyType        byte = 'y'
	EventKeyID          byte = 'i'
	EventKeyBizLocation byte = 'l'
)

// commonEventValues are the values of bizStep, disposition and event type
// that get no x/q/k keys (see above): those of the custody records that
// make up most of a ledger. Inspections and recalls, far fewer, keep
// their bizStep and dispositions indexed.
var commonEventValues = map[byte]map[string]bool{
	EventKeyBizStep:     {"commissioning": true, "shipping": true, "receiving": true},
	EventKeyDisposition: {"active": true, "in_transit": true, "in_progress": true},
	EventKeyType:        {"ObjectEvent": true, "TransformationEvent": true},
}

// EventValueIndexed reports whether events are indexed under value of
// kind, so that a walk of EventKeyPrefix(kind, value) meets every event
// carrying it: false for the values most events share.
func EventValueIndexed(kind byte, value string) bool { return !commonEventValues[kind][value] }

// unindexedEventKey reports whether k is an x/q/k key of a value that is
// not indexed: one that older versions wrote and nothing reads.
func unindexedEventKey(k []byte) bool {
	if !bytes.HasPrefix(k, prefixEventKey) || len(k) < len(prefixEventKey)+1+1+8 || k[len(k)-9] != 0 {
		return false
	}
	return !EventValueIndexed(k[len(prefixEventKey)], string(k[len(prefixEventKey)+1:len(k)-9]))
}

// olderClassKey reports whether k is a class key that older versions
// wrote for a custody record naming a plain lot (see above), as replay
// (the ledger replayed from its entries) confirms: the entry at its seq
// is a custody record, and the lot index lists it under that lot.
func olderClassKey(replay Reader, k []byte) bool {
	if len(k) < len(prefixEventKey)+1+9 {
		return false
	}
	l, ok := classLot(k[:len(k)-8])
	if !ok {
		return false
	}
	seq := binary.BigEndian.Uint64(k[len(k)-8:])
	if _, ok, err := replay.Get(cat(lotIndexPrefix(l), u64(seq))); err != nil || !ok {
		return false
	}
	e, _, err := GetEntry(replay, seq)
	return err == nil && e.Type != TypeEpcis
}

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

// indexEvent writes the query indexes of the entry at seq, whose leaf
// hash is leaf; records that are not events (participants) get none.
func indexEvent(w Writer, seq uint64, leaf tlog.Hash, rec *Record) error {
	var t time.Time
	// One slot per kind, in a fixed order: the keys written do not depend
	// on it, but nothing is allocated for the kinds a record lacks.
	var keys [8]struct {
		kind   byte
		one    string   // a single value ("": none), when values is nil
		values []string // several
	}
	n := 0
	add := func(kind byte, one string, values []string) {
		keys[n].kind, keys[n].one, keys[n].values = kind, one, values
		n++
	}
	if rec.Epcis != nil {
		s := rec.Epcis.summary
		t = s.EventTime
		add(EventKeyEPC, "", s.EPCs)
		add(EventKeyAnyEPC, "", s.AnyEPCs)
		add(EventKeyClass, "", s.Classes)
		add(EventKeyBizStep, s.BizStep, nil)
		add(EventKeyDisposition, s.Disposition, nil)
		add(EventKeyType, s.Type, nil)
		add(EventKeyID, rec.ID, nil) // the eventID, or the event hash
		add(EventKeyBizLocation, s.BizLocation, nil)
	} else {
		m, ok := custodyEvents[rec.Type]
		if !ok {
			return nil
		}
		var err error
		if t, err = rec.parsedTime(); err != nil {
			return errCorrupt("record %s: %v", rec.ID, err)
		}
		disp := m.disp
		if rec.Inspect != nil {
			disp = "conformant"
			if rec.Inspect.Result != "pass" {
				disp = "non_conformant"
			}
		}
		add(EventKeyBizStep, m.step, nil)
		add(EventKeyDisposition, disp, nil)
		add(EventKeyBizLocation, custodyBizLocation(rec), nil)
		add(EventKeyType, m.typ, nil)
		add(EventKeyID, EventID(leaf), nil)
		var classes []string
		for _, l := range rec.Lots() {
			if !plainLot(l) { // a plain lot's class is walked in x/l/ (classLot)
				classes = append(classes, LotClass(l))
			}
		}
		add(EventKeyClass, "", classes)
	}
	if err := w.Set(cat(prefixEventTime, EventTimeKey(t), u64(seq)), nil); err != nil {
		return err
	}
	set := func(kind byte, v string) error {
		if !EventValueIndexed(kind, v) {
			return nil
		}
		return w.Set(cat(EventKeyPrefix(kind, v), u64(seq)), nil)
	}
	for _, k := range keys[:n] {
		if k.values == nil && k.one != "" { // a record without the member
			if err := set(k.kind, k.one); err != nil {
				return err
			}
		}
		for _, v := range k.values {
			if err := set(k.kind, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// custodyBizLocation is the bizLocation the export gives a custody
// record (api/epcis, setPlace): the place where the lot stays after a
// harvest, a receive or a transform, by its GLN
// or else its geo: URI (Place.LocationURI); "" for other records and
// places without either.
func custodyBizLocation(rec *Record) string {
	var p *Place
	switch {
	case rec.Harvest != nil:
		p = &rec.Harvest.Place
	case rec.Receive != nil:
		p = rec.Receive.Place
	case rec.Transform != nil:
		p = rec.Transform.Place
	}
	if p != nil && p.FacilityGLN != "" {
		return epcisevent.CanonicalID(p.LocationURI())
	}
	return p.LocationURI()
}

// LotClass is a lot's EPC class as the indexes and the export write it:
// its canonical GS1 Digital Link URI https://id.gs1.org/01/{gtin}/10/{lot}.
// A 14-digit GTIN and a lot of letters, digits, '-', '.' and '_' (what
// producers write, and URI-unreserved) are already canonical, and skip
// the Digital Link parser, which costs 3 % of a node's CPU under ingest
// (TestLotClassPlain checks the shortcut against it).
func LotClass(l LotRef) string {
	uri := "https://id.gs1.org/01/" + l.GTIN + "/10/" + l.Lot
	if plainLot(l) {
		return uri
	}
	return epcisevent.CanonicalID(uri)
}

// plainLot: the lot's Digital Link URI is canonical as written.
func plainLot(l LotRef) bool {
	if len(l.GTIN) != 14 || !allDigits(l.GTIN) || l.Lot == "" || len(l.Lot) > 20 {
		return false
	}
	for i := 0; i < len(l.Lot); i++ {
		switch c := l.Lot[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// ScanEventIndex calls fn for every entry under an event index prefix
// (EventTimePrefix or EventKeyPrefix), in key order, from the key from
// (nil: from the start; else it must lie under prefix, or the error is
// ErrInvalidField: a position in another index); fn gets the entry's seq
// and its key. fn returns false to stop.
//
// The class of a plain lot (classLot) has keys for partner events only:
// custody records naming the lot are found in the lot index, x/l/, which
// every entry naming a lot has anyway. The walk merges the two in seq
// order, once per entry (ledgers written before have class keys for
// custody records too), and hands fn every entry under the key it would
// have under prefix, so that a key fn gets stays a position of the walk.
func ScanEventIndex(r Reader, prefix, from []byte, fn func(seq uint64, key []byte) bool) error {
	if from != nil && !bytes.HasPrefix(from, prefix) {
		return ErrInvalidField.Detail("the page token is not a position of this query")
	}
	if lot, ok := classLot(prefix); ok {
		return scanMerged(r, prefix, lotIndexPrefix(lot), seqFrom(from, len(prefix)), fn)
	}
	return r.Scan(prefix, from, func(k, _ []byte) bool {
		if len(k) < len(prefix)+8 {
			return true
		}
		return fn(binary.BigEndian.Uint64(k[len(k)-8:]), k)
	})
}

// classLot returns the lot whose class a class index prefix names, when
// that lot is plain: its class is then exactly LotClass's concatenation,
// and custody records naming it have no class keys (indexEvent).
func classLot(prefix []byte) (LotRef, bool) {
	head := EventKeyPrefix(EventKeyClass, "https://id.gs1.org/01/")
	head = head[:len(head)-1]
	if !bytes.HasPrefix(prefix, head) || prefix[len(prefix)-1] != 0 {
		return LotRef{}, false
	}
	gtin, lot, ok := strings.Cut(string(prefix[len(head):len(prefix)-1]), "/10/")
	l := LotRef{GTIN: gtin, Lot: lot}
	if !ok || !plainLot(l) {
		return LotRef{}, false
	}
	return l, true
}

// seqFrom is the first seq whose key under a prefix of n bytes is at or
// after the position from (nil: 0).
func seqFrom(from []byte, n int) uint64 {
	if from == nil {
		return 0
	}
	var b [8]byte
	sfx := from[n:]
	copy(b[:], sfx)
	s := binary.BigEndian.Uint64(b[:])
	if len(sfx) > 8 {
		s++ // after the key at s: the page token's "the key after"
		if s == 0 {
			return math.MaxUint64 // no seq is after the last one
		}
	}
	return s
}

// mergeChunk is how many seqs scanMerged reads from each index at a time.
const mergeChunk = 256

// scanMerged calls fn, in seq order and once per seq, for the seqs from
// start on under either of two seq indexes (prefix, then seq:8), with the
// key the seq has, or would have, under a.
func scanMerged(r Reader, a, b []byte, start uint64, fn func(seq uint64, key []byte) bool) error {
	for {
		sa, err := scanSeqsFrom(r, a, start, mergeChunk)
		if err != nil {
			return err
		}
		sb, err := scanSeqsFrom(r, b, start, mergeChunk)
		if err != nil {
			return err
		}
		// Every seq up to the last of a full chunk has been read from
		// both indexes; beyond it, the next round reads again.
		limit, more := uint64(math.MaxUint64), false
		for _, s := range [][]uint64{sa, sb} {
			if len(s) == mergeChunk && s[len(s)-1] < limit {
				limit, more = s[len(s)-1], true
			}
		}
		for i, j := 0, 0; i < len(sa) || j < len(sb); {
			var s uint64
			switch {
			case j >= len(sb) || (i < len(sa) && sa[i] < sb[j]):
				s = sa[i]
				i++
			case i >= len(sa) || sb[j] < sa[i]:
				s = sb[j]
				j++
			default:
				s = sa[i]
				i++
				j++
			}
			if s > limit {
				break
			}
			if !fn(s, cat(a, u64(s))) {
				return nil
			}
		}
		if !more {
			return nil
		}
		start = limit + 1
	}
}

// eventIndexVersion is the value of m/events: the layout of the event
// indexes that every entry has.
var eventIndexVersion = []byte{1}

// indexChunk is how many entries IndexEvents indexes per transaction.
const indexChunk = 5_000

// IndexEvents writes the event indexes of every entry of a ledger written
// before they existed (m/events absent), as Apply would have, and then
// m/events; a ledger that has them is left alone. It runs when a node
// opens its store, before the state machine applies anything, so no entry
// is appended meanwhile. The writes are idempotent: a node stopped half
// way starts over on its next start.
func IndexEvents(st Store) error {
	var size uint64
	done := false
	if err := st.View(func(r Reader) error {
		_, ok, err := r.Get(keyEventIndex)
		done = ok
		if err == nil && !ok {
			size, err = Size(r)
		}
		return err
	}); err != nil || done {
		return err
	}
	err := backfill(st, 0, size, indexChunk, func(w Writer, seq uint64, data []byte, rec *Record, err error) error {
		if err != nil {
			return errCorrupt("entry %d: %v", seq, err)
		}
		return indexEvent(w, seq, LeafHash(data), rec)
	}, nil)
	if err != nil {
		return fmt.Errorf("index events: %w", err)
	}
	return st.Update(func(w Writer) error { return w.Set(keyEventIndex, eventIndexVersion) })
}
