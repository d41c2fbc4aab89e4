package consumer

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/ledger"
)

// Bounds of one page's walk through the lot graph. Real products have a
// handful of ancestor lots; the bounds keep a pathological graph from
// making one page view expensive.
const (
	maxLineageLots = 256
	// maxPageEntries is how many of the newest entries a page shows; the
	// page links to the lot's JSON for older ones (model.OlderBefore). A
	// step weighs about 500 bytes of HTML, so a page stays readable on 3G.
	maxPageEntries = 500
)

// Kinds of journey events.
const (
	kindHarvest   = "harvest"
	kindHandover  = "handover"
	kindTransform = "transform"
	kindInspect   = "inspect"
	kindRecall    = "recall"
	// kindPartner is a partner's own EPCIS event on a lot (an `epcis`
	// record): shown in the journey, it changes no custody.
	kindPartner = "partner"
)

// party is a participant as the page names it.
type party struct {
	Address    string
	Name       string // registered name; a shortened address when unregistered
	Town       string // "Quận Long Biên, Hà Nội", from the registered location
	Registered bool
}

// placeInfo is a place with its map link.
type placeInfo struct {
	Name, Province, GrowingArea string
	// MapURL is an OpenStreetMap link built from the place's geo
	// coordinates, "" when there are none or they are not valid.
	MapURL string
}

// Text is "name, province" without empty parts.
func (p *placeInfo) Text() string { return joinNonEmpty(p.Name, p.Province) }

// lotQty is a lot and a quantity of it, as a transform names them.
type lotQty struct {
	Ref      ledger.LotRef
	Product  ledger.Product
	Quantity ledger.Quantity
}

// certInfo is a certificate recorded for a lot of the lineage: by its
// producer at harvest, or by an inspector.
type certInfo struct {
	ledger.Certificate
	Lot ledger.LotRef
	By  *party
}

// event is one step of the journey. Which fields are set depends on Kind.
type event struct {
	Kind    string
	Take    string // harvest: takeHarvest or takeCatch
	Seq     uint64
	Time    time.Time // when it happened in the field, as the signer recorded it
	Lot     ledger.LotRef
	Product ledger.Product // of Lot
	Own     bool           // Lot is the lot the page is about
	By      *party         // the signer
	SigOK   bool

	To            *party     // handover: the recipient
	Received      time.Time  // handover: zero while in transit
	Place         *placeInfo // where it happened, when recorded
	ReceivedPlace *placeInfo
	Quantity      ledger.Quantity
	Process       string
	Inputs        []lotQty
	Outputs       []lotQty
	Result, Note  string
	Cert          *certInfo
	Reason        string
	Step          string // partner: the event's bizStep, a CBV word in words or a URI
}

// How a harvest was taken: gathered on a farm (the default), or caught at
// sea or in a river, which Vietnamese says with another verb ("đánh bắt",
// not "thu hoạch").
const (
	takeHarvest = "harvest"
	takeCatch   = "catch"
)

// harvestAttr is the harvest attribute that says how it was taken:
// "catch" for fish and seafood; without it, the product's name decides.
const harvestAttr = "harvest_method"

// takeOf decides how a harvest was taken from its attributes, or else from
// its product: fish and seafood are caught.
func takeOf(h *ledger.Harvest) string {
	var attrs map[string]any
	if len(h.Attrs) > 0 && json.Unmarshal(h.Attrs, &attrs) == nil {
		if v, ok := attrs[harvestAttr].(string); ok {
			if strings.EqualFold(v, takeCatch) {
				return takeCatch
			}
			return takeHarvest
		}
	}
	name := strings.ToLower(h.Product.Name)
	for _, p := range []string{"cá ", "tôm ", "mực ", "cua ", "ghẹ ", "sò ", "hàu ", "ngao ", "ốc ", "bạch tuộc"} {
		if strings.HasPrefix(name, p) {
			return takeCatch
		}
	}
	en := strings.ToLower(h.Product.NameEN)
	for _, w := range []string{"fish", "anchov", "shrimp", "prawn", "squid", "crab", "tuna", "mackerel", "oyster", "clam"} {
		if strings.Contains(en, w) {
			return takeCatch
		}
	}
	return takeHarvest
}

