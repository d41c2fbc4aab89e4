// Package epcis writes a lot's ledger history as a GS1 EPCIS 2.0 document:
// the JSON/JSON-LD binding of the GS1 EPCIS 2.0 standard, as the
// EPCIS-JSON-Schema and the epcis-context.jsonld of the GS1 EPCIS
// repository define it, with the business vocabulary of the GS1 Core
// Business Vocabulary (CBV) 2.0.
//
// The mapping (DESIGN §4 "Standards"), one event per ledger entry:
//
//	harvest    ObjectEvent ADD      bizStep commissioning  disposition active
//	transfer   ObjectEvent OBSERVE  bizStep shipping       disposition in_transit   source/destination owning_party
//	receive    ObjectEvent OBSERVE  bizStep receiving      disposition in_progress  source/destination owning_party
//	transform  TransformationEvent  bizStep commissioning  disposition active       input/outputQuantityList
//	inspect    ObjectEvent OBSERVE  bizStep inspecting     disposition conformant | non_conformant
//	recall     ObjectEvent OBSERVE  (no CBV bizStep)       disposition recalled, persistentDisposition set recalled
//
// Participant and genesis entries are master data, not events, and are
// left out.
//
// Lots are identified at class level, in quantityLists, by their GS1
// Digital Link URI https://id.gs1.org/01/{gtin}/10/{lot}, with the amount
// and its UN/ECE Recommendation 20 unit where the record states one.
// bizStep and disposition are the bare CBV 2.0 words that the JSON-LD
// context maps to CBV URIs (the schema refuses urn:epcglobal:cbv URIs
// there: those are for the XML binding).
//
// Everything the ledger knows and EPCIS has no field for is written as
// EPCIS 2.0 user extensions, "traceledger:" compact IRIs whose prefix the
// document's @context declares: on every event the entry's seq, leaf
// hash, signer and record id, which tie it back to the signed,
// Merkle-logged entry (GET /v1/entries/{seq}, /v1/proofs/inclusion/{seq});
// the product, certificates, place names, inspection results and recall
// reasons.
// Free-form record "attributes" are not exported: fetch the entry for them.
//
// The package is pure: no HTTP, no storage, no clock.
package epcis

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

// Identifiers of the EPCIS 2.0 JSON-LD binding.
const (
	// ContextURL is the normative EPCIS 2.0 JSON-LD context.
	ContextURL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
	// SchemaVersion is the EPCIS version of the documents written here.
	SchemaVersion = "2.0"
	// MediaType is the media type of an EPCIS 2.0 JSON-LD document.
	MediaType = "application/ld+json"
	// Prefix is the compact-IRI prefix of traceledger's extensions.
	Prefix = "traceledger"
	// Namespace is the IRI Prefix stands for. It lives under the project's
	// own repository path, which the project controls, so that it cannot
	// collide with anyone else's vocabulary; it need not resolve.
	Namespace = ledger.EPCISNamespace
	// DigitalLinkBase is the canonical GS1 Digital Link domain EPCIS 2.0
	// uses for identifiers (GS1 Digital Link Standard: URI Syntax 1.2).
	DigitalLinkBase = "https://id.gs1.org"
)

// Document is an EPCIS 2.0 EPCISDocument.
type Document struct {
	Context       []any  `json:"@context"`
	Type          string `json:"type"`
	SchemaVersion string `json:"schemaVersion"`
	CreationDate  string `json:"creationDate"`
	Body          Body   `json:"epcisBody"`
}

// Body is a document's epcisBody.
type Body struct {
	EventList []Event `json:"eventList"`
}

