package api

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/ethereum/go-ethereum/common"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

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
	// Prev is each named lot's previous entry (see ledger.Entry).
	Prev map[string]uint64 `json:"prev,omitempty"`
}

// LotView is the answer of GET /v1/lots/{gtin}/{lot}: the lot's state
// and one page of its entries, oldest first, at most maxLotEntries of them
// (see LotPage). Next, when set, is the ?from= of the following page;
// Older, when set, the ?before= of the page of older entries.
type LotView struct {
	Lot     *ledger.Lot `json:"lot"`
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

// ParticipantView is the answer of GET /v1/participants/{address}.
type ParticipantView struct {
	Participant *ledger.ParticipantInfo `json:"participant"`
	// Entries lists the sequence numbers of entries the participant signed
	// or is named in, oldest first (at most 1 000; page with ?from=SEQ).
	Entries []uint64 `json:"entries"`
}

func viewEntry(e *ledger.Entry, data []byte) EntryView {
	return EntryView{Seq: e.Seq, Hash: ledger.HashHex(ledger.LeafHash(data)), Type: e.Type,
		RecordTime: e.RecordTime, Signer: e.Signer, Record: e.Record, Signature: e.Signature, Prev: e.Prev}
}

// readConsistent prepares a read. By default reads are served from the
// local state (possibly a little behind the leader). With
// ?consistency=linearizable the leader confirms its leadership with a
// quorum and waits for its state to include every committed entry; a
// follower forwards such a read to the leader. It returns false when it has
// already answered.
func (s *Server) readConsistent(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Query().Get("consistency") {
	case "", "local":
		return true
	case "linearizable":
	default:
		s.writeError(w, r, errBadRequest.with("consistency must be local or linearizable"))
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	err := s.cluster.Linearize(ctx)
	switch {
	case err == nil:
		return true
	case errors.Is(err, consensus.ErrNotLeader):
		s.forwardToLeader(w, r, nil, s.writeError)
	default:
		s.writeError(w, r, err)
	}
	return false
}

func pathVar(r *http.Request, name string) (string, error) {
	v, err := url.PathUnescape(mux.Vars(r)[name])
	if err != nil {
		return "", ledger.ErrInvalidField.Detail("%s is not validly percent-encoded", name)
	}
	return v, nil
}

// lotRef parses and normalises the {gtin}/{lot} path variables.
func lotRef(r *http.Request) (ledger.LotRef, error) {
	g, err := pathVar(r, "gtin")
	if err != nil {
		return ledger.LotRef{}, err
	}
	lot, err := pathVar(r, "lot")
	if err != nil {
		return ledger.LotRef{}, err
	}
	gtin, err := ledger.NormalizeGTIN(g)
	if err != nil {
		return ledger.LotRef{}, err
	}
	if err := ledger.CheckLot(lot); err != nil {
		return ledger.LotRef{}, err
	}
	return ledger.LotRef{GTIN: gtin, Lot: lot}, nil
}

func (s *Server) getLot(w http.ResponseWriter, r *http.Request) {
	ref, err := lotRef(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := lotPage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.readConsistent(w, r) {
		return
	}
	s.serveRead(w, r, readSpec{key: "lot\x00" + ref.String() + "\x00" + page.String(), contentType: contentTypeJSON,
		build: func() ([]byte, func(ledger.Reader) (bool, error), error) {
			var view LotView
			var current func(ledger.Reader) (bool, error)
			err := s.cluster.Store().View(func(rd ledger.Reader) (err error) {
				if view, err = ReadLotPage(rd, ref, page); err != nil {
					return err
				}
				current, err = lotUnchanged(rd, ref)
				return err
			})
			if err != nil {
				return nil, nil, err
			}
			b, err := json.Marshal(view)
			return b, current, err
		}})
}

// lotPage parses ?from= and ?before=.
func lotPage(r *http.Request) (LotPage, error) {
	var p LotPage
	q := r.URL.Query()
	for name, dst := range map[string]**uint64{"from": &p.From, "before": &p.Before} {
		if !q.Has(name) {
			continue
		}
		n, err := queryUint(r, name, 0)
		if err != nil {
			return p, err
		}
		*dst = &n
	}
	if p.From != nil && p.Before != nil {
		return p, ledger.ErrInvalidField.Detail("from and before exclude each other")
	}
	return p, nil
}

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
func ReadLotView(rd ledger.Reader, ref ledger.LotRef, from uint64) (LotView, error) {
	return ReadLotPage(rd, ref, LotPage{From: &from})
}

// ReadLotPage reads a lot's state and one page of its entries: the answer
// of GET /v1/lots/{gtin}/{lot}, which the consumer resolver serves too.
func ReadLotPage(rd ledger.Reader, ref ledger.LotRef, page LotPage) (LotView, error) {
	l, err := ledger.GetLot(rd, ref)
	if err != nil {
		return LotView{}, err
	}
	if l == nil {
		return LotView{}, ledger.ErrUnknownLot.Detail("%s", ref)
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
	seqs, err := ledger.LotSeqs(rd, ref)
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
func entriesOf(rd ledger.Reader, ref ledger.LotRef, from uint64, limit int) ([]EntryView, *uint64, error) {
	seqs, err := ledger.LotSeqsFrom(rd, ref, from, limit+1)
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
func viewEntries(rd ledger.Reader, seqs []uint64) ([]EntryView, error) {
	out := make([]EntryView, 0, len(seqs))
	for _, seq := range seqs {
		e, data, err := ledger.GetEntry(rd, seq)
		if err != nil {
			return nil, err
		}
		out = append(out, viewEntry(e, data))
	}
	return out, nil
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(mux.Vars(r)["seq"], 10, 64)
	if err != nil {
		s.writeError(w, r, ledger.ErrInvalidField.Detail("seq must be a non-negative integer"))
		return
	}
	if !s.readConsistent(w, r) {
		return
	}
	var view EntryView
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		e, data, err := ledger.GetEntry(rd, seq)
		if err != nil {
			return err
		}
		view = viewEntry(e, data)
		return nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// addressVar parses the {address} of a participant's path.
func addressVar(r *http.Request) (common.Address, error) {
	raw, err := pathVar(r, "address")
	if err != nil {
		return common.Address{}, err
	}
	return ledger.ParseAddress(raw)
}

func (s *Server) getParticipant(w http.ResponseWriter, r *http.Request) {
	addr, err := addressVar(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var from uint64
	if f := r.URL.Query().Get("from"); f != "" {
		if from, err = strconv.ParseUint(f, 10, 64); err != nil {
			s.writeError(w, r, ledger.ErrInvalidField.Detail("from must be a non-negative integer"))
			return
		}
	}
	if !s.readConsistent(w, r) {
		return
	}
	var view ParticipantView
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		p, err := ledger.GetParticipant(rd, addr)
		if err != nil {
			return err
		}
		if p == nil {
			return ledger.ErrUnknownParticipant.Detail("%s", addr.Hex())
		}
		view.Participant = p
		view.Entries, err = ledger.ParticipantSeqs(rd, addr, from, 1000)
		if view.Entries == nil {
			view.Entries = []uint64{}
		}
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}
