package ledger

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// MaxDepth bounds the nesting of any JSON the ledger accepts. Records are
// shallow (a few levels); the bound keeps a hostile body from costing deep
// recursion in the canonicaliser or the decoder.
const MaxDepth = 32

// Canonicalize returns the RFC 8785 (JSON Canonicalization Scheme) form of a
// JSON value: object members sorted by their UTF-16 code units, no
// insignificant white space, strings with the minimal escaping of RFC 8785
// §3.2.2.2 and numbers in the ECMAScript Number.prototype.toString form of
// §3.2.2.3 — the form a wallet signs when a web page canonicalises a record
// with a JCS library. Duplicate member names, invalid UTF-8 and nesting
// deeper than MaxDepth are rejected.
func Canonicalize(raw []byte) ([]byte, error) {
	if isCanonical(raw) {
		return bytes.Clone(raw), nil // the caller may keep it; raw may be a reused buffer
	}
	if !utf8.Valid(raw) {
		return nil, ErrMalformed.Detail("record is not valid UTF-8")
	}
	if err := CheckDepth(raw, MaxDepth); err != nil {
		return nil, err
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		// jcs words a repeated member name "Duplicate key: \"name\"".
		if name, ok := strings.CutPrefix(err.Error(), "Duplicate key: "); ok {
			return nil, ErrDuplicateKey.Detail("%s in the record", name)
		}
		return nil, ErrMalformed.Detail("record cannot be canonicalised: %v", err)
	}
	return out, nil
}

// CheckDepth scans raw JSON and fails when arrays and objects nest deeper
// than max. It does not validate the JSON otherwise; it is cheap enough to
// run on every request body before a decoder recurses into it.
func CheckDepth(raw []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > max {
				return ErrMalformed.Detail("JSON nested deeper than %d levels", max)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}
