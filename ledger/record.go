package ledger

import (
	"encoding/json"
	"strings"
	"time"
)

// Record types (DESIGN §3.3).
const (
	TypeParticipant = "participant"
	TypeHarvest     = "harvest"
	TypeTransfer    = "transfer"
	TypeReceive     = "receive"
	TypeTransform   = "transform"
	TypeInspect     = "inspect"
	TypeRecall      = "recall"
	// TypeGenesis is the unsigned first entry of a ledger: it names the
	// admins given at bootstrap. Clients cannot submit it.
	TypeGenesis = "genesis"
)

// Roles a participant may hold.
const (
	RoleAdmin       = "admin"
	RoleProducer    = "producer"
	RoleProcessor   = "processor"
	RoleDistributor = "distributor"
	RoleRetailer    = "retailer"
	RoleInspector   = "inspector"
)

var validRoles = map[string]bool{RoleAdmin: true, RoleProducer: true, RoleProcessor: true,
	RoleDistributor: true, RoleRetailer: true, RoleInspector: true}

// Header holds the four fields every record has.
type Header struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Signer string `json:"signer"`
	Time   string `json:"time"`
	// Ledger optionally names the ledger the record is for (its origin,
	// as its checkpoints name it): signed with the record, it keeps a
	// record signed for one ledger (a test network, another province's)
	// from being replayed onto another.
	Ledger string `json:"ledger,omitempty"`
}

func (h Header) head() Header { return h }

// LotRef names a lot: a GTIN and a lot code (GS1 AI 01 and AI 10).
type LotRef struct {
	GTIN string `json:"gtin"`
	Lot  string `json:"lot"`
}

func (r LotRef) String() string { return r.GTIN + "/" + r.Lot }

// Quantity is an amount with a UN/ECE Rec 20 unit. Amount keeps the JSON
// number as written; arithmetic on it is exact (see quantity.go).
type Quantity struct {
	Amount json.Number `json:"amount"`
	Unit   string      `json:"unit"`
}

// Product describes what a lot is.
type Product struct {
	Name        string `json:"name"`
	NameEN      string `json:"name_en,omitempty"`
	Variety     string `json:"variety,omitempty"`
	Grade       string `json:"grade,omitempty"`
	Description string `json:"description,omitempty"`
	Image       string `json:"image,omitempty"`
}

// Place is where something happened. Geo is "latitude,longitude" in decimal
// degrees (WGS 84).
type Place struct {
	Name            string `json:"name"`
	Geo             string `json:"geo,omitempty"`
	Province        string `json:"province,omitempty"`
	Address         string `json:"address,omitempty"`
	GrowingAreaCode string `json:"growing_area_code,omitempty"`
	FacilityGLN     string `json:"gln,omitempty"`
	Country         string `json:"country,omitempty"`
}

// LocationURI identifies the place for an EPCIS readPoint or bizLocation:
// its facility GLN as a GS1 Digital Link URI (AI 414, the EPCIS 2.0
// equivalent of an SGLN, which would need the company prefix length),
// else its coordinates as an RFC 5870 geo: URI, else "" (a place known
// only by its name). The export (api/epcis) and the event indexes
// (eventindex.go) both name places by it.
func (p *Place) LocationURI() string {
	switch {
	case p == nil:
		return ""
	case p.FacilityGLN != "":
		return "https://id.gs1.org/414/" + p.FacilityGLN
	case p.Geo != "":
		return "geo:" + strings.ReplaceAll(p.Geo, " ", "")
	}
	return ""
}

// Certificate is a certification a lot or producer holds: VietGAP,
// GlobalGAP, organic, OCOP (with its stars) and the like. Dates are
// YYYY-MM-DD.
type Certificate struct {
	Scheme     string `json:"scheme"`
	Number     string `json:"number,omitempty"`
	Issuer     string `json:"issuer,omitempty"`
	Stars      int    `json:"stars,omitempty"`
	ValidFrom  string `json:"valid_from,omitempty"`
	ValidUntil string `json:"valid_until,omitempty"`
}

// Record is a decoded, validated record of any type. Exactly one of the
// type-specific pointers is set, the one named by Header.Type.
type Record struct {
	Header
	Participant *Participant `json:"-"`
	Harvest     *Harvest     `json:"-"`
	Transfer    *Transfer    `json:"-"`
	Receive     *Receive     `json:"-"`
	Transform   *Transform   `json:"-"`
	Inspect     *Inspect     `json:"-"`
	Recall      *Recall      `json:"-"`
	Epcis       *Epcis       `json:"-"`

	// at is Time parsed, set by DecodeRecord: admission and the event
	// index read it without parsing the time again (at.IsZero(): parse).
	at time.Time
}