// harvestInfo is one harvest the lot descends from.
type harvestInfo struct {
	Kind     string // takeHarvest or takeCatch
	Lot      ledger.LotRef
	Product  ledger.Product
	Quantity ledger.Quantity
	Place    placeInfo
	Time     time.Time
	Producer *party
	Certs    []*certInfo
}

// recallInfo explains a recall of the lot or of one of its ancestors.
type recallInfo struct {
	Reason        string
	Origin        ledger.LotRef
	OriginProduct ledger.Product
	OwnLot        bool // the recall named this very lot
	Time          time.Time
	By            *party
}

// verifyResult is what re-verifying the page's signatures found.
type verifyResult struct {
	Checked, Valid int
	Bad            []uint64 // seqs whose signature does not recover to the signer
	AllRegistered  bool
}

// model is everything a page shows about a lot, in no particular language.
// It is built from one consistent read of the ledger and then never
// changed, so that it can be shared between concurrent requests.
type model struct {
	Ref       ledger.LotRef
	Lot       *ledger.Lot
	Holder    *party
	Harvests  []*harvestInfo
	Events    []*event
	Certs     []*certInfo
	Recall    *recallInfo
	Verify    verifyResult
	MaxSeq    uint64 // the newest entry shown
	Truncated bool
	// OlderBefore, when not 0, is the oldest entry shown of a history cut
	// to its newest maxPageEntries: the ?before= of the lot JSON's page of
	// older entries.
	OlderBefore uint64

	// cutoff is, for each lot of the lineage, the newest of its entries
	// the journey takes (math.MaxUint64 for the page's own lot); shown is
	// every entry on the page. The verification panel checks them against
	// the lot heads a checkpoint commits to (checkHeads).
	cutoff map[ledger.LotRef]uint64
	shown  map[uint64]bool

	// partySeq is each named participant's UpdatedSeq when the model was
	// built: a re-registration (new name or town) makes the model stale
	// even though the lot did not change.
	partySeq map[common.Address]uint64
	// fingerprint identifies the data the model was built from; it goes
	// into every ETag of the page.
	fingerprint string
	// checked is when partySeq was last compared with the ledger (Unix
	// nanoseconds of the consumer's clock). It changes after the model is
	// built, hence atomic.
	checked atomic.Int64
	// heads is the verification panel's lot-head check against the
	// checkpoint of size headsAt: it costs a proof per lineage lot, so it
	// is made once per model and checkpoint, not once per request.
	// headsMu guards both.
	headsMu sync.Mutex
	headsAt uint64
	heads   *headState
}

// cachedHeads returns the lot-head check against the checkpoint of the
// given size, if it was made.
func (m *model) cachedHeads(size uint64) (headState, bool) {
	m.headsMu.Lock()
	defer m.headsMu.Unlock()
	if m.heads == nil || m.headsAt != size {
		return headState{}, false
	}
	return *m.heads, true
}

// keepHeads records the lot-head check against the checkpoint of size.
func (m *model) keepHeads(size uint64, h headState) {
	m.headsMu.Lock()
	defer m.headsMu.Unlock()
	m.headsAt, m.heads = size, &h
}

// decodedEntry is an entry of the page with its record and whether its
// signature verified.
type decodedEntry struct {
	e     *ledger.Entry
	rec   *ledger.Record
	sigOK bool
}

