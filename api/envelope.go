package api

import (
	"encoding/json"

	"github.com/traceledger/traceledger/ledger"
)

// decodeEnvelope decodes one envelope of a batch. The common shape,
//
//	{"record": {...}, "signature": "0x…"}
//
// in either member order, is split by a small scanner; anything else —
// other members, escapes in the signature, a missing member, bad syntax —
// goes through the strict general decoder, which also words the error.
// A batch of 1 000 envelopes spends less time here than in one signature
// recovery.
func decodeEnvelope(raw []byte) (ledger.Envelope, error) {
	if env, ok := scanEnvelope(raw); ok {
		return env, nil
	}
	var env ledger.Envelope
	err := decodeStrict(raw, &env)
	return env, err
}

func scanEnvelope(b []byte) (ledger.Envelope, bool) {
	var env ledger.Envelope
	var haveRecord, haveSig bool
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return env, false
	}
	i++
	for {
		i = skipWS(b, i)
		key, next, ok := scanPlainString(b, i)
		if !ok {
			return env, false
		}
		i = skipWS(b, next)
		if i >= len(b) || b[i] != ':' {
			return env, false
		}
		i = skipWS(b, i+1)
		switch {
		case key == "record" && !haveRecord:
			end, ok := scanObject(b, i)
			if !ok {
				return env, false
			}
			env.Record, haveRecord, i = json.RawMessage(b[i:end]), true, end
		case key == "signature" && !haveSig:
			sig, end, ok := scanPlainString(b, i)
			if !ok {
				return env, false
			}
			env.Signature, haveSig, i = sig, true, end
		default:
			return env, false
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == '}' && haveRecord && haveSig {
			return env, skipWS(b, i+1) == len(b)
		}
		return env, false
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanPlainString reads a JSON string without escapes or control
// characters starting at b[i].
func scanPlainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			// Escapes, controls and non-ASCII take the general path
			// (which, like encoding/json, replaces invalid UTF-8).
			return "", 0, false
		}
	}
	return "", 0, false
}

// scanObject finds the end of the JSON object starting at b[i]: the index
// after its closing brace. It tracks strings and nesting only; the record's
// own syntax is checked when it is canonicalised.
func scanObject(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			for j++; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return 0, false
			}
		case '{', '[':
			depth++
			if depth > ledger.MaxDepth {
				return 0, false
			}
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, b[j] == '}'
			}
		}
	}
	return 0, false
}