// parsedTime returns the record's time, parsed.
func (r *Record) parsedTime() (time.Time, error) {
	if !r.at.IsZero() {
		return r.at, nil
	}
	return ParseTime(r.Time)
}

// Participant registers or updates a participant.
type Participant struct {
	Header
	Address  string          `json:"address"`
	Name     string          `json:"name"`
	Roles    []string        `json:"roles"`
	GLN      string          `json:"gln,omitempty"`
	TaxCode  string          `json:"tax_code,omitempty"`
	Location *Place          `json:"location,omitempty"`
	Attrs    json.RawMessage `json:"attributes,omitempty"`
}

// Harvest creates a lot held by its producer.
type Harvest struct {
	Header
	Lot          LotRef          `json:"lot"`
	Product      Product         `json:"product"`
	Quantity     Quantity        `json:"quantity"`
	Place        Place           `json:"place"`
	Certificates []Certificate   `json:"certificates,omitempty"`
	Attrs        json.RawMessage `json:"attributes,omitempty"`
}

// Transfer puts a lot in transit to a registered participant.
type Transfer struct {
	Header
	Lot LotRef `json:"lot"`
	To  string `json:"to"`
	// After, when present, is the RecordDigest of the latest record on
	// the lot that the signer saw: the transfer holds only if the lot
	// has not changed since (else ErrStale).
	After *string         `json:"after,omitempty"`
	Place *Place          `json:"place,omitempty"`
	Attrs json.RawMessage `json:"attributes,omitempty"`
}

// Receive makes the named recipient the holder.
type Receive struct {
	Header
	Lot   LotRef          `json:"lot"`
	After *string         `json:"after,omitempty"` // as Transfer.After
	Place *Place          `json:"place,omitempty"`
	Attrs json.RawMessage `json:"attributes,omitempty"`
}

// TransformInput is a quantity taken from an input lot.
type TransformInput struct {
	Lot      LotRef   `json:"lot"`
	Quantity Quantity `json:"quantity"`
}

// TransformOutput is a new lot made by a transform.
type TransformOutput struct {
	Lot      LotRef   `json:"lot"`
	Product  Product  `json:"product"`
	Quantity Quantity `json:"quantity"`
}

// Transform turns input lots into output lots (drying, bottling, boxing).
type Transform struct {
	Header
	Inputs  []TransformInput  `json:"inputs"`
	Outputs []TransformOutput `json:"outputs"`
	Process string            `json:"process,omitempty"`
	Place   *Place            `json:"place,omitempty"`
	Attrs   json.RawMessage   `json:"attributes,omitempty"`
}

// Inspect attaches an inspection result, and optionally a certificate, to a lot.
type Inspect struct {
	Header
	Lot         LotRef          `json:"lot"`
	Result      string          `json:"result"`
	Certificate *Certificate    `json:"certificate,omitempty"`
	Note        string          `json:"note,omitempty"`
	Place       *Place          `json:"place,omitempty"`
	Attrs       json.RawMessage `json:"attributes,omitempty"`
}

// Recall recalls a lot and every lot made from it.
type Recall struct {
	Header
	Lot    LotRef          `json:"lot"`
	Reason string          `json:"reason"`
	Attrs  json.RawMessage `json:"attributes,omitempty"`
}

// Lots returns every lot whose custody the record is about, in the order
// it names them. An `epcis` record names none: the lots its event names
// list it as a partner event, and Apply finds which of them exist.
func (r *Record) Lots() []LotRef {
	switch {
	case r.Harvest != nil:
		return []LotRef{r.Harvest.Lot}
	case r.Transfer != nil:
		return []LotRef{r.Transfer.Lot}
	case r.Receive != nil:
		return []LotRef{r.Receive.Lot}
	case r.Inspect != nil:
		return []LotRef{r.Inspect.Lot}
	case r.Recall != nil:
		return []LotRef{r.Recall.Lot}
	case r.Transform != nil:
		var out []LotRef
		for _, in := range r.Transform.Inputs {
			out = append(out, in.Lot)
		}
		for _, o := range r.Transform.Outputs {
			out = append(out, o.Lot)
		}
		return out
	}
	return nil
}
