package ledger

import (
	"encoding/json"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// The stateful rules of DESIGN §3.3: who may sign which record, given the
// state the log has built so far. Apply (apply.go) runs them for each
// envelope, in log order, before it appends anything; a check returns the
// effect that writes the record's consequences, or a refusal, and writes
// nothing itself.

// applier checks one record against the state and, when every rule holds,
// returns the effect that writes its consequences.
type applier struct {
	w        Writer
	signer   common.Address
	me       string // signer.Hex(): its EIP-55 checksum costs a keccak, so once
	idReused bool
	// wrongLedger is this ledger's origin when the record names another.
	wrongLedger string
	parts       participantCache
	// partnerLots are the existing lots an `epcis` record's event names.
	partnerLots []LotRef
}

// participantCache keeps the participants one command has read, decoded:
// a batch of hundreds of harvests usually comes from a few producers. A
// participant record's effect updates the cache with what it writes.
type participantCache map[common.Address]*ParticipantInfo

func (a *applier) participant(addr common.Address) (*ParticipantInfo, error) {
	if p, ok := a.parts[addr]; ok {
		return p, nil
	}
	p, err := GetParticipant(a.w, addr)
	if err == nil && p != nil {
		a.parts[addr] = p
	}
	return p, err
}

func refuse(err error) error { return refusal{err} }

func (r refusal) Error() string { return r.err.Error() }

// participants returns the participants an entry is indexed under: its
// signer and any participant it names.
func (a *applier) participants(rec *Record) []common.Address {
	out := []common.Address{a.signer}
	add := func(s string) {
		if addr, err := ParseAddress(s); err == nil && addr != a.signer {
			out = append(out, addr)
		}
	}
	switch {
	case rec.Participant != nil:
		add(rec.Participant.Address)
	case rec.Transfer != nil:
		add(rec.Transfer.To)
	}
	return out
}

// lot returns an existing lot or a 404 refusal.
func (a *applier) lot(ref LotRef) (*Lot, error) {
	l, err := a.lotState(ref)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, refuse(ErrUnknownLot.Detail("%s", ref))
	}
	return l, nil
}

// lotStates is a Writer that may know, without reading, that a lot has
// no state (a LotMapStore's transaction).
type lotStates interface{ lotStateAbsent(LotRef) bool }

// lotState is GetLot, without the read when the transaction knows that
// ref has none: a read that finds no key visits every level of the store.
func (a *applier) lotState(ref LotRef) (*Lot, error) {
	if s, ok := a.w.(lotStates); ok && s.lotStateAbsent(ref) {
		return nil, nil
	}
	return GetLot(a.w, ref)
}

// registered returns the signer's registration or a 403 refusal; with a
// role, the signer must also hold that role.
func (a *applier) registered(role string) (*ParticipantInfo, error) {
	p, err := a.participant(a.signer)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, refuse(ErrNotRegistered.Detail("%s", a.me))
	}
	if role != "" && !p.HasRole(role) {
		return nil, refuse(ErrWrongRole.Detail("%s needs the %s role", a.me, role))
	}
	return p, nil
}

func (a *applier) conflicts() error {
	if a.wrongLedger != "" {
		return refuse(ErrWrongLedger.Detail("this is %s", a.wrongLedger))
	}
	if a.idReused {
		return refuse(ErrIDReused.Detail("%s", a.me))
	}
	return nil
}

func (a *applier) check(rec *Record) (func(seq uint64) error, error) {
	switch {
	case rec.Participant != nil:
		return a.checkParticipant(rec.Participant)
	case rec.Harvest != nil:
		return a.checkHarvest(rec.Harvest)
	case rec.Transfer != nil:
		return a.checkTransfer(rec.Transfer)
	case rec.Receive != nil:
		return a.checkReceive(rec.Receive)
	case rec.Transform != nil:
		return a.checkTransform(rec.Transform)
	case rec.Inspect != nil:
		return a.checkInspect(rec.Inspect)
	case rec.Recall != nil:
		return a.checkRecall(rec.Recall)
	case rec.Epcis != nil:
		return a.checkEpcis(rec.Epcis)
	}
	return nil, refuse(ErrUnknownType.Detail("%q", rec.Type))
}

