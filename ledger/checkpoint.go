package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A checkpoint commits to the whole log: its origin, its size and its
// Merkle root, in the C2SP tlog-checkpoint text format
// (https://c2sp.org/tlog-checkpoint):
//
//	traceledger/4f0c2a9b1e7d3c55
//	1234
//	qvU8c8vA1Dk8vUfWm2S3yXgQW5cQ3cxYxqvZr0ZlH0M=
//	lot-heads 3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
//
// The fourth line, an extension line of the format, is the root of the
// lot-head map at that size (lotheads.go): it commits to the latest entry
// of every lot, so that a bundle cannot leave out a lot's newest entries.
// signed as a note (golang.org/x/mod/sumdb/note, https://c2sp.org/signed-note)
// by the Ed25519 key of every node that checked the root against its own
// copy of the log. A verifier trusts a checkpoint signed by a majority of
// the node keys it knows: no single operator, and no minority of nodes, can
// then show a history that the others did not see.

// ErrCheckpoint reports a checkpoint that is malformed or not trusted.
var ErrCheckpoint = sentinel(KindInvalid, "bad_checkpoint", "checkpoint not trusted")

// Checkpoint is the signed body of a checkpoint note.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   tlog.Hash
	// LotHeads is the root of the lot-head map of the log of this size,
	// when HasLotHeads: a checkpoint written before the map existed has
	// none and proves nothing about lot heads.
	LotHeads    tlog.Hash
	HasLotHeads bool
}

// FormatCheckpoint returns the note text of c.
func FormatCheckpoint(c Checkpoint) []byte {
	b := fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	if c.HasLotHeads {
		b = append(b, formatLotHeadsLine(c.LotHeads)...)
	}
	return b
}

// ParseCheckpoint parses note text written by FormatCheckpoint. Extension
// lines after the third are allowed by the format (each non-empty and
// ending in a newline); the lot-heads line is read, others are ignored.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	lines := strings.SplitN(string(text), "\n", 4)
	if len(lines) < 4 || lines[0] == "" || strings.TrimSpace(lines[0]) != lines[0] {
		return Checkpoint{}, ErrCheckpoint.Detail("malformed checkpoint text")
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || lines[1] != strconv.FormatUint(n, 10) {
		return Checkpoint{}, ErrCheckpoint.Detail("malformed size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, ErrCheckpoint.Detail("malformed root hash %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Size: n}
	copy(c.Root[:], root)
	for rest := lines[3]; rest != ""; {
		line, after, ok := strings.Cut(rest, "\n")
		if line == "" || !ok {
			return Checkpoint{}, ErrCheckpoint.Detail("malformed extension lines")
		}
		rest = after
	}
	if c.LotHeads, c.HasLotHeads, err = parseLotHeadsExtension(lines[3]); err != nil {
		return Checkpoint{}, err
	}
	return c, nil
}

// SignCheckpoint returns c as a note signed by s.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(FormatCheckpoint(c))}, s)
}

// MergeCosignatures joins notes over the same text into one note carrying
// every distinct signature line, in a stable order.
func MergeCosignatures(notes ...[]byte) ([]byte, error) {
	var text []byte
	lines := map[string]bool{}
	for _, n := range notes {
		t, sigs, ok := SplitNote(n)
		if !ok {
			return nil, ErrCheckpoint.Detail("malformed note")
		}
		if text == nil {
			text = t
		} else if !bytes.Equal(text, t) {
			return nil, ErrCheckpoint.Detail("cosignatures over different checkpoints")
		}
		for _, l := range strings.SplitAfter(string(sigs), "\n") {
			if strings.HasPrefix(l, "— ") {
				lines[l] = true
			}
		}
	}
	sorted := make([]string, 0, len(lines))
	for l := range lines {
		sorted = append(sorted, l)
	}
	sort.Strings(sorted)
	return append(append(append([]byte{}, text...), '\n'), strings.Join(sorted, "")...), nil
}

