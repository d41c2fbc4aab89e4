package ledger

// The `epcis` record (DESIGN §3.6): one GS1 EPCIS 2.0 event signed by a
// registered participant, a partner's own record of what it saw or did.
// It changes no custody: the lots it names keep their holder and status.
// Each lot of ours it names (an epcClass of a quantity list, as a GS1
// Digital Link URI …/01/{gtin}/10/{lot} or an LGTIN EPC class URI) lists
// the entry in its history, where pages, bundles and exports show it as a
// partner event.

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// TypeEpcis is the record type of a partner's EPCIS 2.0 event.
const TypeEpcis = "epcis"

// maxEpcisID bounds the id of an `epcis` record: an eventID is a URI
// (often urn:uuid:, 45 characters) and a canonical event hash is 89
// characters, beyond the 64 of other records' ids.
const maxEpcisID = 256

// Epcis carries one EPCIS 2.0 event (JSON-LD binding) with its own
// @context. Its id is the event's eventID or, when it has none, its GS1
// canonical event hash (epcisevent.Hash), so that an event captured twice
// is recognised whatever the capture path.
type Epcis struct {
	Header
	Event json.RawMessage `json:"event"`
	// summary is what validate derived from Event.
	summary *epcisevent.Summary
}

// Summary returns what the ledger derives from the event for its indexes.
func (e *Epcis) Summary() *epcisevent.Summary { return e.summary }

func (e *Epcis) validate() error {
	if len(e.Event) == 0 || string(e.Event) == "null" {
		return ErrMissingField.Detail("event")
	}
	s, err := epcisevent.Check(e.Event)
	var fe *epcisevent.FieldError
	if errors.As(err, &fe) {
		return ErrInvalidField.Detail("event%s: %s", fe.Pointer, fe.Reason)
	}
	if err != nil {
		return fmt.Errorf("event: %w", err)
	}
	id, err := epcisevent.ID(e.Event, s)
	if err != nil {
		return ErrInvalidField.Detail("event: %v", err)
	}
	if e.ID != id {
		if s.EventID != "" {
			return ErrInvalidField.Detail("id %q is not the event's eventID %q", e.ID, id)
		}
		return ErrInvalidField.Detail("id %q is not the event's canonical hash %s (the event has no eventID)", e.ID, id)
	}
	e.summary = s
	return nil
}

// checkEpcis: any registered participant may record an event; the lots
// of ours it names get it in their history.
func (a *applier) checkEpcis(e *Epcis) (func(uint64) error, error) {
	if _, err := a.registered(""); err != nil {
		return nil, err
	}
	if err := a.conflicts(); err != nil {
		return nil, err
	}
	for _, l := range e.summary.Lots {
		ref := LotRef{GTIN: l.GTIN, Lot: l.Lot}
		lot, err := a.lotState(ref)
		if err != nil {
			return nil, err
		}
		if lot != nil {
			a.partnerLots = append(a.partnerLots, ref)
		}
	}
	return func(uint64) error { return nil }, nil
}
