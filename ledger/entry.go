package ledger

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Entry is one position of the append-only ledger. Its bytes — the RFC 8785
// canonical JSON of this struct — are the leaf data of the Merkle log, so an
// entry binds its position, the time the ledger recorded it, the signer, the
// exact signed record and its signature:
//
//	{"record":{...},"record_time":"2026-06-01T02:00:00.123456789Z","seq":7,
//	 "signature":"0x…","signer":"0x…","type":"harvest"}
//
// RecordTime is stamped by the Raft leader when it proposes the entry (UTC,
// RFC 3339 with nanoseconds); Time inside the record is when the event
// happened in the field. A genesis entry has no signer and no signature.
type Entry struct {
	Seq        uint64          `json:"seq"`
	Type       string          `json:"type"`
	RecordTime string          `json:"record_time"`
	Signer     string          `json:"signer,omitempty"`
	Record     json.RawMessage `json:"record"`
	Signature  string          `json:"signature,omitempty"`
	// Prev chains each lot's history: for every lot the record names
	// ("<gtin>/<lot>"), the seq of the previous entry that named it, absent
	// for the entry that created the lot. An entry dropped from a lot's
	// history breaks the chain, which the Merkle proofs of the entries
	// around it make visible to any verifier.
	Prev map[string]uint64 `json:"prev,omitempty"`
}

// MarshalEntry returns the canonical bytes of e: the Merkle leaf data.
//
// Every entry is written by Apply, so this is on the hot path. The members
// are written directly in RFC 8785 order (prev, record, record_time, seq,
// signature, signer, type); the record is already canonical. A string that
// would need escaping cannot occur in a valid entry, but if one did, the
// general canonicaliser takes over, so the bytes are canonical either way.
func MarshalEntry(e *Entry) ([]byte, error) {
	if !plain(e.RecordTime) || !plain(e.Signature) || !plain(e.Signer) || !plain(e.Type) || len(e.Record) == 0 || e.Record[0] != '{' {
		return marshalEntrySlow(e)
	}
	b := make([]byte, 0, len(e.Record)+len(e.Signature)+len(e.Signer)+len(e.RecordTime)+96+40*len(e.Prev))
	b = append(b, '{')
	if len(e.Prev) > 0 {
		keys := make([]string, 0, len(e.Prev))
		for k := range e.Prev {
			if !plain(k) {
				return marshalEntrySlow(e)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys) // ASCII: byte order is RFC 8785's UTF-16 order
		b = append(b, `"prev":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, `":`...)
			b = strconv.AppendUint(b, e.Prev[k], 10)
		}
		b = append(b, `},`...)
	}
	b = append(b, `"record":`...)
	b = append(b, e.Record...)
	b = append(b, `,"record_time":"`...)
	b = append(b, e.RecordTime...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	if e.Signature != "" {
		b = append(b, `,"signature":"`...)
		b = append(b, e.Signature...)
		b = append(b, '"')
	}
	if e.Signer != "" {
		b = append(b, `,"signer":"`...)
		b = append(b, e.Signer...)
		b = append(b, '"')
	}
	b = append(b, `,"type":"`...)
	b = append(b, e.Type...)
	b = append(b, `"}`...)
	return b, nil
}

// plain reports whether s is printable ASCII without '"' or '\\': written
// as is in canonical JSON.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// marshalEntrySlow canonicalises e through encoding/json and RFC 8785.
func marshalEntrySlow(e *Entry) ([]byte, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("marshal entry %d: %w", e.Seq, err)
	}
	return Canonicalize(raw)
}

// ParseEntry decodes entry bytes and checks that they are canonical: a
// re-encoded entry would hash differently, so non-canonical bytes are
// corruption, not a variant.
func ParseEntry(data []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, errCorrupt("entry: %v", err)
	}
	again, err := marshalEntrySlow(&e)
	if err != nil || string(again) != string(data) {
		return nil, errCorrupt("entry %d is not in canonical form", e.Seq)
	}
	return &e, nil
}

// Time parses the entry's RecordTime.
func (e *Entry) Time() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, e.RecordTime)
	return t
}

// LeafHash is the RFC 6962 leaf hash of entry bytes: SHA-256(0x00 ‖ data).
// It is the "hash" the API returns for an entry.
func LeafHash(data []byte) tlog.Hash { return tlog.RecordHash(data) }

// HashHex formats a hash as 0x-prefixed lower-case hex.
func HashHex(h tlog.Hash) string { return fmt.Sprintf("0x%x", h[:]) }

// ParseHashHex parses what HashHex prints.
func ParseHashHex(s string) (tlog.Hash, error) {
	var h tlog.Hash
	if len(s) != 66 || s[:2] != "0x" {
		return h, ErrInvalidField.Detail("hash %q is not 0x and 64 hex digits", s)
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return h, ErrInvalidField.Detail("hash %q is not hex", s)
	}
	copy(h[:], b)
	return h, nil
}

// CheckSignature checks that the entry's signature, over its record's
// canonical bytes, recovers to its signer, and that the record names that
// same signer. A genesis entry has no signature to check.
func (e *Entry) CheckSignature() error {
	if e.Type == TypeGenesis {
		return nil
	}
	sig, err := ParseSignature(e.Signature)
	if err != nil {
		return err
	}
	who, err := Recover(e.Record, sig)
	if err != nil {
		return err
	}
	if who.Hex() != e.Signer {
		return ErrSignerMismatch.Detail("signed by %s, entry names %s", who.Hex(), e.Signer)
	}
	var h struct {
		Signer string `json:"signer"`
	}
	if err := json.Unmarshal(e.Record, &h); err != nil {
		return ErrMalformed.Detail("record: %v", err)
	}
	if claimed, err := ParseAddress(h.Signer); err != nil || claimed != who {
		return ErrSignerMismatch.Detail("record names %s, signature is by %s", h.Signer, who.Hex())
	}
	return nil
}
