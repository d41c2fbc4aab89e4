package ledger

import (
	"encoding/binary"
	"encoding/json"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// ParticipantQuery selects registered participants: those holding Role
// (any role when empty) whose name, address, GLN, tax code or location
// contains Q (case-insensitively; any when empty), in address order from
// After (exclusive; from the start when zero), at most Limit of them.
type ParticipantQuery struct {
	Role  string
	Q     string
	After common.Address
	Limit int
}

// FindParticipants lists the participants q selects. More is true when
// others follow the last one returned; ask again with After set to it.
func FindParticipants(r Reader, q ParticipantQuery) (found []*ParticipantInfo, more bool, err error) {
	needle := strings.ToLower(q.Q)
	start := prefixParticipant
	if q.After != (common.Address{}) {
		start = cat(participantKey(q.After), []byte{0}) // just past After
	}
	var scanErr error
	err = r.Scan(prefixParticipant, start, func(key, val []byte) bool {
		var p ParticipantInfo
		if err := json.Unmarshal(val, &p); err != nil {
			scanErr = errCorrupt("%q: %v", key, err)
			return false
		}
		if q.Role != "" && !p.HasRole(q.Role) {
			return true
		}
		if needle != "" && !p.matches(needle) {
			return true
		}
		if len(found) == q.Limit {
			more = true
			return false
		}
		found = append(found, &p)
		return true
	})
	if err == nil {
		err = scanErr
	}
	return found, more, err
}

// matches reports whether the participant's name, address, GLN, tax code
// or location name contains needle (lower case).
func (p *ParticipantInfo) matches(needle string) bool {
	for _, s := range []string{p.Name, p.Address, p.GLN, p.TaxCode} {
		if strings.Contains(strings.ToLower(s), needle) {
			return true
		}
	}
	if p.Location != nil {
		for _, s := range []string{p.Location.Name, p.Location.Province} {
			if strings.Contains(strings.ToLower(s), needle) {
				return true
			}
		}
	}
	return false
}

// IsRole reports whether s names one of the participant roles.
func IsRole(s string) bool { return validRoles[s] }

// maxCustodyScan bounds the entries ParticipantLots reads.
const maxCustodyScan = 20000

// ParticipantLots returns the lots addr holds now (not consumed) and the
// lots in transit to it, found through the entries that name it: what a
// field app lists as "my lots" and "on the way to me". Complete is false
// when the participant's history is longer than one call reads; the lots
// of its first maxCustodyScan entries are then the ones returned.
func ParticipantLots(r Reader, addr common.Address) (held, incoming []*Lot, complete bool, err error) {
	seen := map[LotRef]bool{}
	var refs []LotRef
	n := 0
	complete = true
	prefix := partIndexPrefix(addr)
	var scanErr error
	err = r.Scan(prefix, nil, func(key, _ []byte) bool {
		if n == maxCustodyScan {
			complete = false
			return false
		}
		n++
		if len(key) != len(prefix)+8 {
			return true
		}
		e, _, err := GetEntry(r, binary.BigEndian.Uint64(key[len(prefix):]))
		if err != nil {
			scanErr = err
			return false
		}
		if e.Type == TypeGenesis || e.Type == TypeParticipant {
			return true
		}
		rec, err := DecodeRecord(e.Record)
		if err != nil {
			scanErr = errCorrupt("entry %d: %v", e.Seq, err)
			return false
		}
		for _, l := range rec.Lots() {
			if !seen[l] {
				seen[l] = true
				refs = append(refs, l)
			}
		}
		return true
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return nil, nil, false, err
	}
	me := addr.Hex()
	for _, ref := range refs {
		l, err := GetLot(r, ref)
		if err != nil {
			return nil, nil, false, err
		}
		switch {
		case l == nil:
		case l.InTransitTo == me:
			incoming = append(incoming, l)
		case l.Holder == me && l.Status != StatusConsumed:
			held = append(held, l)
		}
	}
	return held, incoming, complete, nil
}
