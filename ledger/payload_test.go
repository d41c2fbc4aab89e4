package ledger_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/ledger"
)

// Every payload kind has its own byte and its own name; an unknown byte
// is named as unknown.
func TestPayloadKinds(t *testing.T) {
	kinds := ledger.PayloadKinds()
	if len(kinds) != 4 {
		t.Fatalf("%d kinds, want 4", len(kinds))
	}
	bytesSeen := map[byte]bool{}
	names := map[string]byte{}
	for i, k := range kinds {
		if i > 0 && k <= kinds[i-1] {
			t.Errorf("kinds not in strictly increasing byte order: 0x%02x after 0x%02x", k, kinds[i-1])
		}
		if bytesSeen[k] {
			t.Errorf("two kinds share byte 0x%02x", k)
		}
		bytesSeen[k] = true
		n := ledger.KindName(k)
		if n == "" || strings.HasPrefix(n, "unknown") {
			t.Errorf("kind 0x%02x has no name (%q)", k, n)
		}
		if other, ok := names[n]; ok {
			t.Errorf("kinds 0x%02x and 0x%02x share the name %q", other, k, n)
		}
		names[n] = k
	}
	for _, k := range []byte{ledger.CmdRecords, ledger.CmdGenesis, ledger.CmdNodeMeta, ledger.CmdCheckpoint} {
		if !bytesSeen[k] {
			t.Errorf("kind 0x%02x (%s) missing from PayloadKinds", k, ledger.KindName(k))
		}
	}
	for _, k := range []byte{0, 3, 0x7f, 0x82, 0xff} {
		if got, want := ledger.KindName(k), "unknown-0x"; !strings.HasPrefix(got, want) {
			t.Errorf("KindName(0x%02x) = %q, want %s…", k, got, want)
		}
	}
}

// DecodeCommand reads ledger commands only: a consensus payload is never
// taken for records or a genesis, whatever follows its kind byte.
func TestDecodeCommandRefusesConsensusKinds(t *testing.T) {
	when := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	bodies := [][]byte{
		ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdRecords, Time: when})[1:],
		ledger.EncodeCommand(&ledger.Command{Kind: ledger.CmdGenesis, Time: when, Admins: []common.Address{{1}}})[1:],
		[]byte(`{"id":"n1","http":"http://127.0.0.1:1"}`),
		bytes.Repeat([]byte{0}, 64),
	}
	for _, k := range []byte{ledger.CmdNodeMeta, ledger.CmdCheckpoint} {
		for i, body := range bodies {
			b := append([]byte{k}, body...)
			if c, err := decode(t, ledger.KindName(k), b); err == nil {
				t.Errorf("%s payload %d decoded as a command of kind %d", ledger.KindName(k), i, c.Kind)
			}
		}
	}
}