// buildModel reads the lot's history, walking upstream through transforms
// to every harvest. An ancestor's entries are taken up to the transform that
// made the next lot of the lineage: what became of the rest of the
// ancestor afterwards (sold elsewhere, say) is not this product's journey.
// A recall is the exception: the ledger marks descendants of a recalled lot
// recalled, and the page shows the recall entry wherever it was signed.
//
// Every entry's EIP-191 signature is re-verified with ledger.Recover over
// the record bytes stored in the entry. The caller caches the model by the
// lot and its UpdatedSeq, so the verification runs once per change.
func buildModel(rd ledger.Reader, lot *ledger.Lot) (*model, error) {
	b := &modelBuilder{rd: rd, m: &model{Ref: lot.Ref(), Lot: lot, partySeq: map[common.Address]uint64{}},
		parties: map[string]*party{}, lots: map[ledger.LotRef]*ledger.Lot{},
		pending: map[ledger.LotRef]*event{}, certs: map[string]*certInfo{}}
	m := b.m
	order, err := b.lineage(lot)
	if err != nil {
		return nil, err
	}
	seqs, err := b.pageSeqs(lot, order)
	if err != nil {
		return nil, err
	}
	entries, err := b.verified(seqs)
	if err != nil {
		return nil, err
	}
	for _, d := range entries {
		ev, err := b.event(d)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			m.Events = append(m.Events, ev)
		}
	}
	slices.SortStableFunc(m.Events, func(a, b *event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	if lot.Recalled != nil {
		rc := lot.Recalled
		m.Recall = &recallInfo{Reason: rc.Reason, Origin: rc.Origin, OriginProduct: b.productOf(rc.Origin), OwnLot: rc.Origin == m.Ref}
		for _, ev := range m.Events {
			if ev.Seq == rc.Seq {
				m.Recall.Time, m.Recall.By = ev.Time, ev.By
			}
		}
	}
	if m.Holder, err = b.party(lot.Holder); err != nil {
		return nil, err
	}
	m.fingerprint = m.computeFingerprint()
	return m, nil
}

// modelBuilder holds what buildModel learns as it goes: the participants
// and lots it has read, the transfers awaiting their receive, and the
// certificates already listed. One builder builds one model, on one
// goroutine.
type modelBuilder struct {
	rd      ledger.Reader
	m       *model
	parties map[string]*party
	lots    map[ledger.LotRef]*ledger.Lot // the page's lineage
	pending map[ledger.LotRef]*event      // transfers awaiting their receive
	certs   map[string]*certInfo          // by scheme and number
}

// party is the participant at addr as the page names it, read once.
func (b *modelBuilder) party(addr string) (*party, error) {
	if p, ok := b.parties[addr]; ok {
		return p, nil
	}
	p := &party{Address: addr, Name: shortAddress(addr)}
	b.parties[addr] = p
	a, err := ledger.ParseAddress(addr)
	if err != nil {
		return p, nil
	}
	info, err := ledger.GetParticipant(b.rd, a)
	if err != nil {
		return nil, fmt.Errorf("participant %s: %w", addr, err)
	}
	b.m.partySeq[a] = 0
	if info != nil {
		b.m.partySeq[a] = info.UpdatedSeq
		p.Name, p.Registered = info.Name, true
		if info.Location != nil {
			p.Town = joinNonEmpty(info.Location.Name, info.Location.Province)
		}
	}
	return p, nil
}

// lineage is the lot and its ancestors, breadth first, at most
// maxLineageLots of them (the model is then Truncated).
func (b *modelBuilder) lineage(lot *ledger.Lot) ([]*ledger.Lot, error) {
	var order []*ledger.Lot
	err := ledger.WalkLots(b.rd, []*ledger.Lot{lot}, ledger.Upstream, maxLineageLots, func(l *ledger.Lot) (bool, error) {
		b.lots[l.Ref()] = l
		order = append(order, l)
		return true, nil
	})
	switch {
	case errors.Is(err, ledger.ErrLotGraphTooLarge):
		b.m.Truncated = true
	case err != nil:
		return nil, fmt.Errorf("lineage of %s: %w", lot.Ref(), err)
	}
	return order, nil
}

// pageSeqs lists, in log order, the entries the page shows: each lineage
// lot's entries up to the transform that made the next lot from it, the
// lot's recall wherever it was signed, the newest maxPageEntries of them.
func (b *modelBuilder) pageSeqs(lot *ledger.Lot, order []*ledger.Lot) ([]uint64, error) {
	m := b.m
	cutoff := map[ledger.LotRef]uint64{lot.Ref(): math.MaxUint64}
	for _, x := range order {
		for _, ref := range x.Parents {
			if _, ok := b.lots[ref]; ok && x.CreatedSeq > cutoff[ref] {
				cutoff[ref] = x.CreatedSeq
			}
		}
	}
	seen := map[uint64]bool{}
	var seqs []uint64
	for _, x := range order {
		s, err := ledger.LotSeqs(b.rd, x.Ref())
		if err != nil {
			return nil, fmt.Errorf("entries of %s: %w", x.Ref(), err)
		}
		for _, q := range s {
			if q > cutoff[x.Ref()] {
				break
			}
			if !seen[q] {
				seen[q] = true
				seqs = append(seqs, q)
			}
		}
	}
	if lot.Recalled != nil && !seen[lot.Recalled.Seq] {
		seqs = append(seqs, lot.Recalled.Seq)
	}
	slices.Sort(seqs)
	if len(seqs) > maxPageEntries {
		seqs, m.Truncated = seqs[len(seqs)-maxPageEntries:], true
		m.OlderBefore = seqs[0]
	}
	m.cutoff, m.shown = cutoff, make(map[uint64]bool, len(seqs))
	for _, q := range seqs {
		m.shown[q] = true
	}
	return seqs, nil
}

// verified reads and decodes the entries seqs and checks each one's
// signature, counting the results in the model's Verify.
func (b *modelBuilder) verified(seqs []uint64) ([]decodedEntry, error) {
	m := b.m
	entries := make([]decodedEntry, 0, len(seqs))
	m.Verify.AllRegistered = true
	for _, q := range seqs {
		e, _, err := ledger.GetEntry(b.rd, q)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", q, err)
		}
		m.MaxSeq = max(m.MaxSeq, q)
		m.Verify.Checked++
		// A stored record that no longer decodes is corruption: it counts
		// as a failed verification and is left out of the journey.
		rec, err := ledger.DecodeRecord(e.Record)
		if err != nil || e.CheckSignature() != nil {
			m.Verify.Bad = append(m.Verify.Bad, q)
			if err == nil {
				entries = append(entries, decodedEntry{e: e, rec: rec})
			}
			continue
		}
		m.Verify.Valid++
		entries = append(entries, decodedEntry{e: e, rec: rec, sigOK: true})
	}
	return entries, nil
}