func (a *applier) checkParticipant(p *Participant) (func(uint64) error, error) {
	if _, err := a.registered(RoleAdmin); err != nil {
		return nil, err
	}
	if err := a.conflicts(); err != nil {
		return nil, err
	}
	addr, _ := ParseAddress(p.Address)
	prev, err := GetParticipant(a.w, addr)
	if err != nil {
		return nil, err
	}
	return func(seq uint64) error {
		info := &ParticipantInfo{Address: addr.Hex(), Name: p.Name, Roles: p.Roles, GLN: p.GLN,
			TaxCode: p.TaxCode, Location: p.Location, Attributes: p.Attrs, RegisteredSeq: seq, UpdatedSeq: seq}
		if prev != nil {
			info.RegisteredSeq = prev.RegisteredSeq
		}
		a.parts[addr] = info
		return putJSON(a.w, participantKey(addr), info)
	}, nil
}

func (a *applier) checkHarvest(h *Harvest) (func(uint64) error, error) {
	if _, err := a.registered(RoleProducer); err != nil {
		return nil, err
	}
	if err := a.conflicts(); err != nil {
		return nil, err
	}
	if l, err := a.lotState(h.Lot); err != nil {
		return nil, err
	} else if l != nil {
		return nil, refuse(ErrLotExists.Detail("%s", h.Lot))
	}
	return func(seq uint64) error {
		q := normalizeQuantity(h.Quantity)
		l := &Lot{GTIN: h.Lot.GTIN, Lot: h.Lot.Lot, Product: h.Product, Status: StatusActive,
			Holder: a.me, Creator: a.me, Quantity: q, Initial: q,
			Parents: []LotRef{}, Children: []LotRef{}, CreatedSeq: seq, UpdatedSeq: seq}
		return putJSON(a.w, lotKey(h.Lot), l)
	}, nil
}

func (a *applier) checkTransfer(t *Transfer) (func(uint64) error, error) {
	l, err := a.lot(t.Lot)
	if err != nil {
		return nil, err
	}
	if _, err := a.registered(""); err != nil {
		return nil, err
	}
	if l.Holder != a.me {
		return nil, refuse(ErrNotHolder.Detail("%s is held by %s", t.Lot, l.Holder))
	}
	if err := a.conflicts(); err != nil {
		return nil, err
	}
	if err := notRecalled(l); err != nil {
		return nil, err
	}
	if l.InTransitTo != "" {
		return nil, refuse(ErrDoubleTransfer.Detail("%s is in transit to %s", t.Lot, l.InTransitTo))
	}
	if l.Quantity.Amount == "0" {
		return nil, refuse(ErrLotConsumed.Detail("%s", t.Lot))
	}
	to, _ := ParseAddress(t.To)
	if p, err := GetParticipant(a.w, to); err != nil {
		return nil, err
	} else if p == nil {
		return nil, refuse(ErrUnregisteredRecipient.Detail("%s", to.Hex()))
	}
	// Last of the conflicts: a more specific reason (recalled, in
	// transit) tells the signer more than "the lot changed".
	if err := a.checkAfter(t.Lot, t.After); err != nil {
		return nil, err
	}
	return func(seq uint64) error {
		l.InTransitTo = to.Hex()
		l.UpdatedSeq = seq
		l.Status = statusOf(l)
		return putJSON(a.w, lotKey(t.Lot), l)
	}, nil
}

