package ledger

import (
	"encoding/json"
	"slices"
	"strconv"
)

// The views of the lot and entry reads: what GET /v1/lots/{gtin}/{lot}
// and GET /v1/entries/{seq} answer, and the consumer resolver serves as
// JSON. They are read logic over the state, so they live beside it; the
// api only encodes them.

// EntryView is an entry as the API shows it: the stored entry plus its
// leaf hash, with the record as a JSON object.
type EntryView struct {
	Seq        uint64          `json:"seq"`
	Hash       string          `json:"hash"`
	Type       string          `json:"type"`
	RecordTime string          `json:"record_time"`
	Signer     string          `json:"signer,omitempty"`
	Record     json.RawMessage `json:"record"`
	Signature  string          `json:"signature,omitempty"`
	// Prev is each named lot's previous entry (see Entry).
	Prev map[string]uint64 `json:"prev,omitempty"`
}

// LotView is the answer of GET /v1/lots/{gtin}/{lot}: the lot's state
// and one page of its entries, oldest first, at most maxLotEntries of them
// (see LotPage). Next, when set, is the ?from= of the following page;
// Older, when set, the ?before= of the page of older entries.
type LotView struct {
	Lot     *Lot        `json:"lot"`
	Entries []EntryView `json:"entries"`
	Next    *uint64     `json:"next,omitempty"`
	Older   *uint64     `json:"older,omitempty"`
}

// LotPage selects a page of a lot's history. From pages forward from a
// seq (?from=, the default being the oldest entry, with Next leading on);
// Before pages backward (?before=): the newest entries below that seq,
// with Older leading further back. ?before= the ledger size (or any larger
// number) is the lot's newest page, what a reader of a lot inspected daily
// for years wants; the consumer page links there. They exclude each other.
type LotPage struct {
	From, Before *uint64
}

// maxLotEntries bounds one page of a lot's history: a lot inspected every
// day for years must not make one answer unbounded.
const maxLotEntries = 1000

// String names the page in cache keys.
func (p LotPage) String() string {
	switch {
	case p.Before != nil:
		return "before=" + strconv.FormatUint(*p.Before, 10)
	case p.From != nil:
		return "from=" + strconv.FormatUint(*p.From, 10)
	}
	return "from=0"
}

// ReadLotView reads a lot's state and one page of its entries from seq
// from on.
func ReadLotView(rd Reader, ref LotRef, from uint64) (LotView, error) {
	return ReadLotPage(rd, ref, LotPage{From: &from})
}

// ReadLotPage reads a lot's state and one page of its entries: the answer
// of GET /v1/lots/{gtin}/{lot} (api), which the consumer resolver serves too.
func ReadLotPage(rd Reader, ref LotRef, page LotPage) (LotView, error) {
	l, err := GetLot(rd, ref)
	if err != nil {
		return LotView{}, err
	}
	if l == nil {
		return LotView{}, ErrUnknownLot.Detail("%s", ref)
	}
	view := LotView{Lot: l}
	if page.Before == nil {
		var from uint64
		if page.From != nil {
			from = *page.From
		}
		view.Entries, view.Next, err = entriesOf(rd, ref, from, maxLotEntries)
		return view, err
	}
	// Backward: the index is read in log order (keys only, 8 bytes each),
	// then only the page's entries.
	seqs, err := LotSeqs(rd, ref)
	if err != nil {
		return LotView{}, err
	}
	n, _ := slices.BinarySearch(seqs, *page.Before)
	seqs = seqs[:n]
	if len(seqs) > maxLotEntries {
		seqs = seqs[len(seqs)-maxLotEntries:]
		view.Older = &seqs[0]
	}
	view.Entries, err = viewEntries(rd, seqs)
	return view, err
}

// entriesOf returns up to limit entries of a lot from seq from on, and the
// seq to continue from when there are more.
func entriesOf(rd Reader, ref LotRef, from uint64, limit int) ([]EntryView, *uint64, error) {
	seqs, err := LotSeqsFrom(rd, ref, from, limit+1)
	if err != nil {
		return nil, nil, err
	}
	var next *uint64
	if len(seqs) > limit {
		next = &seqs[limit]
		seqs = seqs[:limit]
	}
	out, err := viewEntries(rd, seqs)
	return out, next, err
}

// viewEntries reads the entries seqs.
func viewEntries(rd Reader, seqs []uint64) ([]EntryView, error) {
	out := make([]EntryView, 0, len(seqs))
	for _, seq := range seqs {
		e, data, err := GetEntry(rd, seq)
		if err != nil {
			return nil, err
		}
		out = append(out, ViewEntry(e, data))
	}
	return out, nil
}

// ViewEntry is entry e, whose stored bytes are data, as the API shows it.
func ViewEntry(e *Entry, data []byte) EntryView {
	return EntryView{Seq: e.Seq, Hash: HashHex(LeafHash(data)), Type: e.Type,
		RecordTime: e.RecordTime, Signer: e.Signer, Record: e.Record, Signature: e.Signature, Prev: e.Prev}
}
