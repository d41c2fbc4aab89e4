package api

import (
	"net/http"
	"strconv"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/ledger"
)

// ParticipantList is the answer of GET /v1/participants: a page of
// registered participants, and the address to continue after ("after")
// when more follow.
type ParticipantList struct {
	Participants []*ledger.ParticipantInfo `json:"participants"`
	Next         string                    `json:"next,omitempty"`
}

// maxParticipantPage bounds one page of GET /v1/participants.
const maxParticipantPage = 500

// listParticipants answers GET /v1/participants?role=&q=&after=&limit=:
// whom a field app offers as the recipient of a transfer, or an inspector
// looks up.
func (s *Server) listParticipants(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	q := ledger.ParticipantQuery{Role: qs.Get("role"), Q: qs.Get("q"), Limit: 100}
	if q.Role != "" && !ledger.IsRole(q.Role) {
		s.writeError(w, r, ledger.ErrInvalidField.Detail("role %q (want admin, producer, processor, distributor, retailer or inspector)", q.Role))
		return
	}
	if n := len([]rune(q.Q)); n > 100 {
		s.writeError(w, r, ledger.ErrInvalidField.Detail("q is %d characters, at most 100", n))
		return
	}
	if a := qs.Get("after"); a != "" {
		addr, err := ledger.ParseAddress(a)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		q.After = addr
	}
	if l := qs.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxParticipantPage {
			s.writeError(w, r, ledger.ErrInvalidField.Detail("limit must be 1–%d", maxParticipantPage))
			return
		}
		q.Limit = n
	}
	if !s.readConsistent(w, r) {
		return
	}
	var list ParticipantList
	err := s.cluster.Store().View(func(rd ledger.Reader) error {
		found, more, err := ledger.FindParticipants(rd, q)
		list.Participants = found
		if more && len(found) > 0 {
			list.Next = common.HexToAddress(found[len(found)-1].Address).Hex()
		}
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list.Participants == nil {
		list.Participants = []*ledger.ParticipantInfo{}
	}
	writeJSON(w, http.StatusOK, list)
}

// ParticipantLots is the answer of GET /v1/participants/{address}/lots.
type ParticipantLots struct {
	Held     []*ledger.Lot `json:"held"`
	Incoming []*ledger.Lot `json:"incoming"`
	// Complete is false for a participant whose history is too long to
	// read at once; the lots of its oldest entries are listed then.
	Complete bool `json:"complete"`
}

// getParticipantLots answers GET /v1/participants/{address}/lots: the
// lots the participant holds and those on their way to it.
func (s *Server) getParticipantLots(w http.ResponseWriter, r *http.Request) {
	addr, err := addressVar(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.readConsistent(w, r) {
		return
	}
	out := ParticipantLots{Held: []*ledger.Lot{}, Incoming: []*ledger.Lot{}}
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		p, err := ledger.GetParticipant(rd, addr)
		if err != nil {
			return err
		}
		if p == nil {
			return ledger.ErrUnknownParticipant.Detail("%s", addr.Hex())
		}
		held, incoming, complete, err := ledger.ParticipantLots(rd, addr)
		if held != nil {
			out.Held = held
		}
		if incoming != nil {
			out.Incoming = incoming
		}
		out.Complete = complete
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