// OpenCheckpoint verifies a checkpoint note against the trusted node keys
// (note verifier keys) and returns it with the names of the keys that
// signed it. It fails unless more than half of the trusted keys signed, or
// if any trusted key's signature is invalid.
func OpenCheckpoint(msg []byte, trusted []string) (Checkpoint, []string, error) {
	var vs []note.Verifier
	for _, k := range trusted {
		v, err := note.NewVerifier(k)
		if err != nil {
			return Checkpoint{}, nil, ErrCheckpoint.Detail("trusted key %q: %v", k, err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
		return Checkpoint{}, nil, ErrCheckpoint.Detail("signed by none of the %d trusted node keys", len(trusted))
	case err != nil:
		return Checkpoint{}, nil, ErrCheckpoint.Detail("%v", err)
	}
	var names []string
	for _, s := range n.Sigs {
		names = append(names, s.Name)
	}
	if len(n.Sigs)*2 <= len(trusted) {
		return Checkpoint{}, names, ErrCheckpoint.Detail("signed by %d of %d trusted node keys; a majority is needed", len(n.Sigs), len(trusted))
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	return c, names, err
}

// Checkpoint storage:
//
//	c/latest          the latest cosigned checkpoint note
//	c/<size:8>        the cosigned checkpoint note of that size
//	c/witnessed       the newest checkpoint note that gained cosignatures
//	                  after it was stored: those of outside witnesses
var (
	keyLatestCheckpoint    = []byte("c/latest")
	keyWitnessedCheckpoint = []byte("c/witnessed")
	prefixCheckpoint       = []byte("c/")
)

// PutCheckpoint stores a cosigned checkpoint note. Checkpoints only move
// forward: a note larger than the latest becomes the latest. A note over
// the very text of a stored checkpoint adds its signature lines to it —
// how the witnesses' cosignatures, which arrive after the nodes', are
// published — and makes it the witnessed checkpoint if it is the newest
// such. Any other note no larger than the latest is ignored.
//
// A malformed note is refused with ErrCheckpoint and nothing is stored.
func PutCheckpoint(w Writer, msg []byte) error {
	text, sigs, ok := SplitNote(msg)
	if !ok || !bytes.HasPrefix(sigs, []byte("— ")) || msg[len(msg)-1] != '\n' {
		return ErrCheckpoint.Detail("not a signed note")
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return err
	}
	cur, _, ok, err := LatestCheckpoint(w)
	if err != nil {
		return err
	}
	if !ok || cur.Size < c.Size {
		if err := w.Set(cat(prefixCheckpoint, u64(c.Size)), msg); err != nil {
			return err
		}
		return w.Set(keyLatestCheckpoint, msg)
	}
	stored, ok, err := w.Get(cat(prefixCheckpoint, u64(c.Size)))
	if err != nil || !ok {
		return err
	}
	if st, _, _ := SplitNote(stored); !bytes.Equal(st, text) {
		return nil
	}
	merged, err := MergeCosignatures(stored, msg)
	if err != nil || bytes.Equal(merged, stored) {
		return err
	}
	if err := w.Set(cat(prefixCheckpoint, u64(c.Size)), merged); err != nil {
		return err
	}
	if cur.Size == c.Size {
		if err := w.Set(keyLatestCheckpoint, merged); err != nil {
			return err
		}
	}
	if wc, _, ok, err := readCheckpoint(w, keyWitnessedCheckpoint); err != nil {
		return err
	} else if ok && wc.Size > c.Size {
		return nil
	}
	return w.Set(keyWitnessedCheckpoint, merged)
}

// WitnessedCheckpoint returns the newest checkpoint that gained
// cosignatures after it was stored (see PutCheckpoint) and its note.
func WitnessedCheckpoint(r Reader) (Checkpoint, []byte, bool, error) {
	return readCheckpoint(r, keyWitnessedCheckpoint)
}

// LatestCheckpoint returns the latest stored checkpoint and its note.
func LatestCheckpoint(r Reader) (Checkpoint, []byte, bool, error) {
	return readCheckpoint(r, keyLatestCheckpoint)
}

func readCheckpoint(r Reader, key []byte) (Checkpoint, []byte, bool, error) {
	v, ok, err := r.Get(key)
	if err != nil || !ok {
		return Checkpoint{}, nil, false, err
	}
	msg := append([]byte(nil), v...)
	text, _, ok := SplitNote(msg)
	if !ok {
		return Checkpoint{}, nil, false, errCorrupt("stored checkpoint %s is not a note", key)
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return Checkpoint{}, nil, false, errCorrupt("stored checkpoint %s: %v", key, err)
	}
	return c, msg, true, nil
}

// Origin names this ledger in its checkpoints: "traceledger/" and the
// first 16 hex digits of the genesis entry's hash, so two ledgers never
// share an origin. It is empty before the genesis entry exists.
func Origin(r Reader) (string, error) {
	_, data, err := GetEntry(r, 0)
	if errors.Is(err, ErrUnknownEntry) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return originOf(data), nil
}

// originOf is the origin of the ledger whose genesis entry bytes are data.
func originOf(genesis []byte) string {
	h := LeafHash(genesis)
	return fmt.Sprintf("traceledger/%x", h[:8])
}

// SplitNote splits a signed note (C2SP signed-note) into its text, with
// its final newline, and its signature lines.
func SplitNote(msg []byte) (text, sigs []byte, ok bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return nil, nil, false
	}
	return msg[:i+1], msg[i+2:], true
}
