package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/ethereum/go-ethereum/common"

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
	s.serveRead(w, r, readSpec{key: "epcis\x00" + ref.String(), contentType: epcis.MediaType, heavy: true,
		build: func() ([]byte, func(ledger.Reader) (bool, error), error) { return s.buildEPCIS(ref) }})
}

// buildEPCIS builds the EPCIS document of ref and the check that it is
// still current: the document is made of the entries of ref and its
// ancestors (whose set never changes: a lot's parents are fixed when it is
// made) and of what their participants registered, so it stands while
// every one of those lots keeps its head and every participant it names
// its updated_seq. Its creationDate is when it was built.
func (s *Server) buildEPCIS(ref ledger.LotRef) ([]byte, func(ledger.Reader) (bool, error), error) {
	var doc *epcis.Document
	heads := map[ledger.LotRef]uint64{}
	parties := map[common.Address]uint64{}
	err := s.cluster.Store().View(func(rd ledger.Reader) error {
		entries, lots, err := upstreamEntries(rd, ref)
		if err != nil {
			return err
		}
		for _, l := range lots {
			if heads[l], _, err = ledger.LotHead(rd, l); err != nil {
				return err
			}
		}
		party := func(address string) (*ledger.ParticipantInfo, error) {
			a, err := ledger.ParseAddress(address)
			if err != nil {
				return nil, err
			}
			p, err := ledger.GetParticipant(rd, a)
			if err == nil {
				parties[a] = participantVersion(p)
			}
			return p, err
		}
		doc, err = epcis.FromEntries(entries, party, s.cfg.Clock())
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("encode EPCIS document of %s: %w", ref, err)
	}
	current := func(rd ledger.Reader) (bool, error) {
		for l, h := range heads {
			if now, _, err := ledger.LotHead(rd, l); err != nil || now != h {
				return false, err
			}
		}
		for a, v := range parties {
			if p, err := ledger.GetParticipant(rd, a); err != nil || participantVersion(p) != v {
				return false, err
			}
		}
		return true, nil
	}
	return b, current, nil
}

// participantVersion is the seq of a participant's latest registration,
// 0 when it is not registered.
func participantVersion(p *ledger.ParticipantInfo) uint64 {
	if p == nil {
		return 0
	}
	return p.UpdatedSeq
}

// upstreamEntries returns, in log order, every entry that names ref or one
// of its ancestors (its parents, their parents, … back to each harvest),
// and those lots.
// Like a provenance bundle, it refuses a graph of more than
// ledger.MaxBundleEntries entries.
func upstreamEntries(rd ledger.Reader, ref ledger.LotRef) ([]*ledger.Entry, []ledger.LotRef, error) {
	lot, err := ledger.GetLot(rd, ref)
	if err != nil {
		return nil, nil, fmt.Errorf("lot %s: %w", ref, err)
	}
	if lot == nil {
		return nil, nil, ledger.ErrUnknownLot.Detail("%s", ref)
	}
	tooLarge := ledger.ErrBundleTooLarge.Detail("more than %d entries upstream of %s", ledger.MaxBundleEntries, ref)
	seqs := map[uint64]bool{}
	var lots []ledger.LotRef
	err = ledger.WalkLots(rd, []*ledger.Lot{lot}, ledger.Upstream, ledger.MaxBundleEntries, func(l *ledger.Lot) (bool, error) {
		lots = append(lots, l.Ref())
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
		return nil, nil, tooLarge
	}
	if err != nil {
		return nil, nil, err
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
			return nil, nil, fmt.Errorf("entry %d: %w", s, err)
		}
		out = append(out, e)
	}
	return out, lots, nil
}
