package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/mod/sumdb/tlog"
)

// Result is the outcome of one envelope. Err is nil for an accepted
// envelope; Existing is true when the identical envelope was already in the
// ledger, in which case Seq and Hash name the original entry.
type Result struct {
	Seq      uint64
	Hash     tlog.Hash
	Signer   common.Address
	Existing bool
	Err      error
	// Unverified: the envelope was refused because its logged bytes did
	// not verify (record, canonical form or signature). The leader admits
	// only envelopes that verify, so on an honest cluster this never
	// happens; a node counts it as a sign of a forged log entry.
	Unverified bool
}

// Apply applies one command inside w, in order, and returns one Result per
// envelope. A refused envelope writes nothing. The returned error is a
// storage failure only: the caller must not commit w and must stop, since
// carrying on would let this node diverge from its peers.
//
// Apply is deterministic: it reads nothing but w and c (no clock, no
// randomness, no map iteration order), so every node that applies the same
// log reaches the same state and the same Merkle root.
func Apply(w Writer, c *Command) ([]Result, error) {
	switch c.Kind {
	case CmdGenesis:
		return nil, applyGenesis(w, c)
	case CmdRecords:
	default:
		return nil, fmt.Errorf("apply: unknown command kind %d", c.Kind)
	}
	rt := c.Time.UTC().Format(time.RFC3339Nano)
	out := make([]Result, len(c.Envelopes))
	parts := participantCache{}
	// Signatures first, all at once and in parallel; the rules then run
	// in log order.
	bad := verifyAll(c.Envelopes)
	origin := lazyOrigin{w: w}
	for i, env := range c.Envelopes {
		if bad[i] != nil {
			out[i] = Result{Signer: env.Signer, Err: bad[i], Unverified: true}
			continue
		}
		res, err := applyEnvelope(w, rt, env, parts, &origin)
		if err != nil {
			return nil, fmt.Errorf("apply envelope %d: %w", i, err)
		}
		out[i] = res
	}
	return out, nil
}

// refusal marks a rule failure, as opposed to a storage failure.
type refusal struct{ err error }

// lazyOrigin reads the ledger's origin once per command, and only for a
// command with a record that names its ledger.
type lazyOrigin struct {
	w      Writer
	origin string
	read   bool
}

func (o *lazyOrigin) get() (string, error) {
	if !o.read {
		var err error
		if o.origin, err = Origin(o.w); err != nil {
			return "", err
		}
		o.read = true
	}
	return o.origin, nil
}

func applyEnvelope(w Writer, recordTime string, env *Admitted, parts participantCache, origin *lazyOrigin) (Result, error) {
	res := Result{Signer: env.Signer}
	rec := env.Record // verified by verifyAll
	// Idempotency comes before every rule (DESIGN §3.4): a producer who
	// resends yesterday's harvest after the lot has moved on still gets 200.
	digest := sha256.Sum256(env.Canonical)
	idReused := false
	if v, ok, err := w.Get(idKey(env.Signer, rec.ID)); err != nil {
		return res, err
	} else if ok {
		if len(v) != 8+sha256.Size {
			return res, errCorrupt("id index of %s/%s", env.Signer.Hex(), rec.ID)
		}
		if bytes.Equal(v[8:], digest[:]) {
			seq := binary.BigEndian.Uint64(v[:8])
			_, data, err := GetEntry(w, seq)
			if err != nil {
				return res, err
			}
			res.Seq, res.Hash, res.Existing = seq, LeafHash(data), true
			return res, nil
		}
		idReused = true
	}
	wrongLedger := ""
	if rec.Ledger != "" {
		o, err := origin.get()
		if err != nil {
			return res, err
		}
		if rec.Ledger != o {
			wrongLedger = o
		}
	}
	a := &applier{w: w, signer: env.Signer, me: env.Signer.Hex(), idReused: idReused, wrongLedger: wrongLedger, parts: parts}
	effect, err := a.check(rec)
	if err != nil {
		if r, ok := err.(refusal); ok {
			res.Err = r.err
			return res, nil
		}
		return res, err
	}
	seq, err := Size(w)
	if err != nil {
		return res, err
	}
	entry := &Entry{Seq: seq, Type: rec.Type, RecordTime: recordTime, Signer: a.me,
		Record: env.Canonical, Signature: fmt.Sprintf("0x%x", env.Signature)}
	leaf, err := appendEntry(w, entry, rec.Lots(), a.partnerLots, a.participants(rec))
	if err != nil {
		return res, err
	}
	if err := indexEvent(w, seq, leaf, rec); err != nil {
		return res, err
	}
	if rec.Participant != nil {
		addr, _ := ParseAddress(rec.Participant.Address)
		if err := w.Set(cat(regIndexPrefix(addr), u64(seq)), nil); err != nil {
			return res, err
		}
	}
	if err := w.Set(idKey(env.Signer, rec.ID), cat(u64(seq), digest[:])); err != nil {
		return res, err
	}
	if err := effect(seq); err != nil {
		return res, err
	}
	res.Seq, res.Hash = seq, leaf
	return res, nil
}