// productOf is the product of a lineage lot, or none for another lot.
func (b *modelBuilder) productOf(ref ledger.LotRef) ledger.Product {
	if l, ok := b.lots[ref]; ok {
		return l.Product
	}
	return ledger.Product{}
}

// cert lists c once, however many records name it.
func (b *modelBuilder) cert(c ledger.Certificate, ref ledger.LotRef, by *party) *certInfo {
	key := c.Scheme + "\x00" + c.Number
	if c.Number == "" {
		key += "\x00" + ref.String() + "\x00" + by.Address
	}
	if ci, ok := b.certs[key]; ok {
		return ci
	}
	ci := &certInfo{Certificate: c, Lot: ref, By: by}
	b.certs[key] = ci
	b.m.Certs = append(b.m.Certs, ci)
	return ci
}

// event turns one entry into a step of the journey, or nil when it adds
// none (a receive completes its transfer's step).
func (b *modelBuilder) event(d decodedEntry) (*event, error) {
	m := b.m
	by, err := b.party(d.e.Signer)
	if err != nil {
		return nil, err
	}
	if !by.Registered {
		m.Verify.AllRegistered = false
	}
	when, _ := ledger.ParseTime(d.rec.Time)
	ev := &event{Seq: d.e.Seq, Time: when, By: by, SigOK: d.sigOK}
	setLot := func(ref ledger.LotRef) {
		ev.Lot, ev.Product, ev.Own = ref, b.productOf(ref), ref == m.Ref
	}
	r := d.rec
	switch {
	case r.Harvest != nil:
		h := r.Harvest
		ev.Kind, ev.Take, ev.Quantity, ev.Place = kindHarvest, takeOf(h), h.Quantity, placeOf(&h.Place)
		setLot(h.Lot)
		hi := &harvestInfo{Kind: ev.Take, Lot: h.Lot, Product: h.Product, Quantity: h.Quantity, Place: *ev.Place, Time: when, Producer: by}
		for _, c := range h.Certificates {
			hi.Certs = append(hi.Certs, b.cert(c, h.Lot, by))
		}
		m.Harvests = append(m.Harvests, hi)
	case r.Transfer != nil:
		t := r.Transfer
		ev.Kind, ev.Place = kindHandover, placeOf(t.Place)
		setLot(t.Lot)
		if ev.To, err = b.party(t.To); err != nil {
			return nil, err
		}
		b.pending[t.Lot] = ev
	case r.Receive != nil:
		if tr := b.pending[r.Receive.Lot]; tr != nil {
			tr.Received, tr.ReceivedPlace = when, placeOf(r.Receive.Place)
			tr.SigOK = tr.SigOK && d.sigOK
			delete(b.pending, r.Receive.Lot)
			return nil, nil
		}
		// The transfer lies outside the page (truncated history).
		ev.Kind, ev.To, ev.By, ev.Received = kindHandover, by, nil, when
		ev.ReceivedPlace = placeOf(r.Receive.Place)
		setLot(r.Receive.Lot)
	case r.Transform != nil:
		t := r.Transform
		ev.Kind, ev.Process, ev.Place = kindTransform, t.Process, placeOf(t.Place)
		for _, in := range t.Inputs {
			ev.Inputs = append(ev.Inputs, lotQty{Ref: in.Lot, Product: b.productOf(in.Lot), Quantity: in.Quantity})
		}
		for _, o := range t.Outputs {
			ev.Outputs = append(ev.Outputs, lotQty{Ref: o.Lot, Product: o.Product, Quantity: o.Quantity})
		}
		// The event belongs to the output on this page's lineage.
		setLot(t.Outputs[0].Lot)
		for _, o := range t.Outputs {
			if _, ok := b.lots[o.Lot]; ok {
				setLot(o.Lot)
				break
			}
		}
	case r.Inspect != nil:
		in := r.Inspect
		ev.Kind, ev.Result, ev.Note, ev.Place = kindInspect, in.Result, in.Note, placeOf(in.Place)
		setLot(in.Lot)
		if in.Certificate != nil {
			ev.Cert = b.cert(*in.Certificate, in.Lot, by)
		}
	case r.Recall != nil:
		ev.Kind, ev.Reason = kindRecall, r.Recall.Reason
		setLot(r.Recall.Lot)
	case r.Epcis != nil:
		sum := r.Epcis.Summary()
		ev.Kind, ev.Step = kindPartner, strings.ReplaceAll(sum.BizStep, "_", " ")
		// The event belongs to the lot of this page's lineage it names.
		for _, l := range sum.Lots {
			ref := ledger.LotRef{GTIN: l.GTIN, Lot: l.Lot}
			if _, ok := b.lots[ref]; ok && (ev.Lot == (ledger.LotRef{}) || ref == m.Ref) {
				setLot(ref)
			}
		}
	default:
		return nil, nil
	}
	return ev, nil
}

