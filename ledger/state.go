package ledger

import (
	"encoding/binary"
	"encoding/json"

	"github.com/ethereum/go-ethereum/common"
)

// Lot statuses. A recalled lot stays recalled whatever happens to it next;
// a lot in transit is still held by its sender until the recipient receives.
const (
	StatusActive    = "active"
	StatusInTransit = "in_transit"
	StatusConsumed  = "consumed"
	StatusRecalled  = "recalled"
)

// Lot is the current state of a lot, derived from the entries that name it.
type Lot struct {
	GTIN        string    `json:"gtin"`
	Lot         string    `json:"lot"`
	Product     Product   `json:"product"`
	Status      string    `json:"status"`
	Holder      string    `json:"holder"`
	InTransitTo string    `json:"in_transit_to,omitempty"`
	Creator     string    `json:"creator"` // who harvested or made it
	Quantity    Quantity  `json:"quantity"`
	Initial     Quantity  `json:"initial_quantity"`
	Parents     []LotRef  `json:"parents"`
	Children    []LotRef  `json:"children"`
	CreatedSeq  uint64    `json:"created_seq"`
	UpdatedSeq  uint64    `json:"updated_seq"`
	Recalled    *Recalled `json:"recall,omitempty"`
}

// Recalled says which entry recalled a lot, and why.
type Recalled struct {
	Seq    uint64 `json:"seq"`
	Origin LotRef `json:"origin"` // the lot the recall named
	Reason string `json:"reason"`
}

// Ref returns the lot's reference.
func (l *Lot) Ref() LotRef { return LotRef{GTIN: l.GTIN, Lot: l.Lot} }

// ParticipantInfo is the current registration of a participant.
type ParticipantInfo struct {
	Address       string          `json:"address"`
	Name          string          `json:"name"`
	Roles         []string        `json:"roles"`
	GLN           string          `json:"gln,omitempty"`
	TaxCode       string          `json:"tax_code,omitempty"`
	Location      *Place          `json:"location,omitempty"`
	Attributes    json.RawMessage `json:"attributes,omitempty"`
	RegisteredSeq uint64          `json:"registered_seq"`
	UpdatedSeq    uint64          `json:"updated_seq"`
}

// HasRole reports whether p holds role.
func (p *ParticipantInfo) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func getJSON[T any](r Reader, key []byte) (*T, error) {
	v, ok, err := r.Get(key)
	if err != nil || !ok {
		return nil, err
	}
	var out T
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, errCorrupt("%q: %v", key, err)
	}
	return &out, nil
}

func putJSON(w Writer, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.Set(key, b)
}

// GetLot returns the state of a lot, or nil if the ledger has no such lot.
// ref.GTIN must be in 14-digit form.
func GetLot(r Reader, ref LotRef) (*Lot, error) { return getJSON[Lot](r, lotKey(ref)) }

// LotsOfGTIN calls fn with every lot of a GTIN (14-digit form), in order of
// lot code, until fn returns false. A product page lists them: the lots a
// trade item was made in.
func LotsOfGTIN(r Reader, gtin string, fn func(*Lot) bool) error {
	if len(gtin) != 14 {
		return nil
	}
	var decodeErr error
	err := r.Scan(cat(prefixLot, []byte(gtin)), nil, func(k, v []byte) bool {
		var l Lot
		if err := json.Unmarshal(v, &l); err != nil {
			decodeErr = errCorrupt("%q: %v", k, err)
			return false
		}
		return fn(&l)
	})
	if err != nil {
		return err
	}
	return decodeErr
}

// GetParticipant returns a participant's registration, or nil.
func GetParticipant(r Reader, a common.Address) (*ParticipantInfo, error) {
	return getJSON[ParticipantInfo](r, participantKey(a))
}

// GetEntry returns the entry at seq and its bytes.
func GetEntry(r Reader, seq uint64) (*Entry, []byte, error) {
	v, ok, err := r.Get(entryKey(seq))
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, ErrUnknownEntry.Detail("no entry %d", seq)
	}
	data := append([]byte(nil), v...)
	e, err := ParseEntry(data)
	if err != nil {
		return nil, nil, err
	}
	return e, data, nil
}

// Size returns the number of entries in the ledger.
func Size(r Reader) (uint64, error) { return getU64(r, keySize) }

// LotSeqs returns the sequence numbers of the entries that name a lot, in log order.
func LotSeqs(r Reader, ref LotRef) ([]uint64, error) {
	return scanSeqs(r, lotIndexPrefix(ref), 0)
}

// LotSeqsFrom returns at most limit (0: all) sequence numbers of the
// entries that name a lot, from seq from on, in log order.
func LotSeqsFrom(r Reader, ref LotRef, from uint64, limit int) ([]uint64, error) {
	return scanSeqsFrom(r, lotIndexPrefix(ref), from, limit)
}

// ParticipantSeqs returns the sequence numbers of entries signed by or naming
// a participant, in log order, at most limit of them (0: all) starting at from.
func ParticipantSeqs(r Reader, a common.Address, from uint64, limit int) ([]uint64, error) {
	return scanSeqsFrom(r, partIndexPrefix(a), from, limit)
}

// RegistrationSeqs returns the sequence numbers of the entries that
// registered or updated a participant (genesis included), in log order.
func RegistrationSeqs(r Reader, a common.Address) ([]uint64, error) {
	return scanSeqs(r, regIndexPrefix(a), 0)
}

func scanSeqs(r Reader, prefix []byte, limit int) ([]uint64, error) {
	return scanSeqsFrom(r, prefix, 0, limit)
}

func scanSeqsFrom(r Reader, prefix []byte, from uint64, limit int) ([]uint64, error) {
	var out []uint64
	err := r.Scan(prefix, cat(prefix, u64(from)), func(k, _ []byte) bool {
		if len(k) != len(prefix)+8 {
			return true
		}
		out = append(out, binary.BigEndian.Uint64(k[len(prefix):]))
		return limit <= 0 || len(out) < limit
	})
	return out, err
}