// Event is an EPCIS 2.0 ObjectEvent or TransformationEvent; the fields one
// type does not have stay empty and are omitted.
type Event struct {
	Type                string `json:"type"`
	EventTime           string `json:"eventTime"`
	EventTimeZoneOffset string `json:"eventTimeZoneOffset"`
	RecordTime          string `json:"recordTime,omitempty"`
	EventID             string `json:"eventID"`

	Action                string                 `json:"action,omitempty"` // ObjectEvent only
	QuantityList          []QuantityElement      `json:"quantityList,omitempty"`
	InputQuantityList     []QuantityElement      `json:"inputQuantityList,omitempty"`
	OutputQuantityList    []QuantityElement      `json:"outputQuantityList,omitempty"`
	BizStep               string                 `json:"bizStep,omitempty"`
	Disposition           string                 `json:"disposition,omitempty"`
	PersistentDisposition *PersistentDisposition `json:"persistentDisposition,omitempty"`
	ReadPoint             *Location              `json:"readPoint,omitempty"`
	BizLocation           *Location              `json:"bizLocation,omitempty"`
	SourceList            []Source               `json:"sourceList,omitempty"`
	DestinationList       []Destination          `json:"destinationList,omitempty"`
	ILMD                  *ILMD                  `json:"ilmd,omitempty"`

	// Extensions: the ledger entry behind the event, then what the record
	// says beyond EPCIS.
	Seq        uint64      `json:"traceledger:seq"`
	EntryHash  string      `json:"traceledger:entryHash"`
	Signer     string      `json:"traceledger:signer,omitempty"`
	Signature  string      `json:"traceledger:signature,omitempty"`
	RecordID   string      `json:"traceledger:recordID,omitempty"`
	Place      *Place      `json:"traceledger:place,omitempty"`
	Process    string      `json:"traceledger:process,omitempty"`
	Inspection *Inspection `json:"traceledger:inspection,omitempty"`
	Recall     *Recall     `json:"traceledger:recall,omitempty"`

	// Partner is the event of a partner's `epcis` record as its signer
	// wrote it; when set, the event is written as Partner with the
	// extension members of the entry (seq, entry hash, signer, signature,
	// record id) added, and an eventID when it has none: its id on the
	// ledger, the GS1 canonical event hash (EPCIS 2.0 §8.9, as the capture
	// binding asks a server to populate a missing eventID).
	Partner json.RawMessage `json:"-"`
}

