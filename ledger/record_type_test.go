package ledger

import (
	"errors"
	"testing"
)

func TestTopLevelType(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
		ok   bool
	}{
		{`{"type":"harvest"}`, "harvest", true},
		{`{"attributes":{"type":"inner"},"type":"transfer"}`, "transfer", true},
		{`{"note":"\"type\":\"x\"","type":"receive"}`, "receive", true},
		{` { "id" : "a" , "type" : "inspect" } `, "inspect", true},
		{`{"list":[{"type":"no"}],"type":"recall"}`, "recall", true},
		{`{"type":"har\u0076est"}`, "", false}, // escaped: the decoder decides
		{`{"type":5}`, "", false},
		{`{"id":"x"}`, "", false},
		{`{"type":"unterminated`, "", false},
	} {
		got, ok := topLevelType([]byte(tc.raw))
		if got != tc.want || ok != tc.ok {
			t.Errorf("topLevelType(%s) = %q, %v; want %q, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}

// A record that names its type twice is refused even when it reaches
// DecodeRecord without going through the canonicaliser.
func TestDecodeRecordRefusesTwoTypes(t *testing.T) {
	raw := `{"type":"harvest","id":"x","signer":"0x0000000000000000000000000000000000000001","time":"2026-06-01T00:00:00Z","type":"receive","lot":{"gtin":"08936000000127","lot":"A"}}`
	if _, err := DecodeRecord([]byte(raw)); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("two types: %v", err)
	}
}
