package epcis

import (
	"fmt"
	"time"

	"github.com/traceledger/traceledger/api/digitallink"
	"github.com/traceledger/traceledger/ledger"
)

// CBV 2.0 business steps, dispositions and source/destination types (GS1
// Core Business Vocabulary 2.0), as the bare words the EPCIS 2.0 JSON-LD
// context expands and the EPCIS 2.0 JSON Schema lists.
const (
	actionAdd     = "ADD"
	actionObserve = "OBSERVE"

	stepCommissioning = "commissioning"
	stepShipping      = "shipping"
	stepReceiving     = "receiving"
	stepInspecting    = "inspecting"

	dispActive        = "active"
	dispInTransit     = "in_transit"
	dispInProgress    = "in_progress"
	dispConformant    = "conformant"
	dispNonConformant = "non_conformant"
	dispRecalled      = "recalled"

	owningParty = "owning_party"
)

// mapper carries what one event needs from the events before it.
type mapper struct {
	parties  Parties
	partyIDs map[string]string // address → identifier, looked up once
	// sentBy is each lot's sender in its latest transfer: the source of
	// the receive that follows.
	sentBy map[ledger.LotRef]string
	// children are the lots made from each lot by the transforms so far:
	// a recall covers them too (DESIGN §3.3).
	children map[ledger.LotRef][]ledger.LotRef
}

// event maps one entry; ok is false for entries that are not events
// (genesis, participant).
func (m *mapper) event(e *ledger.Entry) (Event, bool, error) {
	if e.Type == ledger.TypeGenesis || e.Type == ledger.TypeParticipant {
		return Event{}, false, nil
	}
	rec, err := ledger.DecodeRecord(e.Record)
	if err != nil {
		return Event{}, false, fmt.Errorf("decode record: %w", err)
	}
	ev, err := m.common(e, rec)
	if err != nil {
		return Event{}, false, err
	}
	switch {
	case rec.Harvest != nil:
		m.harvest(&ev, rec.Harvest)
	case rec.Transfer != nil:
		err = m.transfer(&ev, rec.Transfer)
	case rec.Receive != nil:
		err = m.receive(&ev, rec.Receive)
	case rec.Transform != nil:
		m.transform(&ev, rec.Transform)
	case rec.Inspect != nil:
		m.inspect(&ev, rec.Inspect)
	case rec.Recall != nil:
		m.recall(&ev, rec.Recall)
	case rec.Epcis != nil:
		ev.Partner = rec.Epcis.Event
	default:
		return Event{}, false, fmt.Errorf("record type %q has no EPCIS mapping", rec.Type)
	}
	return ev, true, err
}

// common fills what every event has: its times, its ID and the link to
// the ledger entry.
func (m *mapper) common(e *ledger.Entry, rec *ledger.Record) (Event, error) {
	data, err := ledger.MarshalEntry(e)
	if err != nil {
		return Event{}, fmt.Errorf("entry bytes: %w", err)
	}
	leaf := ledger.LeafHash(data)
	t, err := ledger.ParseTime(rec.Time)
	if err != nil {
		return Event{}, fmt.Errorf("time: %w", err)
	}
	offset, err := zoneOffset(t)
	if err != nil {
		return Event{}, err
	}
	return Event{
		// The record's time exactly as signed: an RFC 3339 date-time
		// with the offset of where it happened.
		EventTime:           rec.Time,
		EventTimeZoneOffset: offset,
		RecordTime:          e.RecordTime,
		EventID:             ledger.EventID(leaf),
		Seq:                 e.Seq,
		EntryHash:           ledger.HashHex(leaf),
		Signer:              e.Signer,
		Signature:           e.Signature,
		RecordID:            rec.ID,
	}, nil
}

