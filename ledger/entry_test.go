package ledger

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// The fast entry encoder must write exactly what the general RFC 8785 path
// writes, for every shape of entry.
func TestMarshalEntryMatchesCanonicalForm(t *testing.T) {
	rec := json.RawMessage(`{"id":"h-1","lot":{"gtin":"08936000000127","lot":"LN2606A"},"note":"<&> \u00e9 \"q\"","type":"harvest"}`)
	canon, err := Canonicalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Entry{
		{Seq: 0, Type: TypeGenesis, RecordTime: "2026-06-01T00:00:00Z", Record: json.RawMessage(`{"admins":["0x00000000000000000000000000000000000000aa"],"type":"genesis"}`)},
		{Seq: 7, Type: TypeHarvest, RecordTime: "2026-06-01T00:00:00.123456789Z", Signer: "0xf6B12D92Df87eFd90600Df5f791b49BA795953bd", Signature: "0xabcdef", Record: canon},
		{Seq: 1<<53 - 1, Type: TypeTransfer, RecordTime: "2026-06-01T00:00:00Z", Signer: "0x01", Signature: "0x02", Record: canon},
		{Seq: 3, Type: "we\"ird", RecordTime: "2026-06-01T00:00:00Z", Record: canon}, // falls back to the general path
	} {
		fast, err := MarshalEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := marshalEntrySlow(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(fast) != string(slow) {
			t.Errorf("entry %d:\nfast %s\nslow %s", e.Seq, fast, slow)
		}
		if _, err := ParseEntry(fast); err != nil && e.Type != "we\"ird" {
			t.Errorf("entry %d does not parse back: %v", e.Seq, err)
		}
	}
}

// ParseEntry refuses entry bytes whose embedded record is not canonical,
// even though the fast encoder would copy it through unchanged.
func TestParseEntryRefusesNonCanonicalRecord(t *testing.T) {
	data := []byte(`{"record":{"type":"harvest", "id":"x"},"record_time":"2026-06-01T00:00:00Z","seq":1,"type":"harvest"}`)
	if _, err := ParseEntry(data); err == nil {
		t.Fatal("non-canonical record accepted")
	}
}

func TestEntryCheckSignature(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	me := AddressOf(key).Hex()
	env, err := SignEnvelope(key, []byte(`{"id":"x","signer":"`+me+`","type":"receive"}`))
	if err != nil {
		t.Fatal(err)
	}
	good := &Entry{Type: TypeReceive, Signer: me, Record: env.Record, Signature: env.Signature}
	if err := good.CheckSignature(); err != nil {
		t.Fatalf("valid entry: %v", err)
	}
	other := *good
	other.Signer = "0x0000000000000000000000000000000000000001"
	if err := other.CheckSignature(); !errors.Is(err, ErrSignerMismatch) {
		t.Errorf("entry naming another signer: %v", err)
	}
	tampered := *good
	tampered.Record = []byte(`{"id":"y","signer":"` + me + `","type":"receive"}`)
	if err := tampered.CheckSignature(); err == nil {
		t.Error("record changed after signing passed")
	}
	// Signed by its key, but the record itself names someone else.
	env2, _ := SignEnvelope(key, []byte(`{"id":"x","signer":"0x0000000000000000000000000000000000000001","type":"receive"}`))
	named := &Entry{Type: TypeReceive, Signer: me, Record: env2.Record, Signature: env2.Signature}
	if err := named.CheckSignature(); !errors.Is(err, ErrSignerMismatch) {
		t.Errorf("record naming another signer: %v", err)
	}
	if err := (&Entry{Type: TypeGenesis, Record: []byte(`{"admins":[],"type":"genesis"}`)}).CheckSignature(); err != nil {
		t.Errorf("genesis: %v", err)
	}
}