// stale reports whether a participant named on the page was re-registered
// since the model was built.
func (m *model) stale(rd ledger.Reader) (bool, error) {
	for a, seq := range m.partySeq {
		p, err := ledger.GetParticipant(rd, a)
		if err != nil {
			return false, fmt.Errorf("participant %s: %w", a.Hex(), err)
		}
		cur := uint64(0)
		if p != nil {
			cur = p.UpdatedSeq
		}
		if cur != seq {
			return true, nil
		}
	}
	return false, nil
}

func (m *model) computeFingerprint() string {
	addrs := make([]common.Address, 0, len(m.partySeq))
	for a := range m.partySeq {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b common.Address) int { return strings.Compare(a.Hex(), b.Hex()) })
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d", m.Ref, m.Lot.UpdatedSeq, m.MaxSeq)
	for _, a := range addrs {
		fmt.Fprintf(h, "\x00%x:%d", a[:], m.partySeq[a])
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func placeOf(p *ledger.Place) *placeInfo {
	if p == nil {
		return nil
	}
	return &placeInfo{Name: p.Name, Province: p.Province, GrowingArea: p.GrowingAreaCode, MapURL: mapURL(p.Geo)}
}

// mapURL turns "lat,lon" (decimal degrees, WGS 84) into an OpenStreetMap
// link with a marker, or "" when geo is empty or out of range. The numbers
// are re-formatted, never copied, so nothing but a number reaches the URL.
func mapURL(geo string) string {
	latS, lonS, ok := strings.Cut(geo, ",")
	if !ok {
		return ""
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(latS), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(lonS), 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return ""
	}
	la, lo := strconv.FormatFloat(lat, 'f', -1, 64), strconv.FormatFloat(lon, 'f', -1, 64)
	return "https://www.openstreetmap.org/?mlat=" + la + "&mlon=" + lo + "#map=14/" + la + "/" + lo
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

func shortAddress(a string) string {
	if len(a) > 10 {
		return a[:6] + "…" + a[len(a)-4:]
	}
	return a
}