// eventID derives the event's ID from the entry's RFC 6962 leaf hash: a
// name-based (SHA-1, version 5) UUID of RFC 9562, in the namespace named by
// the traceledger extension IRI, written as a urn:uuid URI (EPCIS 2.0
// allows any URI for eventID; a UUID URN is the usual one).
//
// It is deterministic, so exporting a lot twice gives the same eventIDs and
// an EPCIS repository that captures both keeps one copy of each event. The
// CBV 2.0 event hash ID, ni:///sha-256;…?ver=CBV2.0, is not used: it
// promises the hash of the event's own canonical pre-hash string, which a
// consumer may recompute from the EPCIS fields, and the leaf hash is of the
// ledger entry instead. The leaf hash itself is in
// traceledger:entryHash, where a verifier checks it against the log.
// zoneOffset writes t's UTC offset as EPCIS eventTimeZoneOffset wants it:
// ±hh:mm, within ±14:00.
func zoneOffset(t time.Time) (string, error) {
	_, secs := t.Zone()
	sign := '+'
	if secs < 0 {
		sign, secs = '-', -secs
	}
	if secs > 14*3600 {
		return "", fmt.Errorf("time %s: offset outside the range EPCIS allows", t.Format(time.RFC3339))
	}
	return fmt.Sprintf("%c%02d:%02d", sign, secs/3600, secs/60%60), nil
}

// epcClass is a lot's class-level identifier: its GS1 Digital Link URI
// on the canonical domain, https://id.gs1.org/01/{gtin}/10/{lot}.
func epcClass(l ledger.LotRef) string { return digitallink.Format(DigitalLinkBase, l.GTIN, l.Lot, "") }

func quantity(l ledger.LotRef, q *ledger.Quantity) QuantityElement {
	el := QuantityElement{EPCClass: epcClass(l)}
	if q != nil && q.Amount != "" {
		el.Quantity, el.UOM = q.Amount, q.Unit
	}
	return el
}

// partyID names a participant in a sourceList or destinationList. A
// participant registered with a GLN is its GS1 party GLN as a Digital Link
// URI (AI 417), the EPCIS 2.0 equivalent of urn:epc:id:pgln, which could
// only be written knowing the length of the GS1 company prefix inside the
// GLN, which the ledger does not record. Otherwise it is the participant's
// ledger identity, its Ethereum address, as a did:pkh DID (W3C CCG did:pkh,
// CAIP-10 account "eip155:1:<address>"): the key behind it signs every
// record the participant made. Chain 1 is the conventional CAIP-10 choice
// for a key that signs off-chain messages (EIP-191), as Sign-In with
// Ethereum uses it; nothing is on chain.
func (m *mapper) partyID(addr string) (string, error) {
	if id, ok := m.partyIDs[addr]; ok {
		return id, nil
	}
	a, err := ledger.ParseAddress(addr)
	if err != nil {
		return "", fmt.Errorf("participant %q: %w", addr, err)
	}
	id := "did:pkh:eip155:1:" + a.Hex()
	if m.parties != nil {
		p, err := m.parties(a.Hex())
		if err != nil {
			return "", fmt.Errorf("participant %s: %w", a.Hex(), err)
		}
		if p != nil && p.GLN != "" {
			id = DigitalLinkBase + "/417/" + p.GLN
		}
	}
	m.partyIDs[addr] = id
	return id, nil
}

// owners sets the owning_party source and destination of a hand-over.
func (m *mapper) owners(ev *Event, from, to string) error {
	if from != "" {
		id, err := m.partyID(from)
		if err != nil {
			return err
		}
		ev.SourceList = []Source{{Type: owningParty, Source: id}}
	}
	id, err := m.partyID(to)
	if err != nil {
		return err
	}
	ev.DestinationList = []Destination{{Type: owningParty, Destination: id}}
	return nil
}

// location identifies a place for readPoint and bizLocation
// (ledger.Place.LocationURI), or nothing: a place known only by its name
// is in traceledger:place.
func location(p *ledger.Place) *Location {
	if id := p.LocationURI(); id != "" {
		return &Location{ID: id}
	}
	return nil
}

// setPlace sets readPoint (where the event was seen), the place in words,
// and, when the objects stay there after the event, bizLocation.
func setPlace(ev *Event, p *ledger.Place, stays bool) {
	if p == nil {
		return
	}
	ev.ReadPoint = location(p)
	if stays {
		ev.BizLocation = ev.ReadPoint
	}
	ev.Place = &Place{Name: p.Name, Province: p.Province, Address: p.Address, Country: p.Country,
		GrowingAreaCode: p.GrowingAreaCode, GLN: p.FacilityGLN, Geo: p.Geo}
}

func product(p ledger.Product, class string) Product {
	return Product{EPCClass: class, Name: p.Name, NameEN: p.NameEN, Variety: p.Variety,
		Grade: p.Grade, Description: p.Description, Image: p.Image}
}

func certificate(c *ledger.Certificate) *Certificate {
	if c == nil {
		return nil
	}
	return &Certificate{Scheme: c.Scheme, Number: c.Number, Issuer: c.Issuer, Stars: c.Stars,
		ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil}
}