func (a *applier) checkReceive(r *Receive) (func(uint64) error, error) {
	l, err := a.lot(r.Lot)
	if err != nil {
		return nil, err
	}
	if _, err := a.registered(""); err != nil {
		return nil, err
	}
	if l.InTransitTo != a.me {
		if l.InTransitTo == "" {
			return nil, refuse(ErrNotRecipient.Detail("%s is not in transit", r.Lot))
		}
		return nil, refuse(ErrNotRecipient.Detail("%s is in transit to %s", r.Lot, l.InTransitTo))
	}
	if err := a.conflicts(); err != nil {
		return nil, err
	}
	if err := notRecalled(l); err != nil {
		return nil, err
	}
	if err := a.checkAfter(r.Lot, r.After); err != nil {
		return nil, err
	}
	return func(seq uint64) error {
		l.Holder, l.InTransitTo, l.UpdatedSeq = a.me, "", seq
		l.Status = statusOf(l)
		return putJSON(a.w, lotKey(r.Lot), l)
	}, nil
}

func (a *applier) checkTransform(t *Transform) (func(uint64) error, error) {
	inputs := make([]*Lot, len(t.Inputs))
	for i, in := range t.Inputs {
		l, err := a.lot(in.Lot)
		if err != nil {
			return nil, err
		}
		inputs[i] = l
	}
	if _, err := a.registered(""); err != nil {
		return nil, err
	}
	for i, l := range inputs {
		if len(l.Children)+len(t.Outputs) > maxChildren {
			return nil, refuse(ErrWriteTooLarge.Detail("inputs[%d]: at most %d lots can be made from %s", i, maxChildren, l.Ref()))
		}
		if l.Holder != a.me {
			return nil, refuse(ErrNotHolder.Detail("inputs[%d]: %s is held by %s", i, l.Ref(), l.Holder))
		}
	}
	if err := a.conflicts(); err != nil {
		return nil, err
	}
	remaining := make([]*big.Rat, len(inputs))
	for i, l := range inputs {
		in := t.Inputs[i]
		switch {
		case l.InTransitTo != "":
			return nil, refuse(ErrLotInTransit.Detail("inputs[%d]: %s", i, l.Ref()))
		case l.Recalled != nil:
			return nil, refuse(ErrLotRecalled.Detail("inputs[%d]: %s", i, l.Ref()))
		case l.Status == StatusConsumed:
			return nil, refuse(ErrLotConsumed.Detail("inputs[%d]: %s", i, l.Ref()))
		case in.Quantity.Unit != l.Quantity.Unit:
			return nil, refuse(ErrUnitMismatch.Detail("inputs[%d]: %s is counted in %s, not %s", i, l.Ref(), l.Quantity.Unit, in.Quantity.Unit))
		}
		have, err := parseAmount(l.Quantity.Amount)
		if err != nil {
			return nil, errCorrupt("lot %s quantity %q", l.Ref(), l.Quantity.Amount)
		}
		take, _ := parseAmount(in.Quantity.Amount)
		if take.Cmp(have) > 0 {
			return nil, refuse(ErrInsufficient.Detail("inputs[%d]: %s %s wanted, %s %s left of %s", i, take.FloatString(3), in.Quantity.Unit, l.Quantity.Amount, l.Quantity.Unit, l.Ref()))
		}
		remaining[i] = new(big.Rat).Sub(have, take)
	}
	for i, o := range t.Outputs {
		if l, err := a.lotState(o.Lot); err != nil {
			return nil, err
		} else if l != nil {
			return nil, refuse(ErrLotExists.Detail("outputs[%d]: %s", i, o.Lot))
		}
	}
	return func(seq uint64) error {
		parents := make([]LotRef, len(inputs))
		children := make([]LotRef, len(t.Outputs))
		for i, o := range t.Outputs {
			children[i] = o.Lot
		}
		for i, l := range inputs {
			parents[i] = l.Ref()
			if remaining[i].Sign() == 0 {
				l.Quantity.Amount = "0"
				l.Status = StatusConsumed
			} else {
				l.Quantity.Amount = json.Number(formatAmount(remaining[i]))
			}
			l.Children = append(l.Children, children...)
			l.UpdatedSeq = seq
			l.Status = statusOf(l)
			if err := putJSON(a.w, lotKey(l.Ref()), l); err != nil {
				return err
			}
		}
		for _, o := range t.Outputs {
			q := normalizeQuantity(o.Quantity)
			l := &Lot{GTIN: o.Lot.GTIN, Lot: o.Lot.Lot, Product: o.Product, Status: StatusActive,
				Holder: a.me, Creator: a.me, Quantity: q, Initial: q,
				Parents: parents, Children: []LotRef{}, CreatedSeq: seq, UpdatedSeq: seq}
			if err := putJSON(a.w, lotKey(o.Lot), l); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func (a *applier) checkInspect(in *Inspect) (func(uint64) error, error) {
	l, err := a.lot(in.Lot)
	if err != nil {
		return nil, err
	}
	if _, err := a.registered(RoleInspector); err != nil {
		return nil, err
	}
	if err := a.conflicts(); err != nil {
		return nil, err
	}
	return func(seq uint64) error {
		l.UpdatedSeq = seq
		return putJSON(a.w, lotKey(in.Lot), l)
	}, nil
}

// maxLotGraph bounds the lots one recall may walk (its ancestors to check
// the signer, its descendants to mark them): far beyond any real product
// graph, it keeps one record's writes within one store transaction.
const maxLotGraph = 5_000

// maxChildren bounds the lots made from one lot: each transform rewrites
// its inputs' state, which lists their children.
const maxChildren = 1_000

func (a *applier) checkRecall(r *Recall) (func(uint64) error, error) {
	l, err := a.lot(r.Lot)
	if err != nil {
		return nil, err
	}
	p, err := a.registered("")
	if err != nil {
		return nil, err
	}
	if !p.HasRole(RoleAdmin) {
		ok, err := a.createdAncestor(l)
		if errors.Is(err, ErrLotGraphTooLarge) {
			return nil, refuse(ErrWriteTooLarge.Detail("%s descends from more than %d lots", r.Lot, maxLotGraph))
		}
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, refuse(ErrWrongRole.Detail("only an admin or the producer of %s or of a lot it was made from may recall it", r.Lot))
		}
	}
	if err := a.conflicts(); err != nil {
		return nil, err
	}
	if l.Recalled != nil {
		return nil, refuse(ErrAlreadyRecalled.Detail("%s by entry %d", r.Lot, l.Recalled.Seq))
	}
	var affected []*Lot
	err = WalkLots(a.w, []*Lot{l}, Downstream, maxLotGraph, func(x *Lot) (bool, error) {
		affected = append(affected, x)
		return true, nil
	})
	if errors.Is(err, ErrLotGraphTooLarge) {
		return nil, refuse(ErrWriteTooLarge.Detail("more than %d lots are made from %s", maxLotGraph, r.Lot))
	}
	if err != nil {
		return nil, err
	}
	return func(seq uint64) error {
		info := &Recalled{Seq: seq, Origin: r.Lot, Reason: r.Reason}
		for _, x := range affected {
			if x.Recalled != nil {
				continue
			}
			x.Recalled = info
			x.UpdatedSeq = seq
			x.Status = statusOf(x)
			if err := putJSON(a.w, lotKey(x.Ref()), x); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// createdAncestor reports whether the signer created l or a lot l descends from.
func (a *applier) createdAncestor(l *Lot) (bool, error) {
	found := false
	err := WalkLots(a.w, []*Lot{l}, Upstream, maxLotGraph, func(x *Lot) (bool, error) {
		found = x.Creator == a.me
		return !found, nil
	})
	return found, err
}

func statusOf(l *Lot) string {
	switch {
	case l.Recalled != nil:
		return StatusRecalled
	case l.InTransitTo != "":
		return StatusInTransit
	case l.Quantity.Amount == "0":
		return StatusConsumed
	}
	return StatusActive
}
