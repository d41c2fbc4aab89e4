package api_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

// TestCosignLotHeads: a node cosigns a checkpoint whose lot-head root is
// its own at that size, refuses another root (400) and a malformed one
// (400), and still cosigns an older leader's checkpoint without one.
func TestCosignLotHeads(t *testing.T) {
	f := startNode(t)
	var head ledger.Head
	var origin string
	f.cluster.Store().View(func(r ledger.Reader) (err error) {
		if head, err = ledger.ReadHead(r); err != nil {
			return err
		}
		origin, err = ledger.Origin(r)
		return err
	})
	b64 := func(h [32]byte) string { return base64.StdEncoding.EncodeToString(h[:]) }
	body := func(lotHeads string) []byte {
		return asJSON(t, map[string]any{"origin": origin, "size": head.Size, "root": b64(head.Root), "lot_heads": lotHeads})
	}
	st, _, msg := f.do(http.MethodPost, "/v1/checkpoint/cosign", "application/json", body(b64(head.LotHeads)))
	if st != http.StatusOK || !strings.Contains(string(msg), "\nlot-heads "+b64(head.LotHeads)+"\n\n— ") {
		t.Fatalf("cosign of this node's checkpoint: %d %s", st, msg)
	}
	other := head.LotHeads
	other[0] ^= 1
	if st, _, msg := f.do(http.MethodPost, "/v1/checkpoint/cosign", "application/json", body(b64(other))); st != http.StatusBadRequest || !strings.Contains(string(msg), "bad_checkpoint") {
		t.Errorf("cosign of another lot-head root: %d %s", st, msg)
	}
	if st, _, msg := f.do(http.MethodPost, "/v1/checkpoint/cosign", "application/json", body("AAAA")); st != http.StatusBadRequest || !strings.Contains(string(msg), "lot_heads") {
		t.Errorf("cosign of a malformed lot-head root: %d %s", st, msg)
	}
	old := asJSON(t, map[string]any{"origin": origin, "size": head.Size, "root": b64(head.Root)})
	if st, _, msg := f.do(http.MethodPost, "/v1/checkpoint/cosign", "application/json", old); st != http.StatusOK || strings.Contains(string(msg), "lot-heads") {
		t.Errorf("cosign of a checkpoint without lot heads: %d %s", st, msg)
	}
}