// appendEntry writes entry as the next leaf, with its indexes, and returns
// its leaf hash. lots are the lots whose custody chain the entry extends
// (it becomes their head); partner lots list the entry too, and it names
// their head as its Prev, but it does not become their head: a partner's
// event neither changes custody nor makes a signer's `after` stale.
func appendEntry(w Writer, e *Entry, lots, partner []LotRef, parts []common.Address) (tlog.Hash, error) {
	for _, l := range partner {
		if prev, ok, err := w.Get(lotHeadKey(l)); err != nil {
			return tlog.Hash{}, err
		} else if ok && len(prev) == 8 {
			if e.Prev == nil {
				e.Prev = make(map[string]uint64, len(partner))
			}
			e.Prev[l.String()] = binary.BigEndian.Uint64(prev)
		}
	}
	for _, l := range lots {
		k := lotHeadKey(l)
		if prev, ok, err := w.Get(k); err != nil {
			return tlog.Hash{}, err
		} else if ok && len(prev) == 8 {
			if e.Prev == nil {
				e.Prev = make(map[string]uint64, len(lots))
			}
			e.Prev[l.String()] = binary.BigEndian.Uint64(prev)
		}
		if err := w.Set(k, u64(e.Seq)); err != nil {
			return tlog.Hash{}, err
		}
		if err := setLotMapHead(w, l, e.Seq); err != nil {
			return tlog.Hash{}, err
		}
	}
	data, err := MarshalEntry(e)
	if err != nil {
		return tlog.Hash{}, err
	}
	leaf := LeafHash(data)
	if err := w.Set(entryKey(e.Seq), data); err != nil {
		return leaf, err
	}
	if err := appendLeaf(w, int64(e.Seq), leaf); err != nil {
		return leaf, err
	}
	for _, l := range append(lots[:len(lots):len(lots)], partner...) {
		if err := w.Set(cat(lotIndexPrefix(l), u64(e.Seq)), nil); err != nil {
			return leaf, err
		}
	}
	for _, p := range parts {
		if err := w.Set(cat(partIndexPrefix(p), u64(e.Seq)), nil); err != nil {
			return leaf, err
		}
	}
	return leaf, putSize(w, e.Seq+1)
}

func applyGenesis(w Writer, c *Command) error {
	n, err := Size(w)
	if err != nil || n != 0 {
		return err // a ledger has one genesis; a repeated proposal is a no-op
	}
	admins := make([]string, len(c.Admins))
	for i, a := range c.Admins {
		admins[i] = a.Hex()
	}
	rec, err := json.Marshal(map[string]any{"type": TypeGenesis, "admins": admins})
	if err != nil {
		return err
	}
	canon, err := Canonicalize(rec)
	if err != nil {
		return err
	}
	e := &Entry{Seq: 0, Type: TypeGenesis, RecordTime: c.Time.UTC().Format(time.RFC3339Nano), Record: canon}
	if _, err := appendEntry(w, e, nil, nil, c.Admins); err != nil {
		return err
	}
	if err := w.Set(keyEventIndex, eventIndexVersion); err != nil {
		return err
	}
	for _, a := range c.Admins {
		p := &ParticipantInfo{Address: a.Hex(), Name: "Genesis admin", Roles: []string{RoleAdmin}}
		if err := putJSON(w, participantKey(a), p); err != nil {
			return err
		}
		if err := w.Set(cat(regIndexPrefix(a), u64(0)), nil); err != nil {
			return err
		}
	}
	return nil
}

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
	l, err := GetLot(a.w, ref)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, refuse(ErrUnknownLot.Detail("%s", ref))
	}
	return l, nil
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
	if l, err := GetLot(a.w, h.Lot); err != nil {
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
		if l, err := GetLot(a.w, o.Lot); err != nil {
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
