package ledger

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Envelope is what a client submits: a record and the EIP-191 signature of
// the record's canonical bytes.
//
//	{"record": {...}, "signature": "0x<65 bytes hex>"}
type Envelope struct {
	Record    json.RawMessage `json:"record"`
	Signature string          `json:"signature"`
}

// Admitted is an envelope that passed every stateless check: its record is
// well formed and valid, and its signature recovers to the record's signer.
// Only the stateful rules remain; they run in Apply, in log order.
type Admitted struct {
	Canonical []byte // RFC 8785 bytes of the record: what was signed
	Signature []byte // 65 bytes r‖s‖v
	Signer    common.Address
	Record    *Record

	// verified is set by Admit, and only by it (or Adopt, from a value
	// Admit returned): the envelope was checked in this process.
	verified bool
}

// FutureSkew is how far in the future a record's time may lie compared with
// the admitting node's clock: field devices' clocks drift, but a harvest
// dated next month is a mistake.
const FutureSkew = 24 * time.Hour

// Admit runs the stateless checks on an envelope, in the order of DESIGN
// §3.3: shape and field validity (KindInvalid), then the signature and the
// signer match (KindSignature). now is the admitting node's clock, used only
// to refuse records dated beyond FutureSkew; it never reaches the state
// machine. A zero now skips that check.
func Admit(env Envelope, now time.Time) (*Admitted, error) {
	if len(env.Record) == 0 || string(env.Record) == "null" {
		return nil, ErrMissingField.Detail("record")
	}
	if env.Signature == "" {
		return nil, ErrMissingField.Detail("signature")
	}
	canon, err := Canonicalize(env.Record)
	if err != nil {
		return nil, err
	}
	if len(canon) == 0 || canon[0] != '{' {
		return nil, ErrMalformed.Detail("record must be a JSON object")
	}
	rec, err := DecodeRecord(canon)
	if err != nil {
		return nil, err
	}
	if !now.IsZero() {
		t, _ := rec.parsedTime()
		if t.After(now.Add(FutureSkew)) {
			return nil, ErrInvalidTime.Detail("time %s is in the future", rec.Time)
		}
	}
	sig, err := ParseSignature(env.Signature)
	if err != nil {
		return nil, err
	}
	signer, err := Recover(canon, sig)
	if err != nil {
		return nil, err
	}
	claimed := common.HexToAddress(rec.Signer) // checksum already checked by DecodeRecord
	if signer != claimed {
		return nil, ErrSignerMismatch.Detail("record names %s, signature is by %s", claimed.Hex(), signer.Hex())
	}
	return &Admitted{Canonical: canon, Signature: sig, Signer: signer, Record: rec, verified: true}, nil
}

// SignEnvelope canonicalises a record (RFC 8785) and signs the canonical
// bytes with key (EIP-191), as a wallet would: the inverse of Admit's
// signature check.
func SignEnvelope(key *ecdsa.PrivateKey, record []byte) (Envelope, error) {
	canon, err := Canonicalize(record)
	if err != nil {
		return Envelope{}, err
	}
	sig, err := Sign(key, canon)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{Record: canon, Signature: fmt.Sprintf("0x%x", sig)}, nil
}