// MarshalJSON writes a mapped event, or a partner's event with the
// entry's extension members.
func (ev Event) MarshalJSON() ([]byte, error) {
	type plain Event
	if ev.Partner == nil {
		return json.Marshal(plain(ev))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(ev.Partner, &m); err != nil {
		return nil, fmt.Errorf("partner event of entry %d: %w", ev.Seq, err)
	}
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		m[k] = b
		return err
	}
	if _, ok := m["eventID"]; !ok {
		if err := set("eventID", ev.RecordID); err != nil {
			return nil, err
		}
	}
	for _, kv := range []struct {
		k string
		v any
	}{{Prefix + ":seq", ev.Seq}, {Prefix + ":entryHash", ev.EntryHash}, {Prefix + ":signer", ev.Signer},
		{Prefix + ":signature", ev.Signature}, {Prefix + ":recordID", ev.RecordID}} {
		if err := set(kv.k, kv.v); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}

// QuantityElement is a quantity of a class of objects, here a lot
// (EPCIS 2.0 QuantityElement). Quantity keeps the ledger's exact decimal; both it
// and UOM (a UN/ECE Recommendation 20 code) are omitted when the record
// states no amount.
type QuantityElement struct {
	EPCClass string      `json:"epcClass"`
	Quantity json.Number `json:"quantity,omitempty"`
	UOM      string      `json:"uom,omitempty"`
}

// Location is an EPCIS 2.0 readPoint or bizLocation.
type Location struct {
	ID string `json:"id"`
}

// Source is an element of an EPCIS 2.0 sourceList.
type Source struct {
	Type   string `json:"type"`
	Source string `json:"source"`
}

// Destination is an element of an EPCIS 2.0 destinationList.
type Destination struct {
	Type        string `json:"type"`
	Destination string `json:"destination"`
}

// PersistentDisposition is a disposition that holds beyond the event
// until a later event unsets it (EPCIS 2.0 persistentDisposition).
type PersistentDisposition struct {
	Set []string `json:"set,omitempty"`
}

// ILMD is the instance/lot master data of an event that creates lots
// (EPCIS ILMD): what the product is, and its certificates.
type ILMD struct {
	Product      *Product      `json:"traceledger:product,omitempty"`
	Products     []Product     `json:"traceledger:products,omitempty"`
	Certificates []Certificate `json:"traceledger:certificates,omitempty"`
}

// Product describes a lot (ledger.Product); EPCClass names the lot when
// one event creates several.
type Product struct {
	EPCClass    string `json:"traceledger:epcClass,omitempty"`
	Name        string `json:"traceledger:name"`
	NameEN      string `json:"traceledger:nameEN,omitempty"`
	Variety     string `json:"traceledger:variety,omitempty"`
	Grade       string `json:"traceledger:grade,omitempty"`
	Description string `json:"traceledger:description,omitempty"`
	Image       string `json:"traceledger:image,omitempty"`
}

// Certificate is a certification (ledger.Certificate): VietGAP, OCOP, …
type Certificate struct {
	Scheme     string `json:"traceledger:scheme"`
	Number     string `json:"traceledger:number,omitempty"`
	Issuer     string `json:"traceledger:issuer,omitempty"`
	Stars      int    `json:"traceledger:stars,omitempty"`
	ValidFrom  string `json:"traceledger:validFrom,omitempty"`
	ValidUntil string `json:"traceledger:validUntil,omitempty"`
}

// Place is where the record says the event happened (ledger.Place), in
// words; readPoint and bizLocation carry it as an identifier when it has one.
type Place struct {
	Name            string `json:"traceledger:name"`
	Province        string `json:"traceledger:province,omitempty"`
	Address         string `json:"traceledger:address,omitempty"`
	Country         string `json:"traceledger:country,omitempty"`
	GrowingAreaCode string `json:"traceledger:growingAreaCode,omitempty"`
	GLN             string `json:"traceledger:gln,omitempty"`
	Geo             string `json:"traceledger:geo,omitempty"`
}

// Inspection is an inspection's outcome (ledger.Inspect).
type Inspection struct {
	Result      string       `json:"traceledger:result"`
	Note        string       `json:"traceledger:note,omitempty"`
	Certificate *Certificate `json:"traceledger:certificate,omitempty"`
}

// Recall says why lots were recalled, and which lot the recall named
// (the others in quantityList are made from it).
type Recall struct {
	Reason string `json:"traceledger:reason"`
	Origin string `json:"traceledger:origin"`
}

// Parties looks a participant up by its 0x address, for the GLN that
// identifies it in sourceList and destinationList. It returns nil and no
// error for an unknown participant.
type Parties func(address string) (*ledger.ParticipantInfo, error)

// FromEntries maps ledger entries, in log order, to an EPCIS 2.0 document
// created at created. parties may be nil: every participant is then named
// by its address (see partyID). Entries must be complete for the lots they
// name — a receive finds its sender in the transfer before it, a recall
// the lots made from the recalled one in the transforms before it — as the
// history of a lot and its ancestors is.
func FromEntries(entries []*ledger.Entry, parties Parties, created time.Time) (*Document, error) {
	m := &mapper{
		parties:  parties,
		partyIDs: map[string]string{},
		sentBy:   map[ledger.LotRef]string{},
		children: map[ledger.LotRef][]ledger.LotRef{},
	}
	doc := &Document{
		Context:       []any{ContextURL, map[string]string{Prefix: Namespace}},
		Type:          "EPCISDocument",
		SchemaVersion: SchemaVersion,
		CreationDate:  created.UTC().Format(time.RFC3339Nano),
		Body:          Body{EventList: []Event{}},
	}
	for _, e := range entries {
		ev, ok, err := m.event(e)
		if err != nil {
			return nil, fmt.Errorf("epcis: entry %d: %w", e.Seq, err)
		}
		if ok {
			doc.Body.EventList = append(doc.Body.EventList, ev)
		}
	}
	return doc, nil
}
