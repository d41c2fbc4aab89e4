package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/gorilla/mux"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

// ParticipantView is the answer of GET /v1/participants/{address}.
type ParticipantView struct {
	Participant *ledger.ParticipantInfo `json:"participant"`
	// Entries lists the sequence numbers of entries the participant signed
	// or is named in, oldest first (at most 1 000; page with ?from=SEQ).
	Entries []uint64 `json:"entries"`
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
			var view ledger.LotView
			var current func(ledger.Reader) (bool, error)
			err := s.cluster.Store().View(func(rd ledger.Reader) (err error) {
				if view, err = ledger.ReadLotPage(rd, ref, page); err != nil {
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
func lotPage(r *http.Request) (ledger.LotPage, error) {
	var p ledger.LotPage
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

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(mux.Vars(r)["seq"], 10, 64)
	if err != nil {
		s.writeError(w, r, ledger.ErrInvalidField.Detail("seq must be a non-negative integer"))
		return
	}
	if !s.readConsistent(w, r) {
		return
	}
	var view ledger.EntryView
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		e, data, err := ledger.GetEntry(rd, seq)
		if err != nil {
			return err
		}
		view = ledger.ViewEntry(e, data)
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
