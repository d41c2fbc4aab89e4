package ledger

import (
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