// harvest: the lot comes into being (ObjectEvent ADD, commissioning).
func (m *mapper) harvest(ev *Event, h *ledger.Harvest) {
	ev.Type, ev.Action = "ObjectEvent", actionAdd
	ev.BizStep, ev.Disposition = stepCommissioning, dispActive
	ev.QuantityList = []QuantityElement{quantity(h.Lot, &h.Quantity)}
	p := product(h.Product, "")
	ev.ILMD = &ILMD{Product: &p}
	for i := range h.Certificates {
		ev.ILMD.Certificates = append(ev.ILMD.Certificates, *certificate(&h.Certificates[i]))
	}
	setPlace(ev, &h.Place, true)
}

// transfer: the holder ships the lot to its next owner.
func (m *mapper) transfer(ev *Event, t *ledger.Transfer) error {
	ev.Type, ev.Action = "ObjectEvent", actionObserve
	ev.BizStep, ev.Disposition = stepShipping, dispInTransit
	ev.QuantityList = []QuantityElement{quantity(t.Lot, nil)}
	setPlace(ev, t.Place, false)
	m.sentBy[t.Lot] = t.Signer
	return m.owners(ev, t.Signer, t.To)
}

// receive: the named recipient takes the lot from its sender.
func (m *mapper) receive(ev *Event, r *ledger.Receive) error {
	ev.Type, ev.Action = "ObjectEvent", actionObserve
	ev.BizStep, ev.Disposition = stepReceiving, dispInProgress
	ev.QuantityList = []QuantityElement{quantity(r.Lot, nil)}
	setPlace(ev, r.Place, true)
	return m.owners(ev, m.sentBy[r.Lot], r.Signer)
}

// transform: input lots (or part of them) become new lots.
func (m *mapper) transform(ev *Event, t *ledger.Transform) {
	ev.Type = "TransformationEvent"
	ev.BizStep, ev.Disposition = stepCommissioning, dispActive
	ev.ILMD = &ILMD{}
	for i := range t.Inputs {
		ev.InputQuantityList = append(ev.InputQuantityList, quantity(t.Inputs[i].Lot, &t.Inputs[i].Quantity))
	}
	for i := range t.Outputs {
		o := &t.Outputs[i]
		ev.OutputQuantityList = append(ev.OutputQuantityList, quantity(o.Lot, &o.Quantity))
		ev.ILMD.Products = append(ev.ILMD.Products, product(o.Product, epcClass(o.Lot)))
		for _, in := range t.Inputs {
			m.children[in.Lot] = append(m.children[in.Lot], o.Lot)
		}
	}
	ev.Process = t.Process
	setPlace(ev, t.Place, true)
}

// inspect: an inspector observes the lot; CBV 2.0's conformant and
// non_conformant dispositions carry the outcome, the extension the details.
func (m *mapper) inspect(ev *Event, in *ledger.Inspect) {
	ev.Type, ev.Action = "ObjectEvent", actionObserve
	ev.BizStep, ev.Disposition = stepInspecting, dispConformant
	if in.Result != "pass" {
		ev.Disposition = dispNonConformant
	}
	ev.QuantityList = []QuantityElement{quantity(in.Lot, nil)}
	ev.Inspection = &Inspection{Result: in.Result, Note: in.Note, Certificate: certificate(in.Certificate)}
	setPlace(ev, in.Place, false)
}

// recall: the lot and every lot made from it are recalled. CBV 2.0 has no
// recall business step, so bizStep is left out; the disposition recalled
// is set persistently, as the ledger keeps a recalled lot recalled.
func (m *mapper) recall(ev *Event, r *ledger.Recall) {
	ev.Type, ev.Action = "ObjectEvent", actionObserve
	ev.Disposition = dispRecalled
	ev.PersistentDisposition = &PersistentDisposition{Set: []string{dispRecalled}}
	seen := map[ledger.LotRef]bool{}
	queue := []ledger.LotRef{r.Lot}
	for len(queue) > 0 {
		l := queue[0]
		queue = queue[1:]
		if seen[l] {
			continue
		}
		seen[l] = true
		ev.QuantityList = append(ev.QuantityList, quantity(l, nil))
		queue = append(queue, m.children[l]...)
	}
	ev.Recall = &Recall{Reason: r.Reason, Origin: epcClass(r.Lot)}
}
