package ledger

// Stale intents: a transfer or a receive may name, in "after", the latest
// record on its lot that the signer saw. A producer who signs a transfer on
// a phone in the morning and submits it at night, after a recall or an
// inspection came in, is told the lot changed instead of moving it.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// RecordDigest returns what a record's "after" names: the SHA-256 of a
// record's canonical bytes (Entry.Record, the bytes that were signed), as
// 64 lowercase hex digits.
func RecordDigest(canonical []byte) string {
	d := sha256.Sum256(canonical)
	return hex.EncodeToString(d[:])
}

// checkAfterField validates the form of "after": exactly 64 lowercase hex
// digits, no 0x prefix. One spelling per digest keeps two readers of the
// signed bytes from disagreeing about it.
func checkAfterField(after *string) error {
	if after == nil {
		return nil
	}
	s := *after
	if len(s) != 2*sha256.Size {
		return ErrInvalidField.Detail("after: want the SHA-256 of the lot's latest record as 64 lowercase hex digits, got %d characters", len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ErrInvalidField.Detail("after: want 64 lowercase hex digits (no 0x prefix)")
		}
	}
	return nil
}

// LotHead returns the seq of the latest entry that names ref (the lot's
// head), and false when no entry names it.
func LotHead(r Reader, ref LotRef) (uint64, bool, error) {
	v, ok, err := r.Get(lotHeadKey(ref))
	if err != nil {
		return 0, false, err
	}
	if ok {
		if len(v) != 8 {
			return 0, false, errCorrupt("lot head of %s", ref)
		}
		return binary.BigEndian.Uint64(v), true, nil
	}
	// A ledger written before lot heads were kept: the last index entry.
	seqs, err := LotSeqs(r, ref)
	if err != nil || len(seqs) == 0 {
		return 0, false, err
	}
	return seqs[len(seqs)-1], true, nil
}

// checkAfter refuses (409 stale) a record whose "after" is not the digest
// of the record of ref's latest entry.
func (a *applier) checkAfter(ref LotRef, after *string) error {
	if after == nil {
		return nil
	}
	seq, ok, err := LotHead(a.w, ref)
	if err != nil {
		return err
	}
	if !ok {
		return errCorrupt("lot %s has no entries", ref)
	}
	e, _, err := GetEntry(a.w, seq)
	if err != nil {
		return err
	}
	if RecordDigest(e.Record) != *after {
		return refuse(ErrStale.Detail("%s: \"after\" is not the lot's latest record (entry %d, %s): fetch the lot and sign again", ref, seq, RecordDigest(e.Record)))
	}
	return nil
}

// notRecalled refuses (409 lot_recalled) to move a recalled lot: a recall
// marks the lot it names and every lot made from it.
func notRecalled(l *Lot) error {
	if l.Recalled != nil {
		return refuse(ErrLotRecalled.Detail("%s by entry %d (recall of %s: %s)", l.Ref(), l.Recalled.Seq, l.Recalled.Origin, l.Recalled.Reason))
	}
	return nil
}
