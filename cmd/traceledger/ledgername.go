package main

// Filling "ledger": the origin of the ledger a record is signed for, so
// that the record cannot be replayed onto another ledger (409
// wrong_ledger there).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// fillLedger sets rec["ledger"] to the origin of the ledger at s.client
// when the record names none. Offline it leaves the field out, and the
// record is valid on any ledger.
func (s *afterSource) fillLedger(ctx context.Context, rec map[string]any) error {
	if _, ok := rec["ledger"]; ok || s.client == nil {
		return nil
	}
	origin, err := s.client.origin(ctx)
	if err != nil {
		fmt.Fprintf(s.note, "note: no \"ledger\": %v; the record is valid on any ledger\n", err)
		return nil
	}
	rec["ledger"] = origin
	return nil
}

// origin asks the node for the ledger's origin (GET /v1/cluster).
func (c *client) origin(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	status, body, _, err := c.do(ctx, http.MethodGet, "/v1/cluster?local=true", nil)
	if err != nil {
		return "", fmt.Errorf("%s is unreachable (%v)", c.base, err)
	}
	var v struct {
		Origin string `json:"ledger_origin"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Origin == "" {
		return "", fmt.Errorf("%s does not name its ledger (%d)", c.base, status)
	}
	return v.Origin, nil
}
