package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/traceledger/traceledger/api/epcis"
	"github.com/traceledger/traceledger/ledger"
)

// getEPCIS serves GET /v1/lots/{gtin}/{lot}/epcis: the lot's upstream
// history as a GS1 EPCIS 2.0 JSON-LD document (application/ld+json), one
// event per entry that names the lot or one of its ancestors back to each
// harvest, in log order (see package epcis for the mapping). Each event
// carries its ledger seq and entry hash, so that the provenance bundle of
// the same lot proves it.
func (s *Server) getEPCIS(w http.ResponseWriter, r *http.Request) {
	ref, err := lotRef(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.readConsistent(w, r) {
		return
	}
	var doc *epcis.Document
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		entries, err := upstreamEntries(rd, ref)
		if err != nil {
			return err
		}
		parties := func(address string) (*ledger.ParticipantInfo, error) {
			a, err := ledger.ParseAddress(address)
			if err != nil {
				return nil, err
			}
			return ledger.GetParticipant(rd, a)
		}
		doc, err = epcis.FromEntries(entries, parties, s.cfg.Clock())
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := json.Marshal(doc)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode EPCIS document of %s: %w", ref, err))
		return
	}
	w.Header().Set("Content-Type", epcis.MediaType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

// upstreamEntries returns, in log order, every entry that names ref or one
// of its ancestors (its parents, their parents, … back to each harvest).
// Like a provenance bundle, it refuses a graph of more than
// ledger.MaxBundleEntries entries.
func upstreamEntries(rd ledger.Reader, ref ledger.LotRef) ([]*ledger.Entry, error) {
	lot, err := ledger.GetLot(rd, ref)
	if err != nil {
		return nil, fmt.Errorf("lot %s: %w", ref, err)
	}
	if lot == nil {
		return nil, ledger.ErrUnknownLot.Detail("%s", ref)
	}
	tooLarge := ledger.ErrBundleTooLarge.Detail("more than %d entries upstream of %s", ledger.MaxBundleEntries, ref)
	seqs := map[uint64]bool{}
	err = ledger.WalkLots(rd, []*ledger.Lot{lot}, ledger.Upstream, ledger.MaxBundleEntries, func(l *ledger.Lot) (bool, error) {
		list, err := ledger.LotSeqs(rd, l.Ref())
		if err != nil {
			return false, fmt.Errorf("entries of %s: %w", l.Ref(), err)
		}
		for _, s := range list {
			seqs[s] = true
		}
		if len(seqs) > ledger.MaxBundleEntries {
			return false, tooLarge
		}
		return true, nil
	})
	if errors.Is(err, ledger.ErrLotGraphTooLarge) {
		return nil, tooLarge
	}
	if err != nil {
		return nil, err
	}
	ordered := make([]uint64, 0, len(seqs))
	for s := range seqs {
		ordered = append(ordered, s)
	}
	slices.Sort(ordered)
	out := make([]*ledger.Entry, 0, len(ordered))
	for _, s := range ordered {
		e, _, err := ledger.GetEntry(rd, s)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", s, err)
		}
		out = append(out, e)
	}
	return out, nil
}
