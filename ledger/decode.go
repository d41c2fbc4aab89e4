package ledger

// Decoding records: strictly, on admission and again in Apply on every
// node, since no node trusts a record it did not check itself.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxRecordBytes bounds one record's canonical form.
const MaxRecordBytes = 16 << 10

// DecodeRecord decodes and validates one record (DESIGN §3.3). Unknown
// fields are refused: free-form data belongs under "attributes". GTINs in
// the returned record are in their 14-digit form.
func DecodeRecord(raw []byte) (*Record, error) {
	if len(raw) > MaxRecordBytes {
		return nil, ErrMalformed.Detail("record is larger than %d bytes", MaxRecordBytes)
	}
	typ, ok := topLevelType(raw)
	if !ok {
		var h Header
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, jsonError(err)
		}
		typ = h.Type
	}
	rec := &Record{}
	var target interface {
		validate() error
		head() Header
	}
	switch typ {
	case TypeParticipant:
		rec.Participant = &Participant{}
		target = rec.Participant
	case TypeHarvest:
		rec.Harvest = &Harvest{}
		target = rec.Harvest
	case TypeTransfer:
		rec.Transfer = &Transfer{}
		target = rec.Transfer
	case TypeReceive:
		rec.Receive = &Receive{}
		target = rec.Receive
	case TypeTransform:
		rec.Transform = &Transform{}
		target = rec.Transform
	case TypeInspect:
		rec.Inspect = &Inspect{}
		target = rec.Inspect
	case TypeRecall:
		rec.Recall = &Recall{}
		target = rec.Recall
	case TypeEpcis:
		rec.Epcis = &Epcis{}
		target = rec.Epcis
	case "":
		return nil, ErrMissingField.Detail("type")
	default:
		return nil, ErrUnknownType.Detail("%q (want participant, harvest, transfer, receive, transform, inspect, recall or epcis)", typ)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrMalformed.Detail("trailing data after the record")
	}
	if err := checkStrict(raw, reflect.TypeOf(target)); err != nil {
		return nil, err
	}
	h := target.head()
	if h.Type != typ {
		return nil, ErrMalformed.Detail("the record names its type twice")
	}
	rec.Header = h
	var err error
	if rec.at, err = h.validate(); err != nil {
		return nil, err
	}
	if err := target.validate(); err != nil {
		return nil, err
	}
	return rec, nil
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	numberType     = reflect.TypeFor[json.Number]()
)

// checkStrict refuses, in one pass over the record's JSON beside the Go
// type it decodes into, what encoding/json tolerates but a strict reader
// of the signed bytes would not:
//
//   - member names in another case than the field's (encoding/json matches
//     names case-insensitively, so a record with both "id" and "ID" would
//     carry a second, hidden value);
//   - a member named twice in one object, at any depth, free-form
//     attributes included (encoding/json keeps the last);
//   - amounts sent as strings;
//   - forbidden characters (see forbiddenRune) in any string or member
//     name, anywhere in the record.
//
// Admission canonicalises first, which already refuses duplicates; the
// check here covers every other caller of DecodeRecord.
func checkStrict(raw []byte, t reflect.Type) error {
	sc := &strictScanner{b: raw}
	return sc.value(t, nil)
}

// strictScanner walks JSON that encoding/json has already accepted as one
// well-formed value: it need not diagnose syntax, only tokenise, which it
// does without the allocations of json.Decoder.Token (every node runs it
// for every record).
type strictScanner struct {
	b []byte
	i int
}

func (s *strictScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next returns the next non-space byte without consuming it (0 at the end).
func (s *strictScanner) next() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str reads the string at s.i and returns its value. Strings without
// escapes or invalid UTF-8, nearly all of them, are sliced as they are;
// the others are decoded by encoding/json, which has the last word on
// what a string means.
func (s *strictScanner) str() (string, error) {
	start := s.i
	j, escaped, ascii := start+1, false, true
	for j < len(s.b) && s.b[j] != '"' {
		if s.b[j] == '\\' {
			escaped = true
			j++
		} else if s.b[j] >= utf8.RuneSelf {
			ascii = false
		}
		j++
	}
	if j >= len(s.b) {
		return "", ErrMalformed.Detail("unterminated string")
	}
	s.i = j + 1
	body := s.b[start+1 : j]
	if !escaped && (ascii || utf8.Valid(body)) {
		return string(body), nil
	}
	var v string
	if err := json.Unmarshal(s.b[start:j+1], &v); err != nil {
		return "", jsonError(err)
	}
	return v, nil
}

// scalar skips a number or a literal and reports whether it was a number.
func (s *strictScanner) scalar() bool {
	num := s.i < len(s.b) && (s.b[s.i] == '-' || (s.b[s.i] >= '0' && s.b[s.i] <= '9'))
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return num
		}
		s.i++
	}
	return num
}

func (s *strictScanner) expect(c byte) error {
	if s.next() != c {
		return ErrMalformed.Detail("expected %q at byte %d", c, s.i)
	}
	s.i++
	return nil
}

// value checks the next JSON value. t is the Go type it decodes into, nil
// for free-form data.
func (s *strictScanner) value(t reflect.Type, path *jsonPath) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		t = nil // attributes: free-form, but the same strings and names
	}
	c := s.next()
	if t == numberType {
		if c == '"' || c == '{' || c == '[' || !s.scalar() {
			return ErrInvalidField.Detail("%s must be a JSON number", path)
		}
		return nil
	}
	switch c {
	case '"':
		v, err := s.str()
		if err != nil {
			return err
		}
		if r, bad := forbiddenRune(v); bad {
			return ErrForbiddenChar.Detail("%s contains %U", path, r)
		}
	case '{':
		s.i++
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = fieldsOf(t)
		}
		var seen []string // records' objects are small: a scan beats a map
		if s.next() == '}' {
			s.i++
			return nil
		}
		for {
			if s.next() != '"' {
				return ErrMalformed.Detail("expected a member name at byte %d", s.i)
			}
			k, err := s.str()
			if err != nil {
				return err
			}
			p := jsonPath{parent: path, key: k}
			if r, bad := forbiddenRune(k); bad {
				return ErrForbiddenChar.Detail("member name %q in %s contains %U", k, path, r)
			}
			if slices.Contains(seen, k) {
				return ErrDuplicateKey.Detail("%q", p.String())
			}
			seen = append(seen, k)
			var ft reflect.Type
			if fields != nil {
				var ok bool
				if ft, ok = fields[k]; !ok {
					return ErrUnknownField.Detail("%q (names are case-sensitive; free-form data goes under \"attributes\")", p.String())
				}
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			if err := s.value(ft, &p); err != nil {
				return err
			}
			if s.next() == ',' {
				s.i++
				continue
			}
			return s.expect('}')
		}
	case '[':
		s.i++
		var et reflect.Type
		if t != nil && t.Kind() == reflect.Slice {
			et = t.Elem()
		}
		if s.next() == ']' {
			s.i++
			return nil
		}
		for i := 0; ; i++ {
			if err := s.value(et, &jsonPath{parent: path, index: i, isIndex: true}); err != nil {
				return err
			}
			if s.next() == ',' {
				s.i++
				continue
			}
			return s.expect(']')
		}
	case 0:
		return ErrMalformed.Detail("unexpected end of the record")
	default:
		s.scalar()
	}
	return nil
}

// jsonPath names a value in errors ("place.name", "outputs[1].lot"). It is
// built as a chain on the stack and spelled out only for an error.
type jsonPath struct {
	parent  *jsonPath
	key     string
	index   int
	isIndex bool // an array element, else a member
}

func (p *jsonPath) String() string {
	if p == nil {
		return "record"
	}
	var parts []*jsonPath
	for q := p; q != nil; q = q.parent {
		parts = append(parts, q)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		switch q := parts[i]; {
		case q.isIndex:
			fmt.Fprintf(&b, "[%d]", q.index)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(q.key)
		}
	}
	return b.String()
}

// forbiddenRune finds the first character that no string of a record may
// hold: NUL and the other C0 controls except tab and newline (they end or
// garble text in the systems a label or an export passes through), and the
// bidirectional formatting characters U+202A–U+202E and U+2066–U+2069
// (they make a name or a note display as something other than what was
// signed).
func forbiddenRune(s string) (rune, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 && c != '\t' && c != '\n':
			return rune(c), true
		case c == 0xE2 && i+2 < len(s):
			// U+202A–U+202E are E2 80 AA–AE; U+2066–U+2069 are E2 81 A6–A9.
			b1, b2 := s[i+1], s[i+2]
			if (b1 == 0x80 && b2 >= 0xAA && b2 <= 0xAE) || (b1 == 0x81 && b2 >= 0xA6 && b2 <= 0xA9) {
				return rune(0x2000 | int(b1&0x3F)<<6 | int(b2&0x3F)), true
			}
		}
	}
	return 0, false
}

// recordFields holds the JSON member names of every struct a record can
// contain, computed once: checkStrict runs for every admitted record.
// It is filled when the package initialises and only read afterwards.
var recordFields = func() map[reflect.Type]map[string]reflect.Type {
	out := map[reflect.Type]map[string]reflect.Type{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == rawMessageType || out[t] != nil {
			return
		}
		fields := map[string]reflect.Type{}
		jsonFields(t, fields)
		out[t] = fields
		for _, ft := range fields {
			walk(ft)
		}
	}
	for _, v := range []any{Participant{}, Harvest{}, Transfer{}, Receive{}, Transform{}, Inspect{}, Recall{}} {
		walk(reflect.TypeOf(v))
	}
	return out
}()

func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := recordFields[t]; ok {
		return f
	}
	f := map[string]reflect.Type{}
	jsonFields(t, f)
	return f
}

// jsonFields maps the JSON member names of struct type t, including those
// of embedded structs, to their field types.
func jsonFields(t reflect.Type, into map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "":
			jsonFields(f.Type, into)
		case f.IsExported():
			if name == "" {
				name = f.Name
			}
			into[name] = f.Type
		}
	}
}

var unknownFieldRE = regexp.MustCompile(`^json: unknown field "(.*)"$`)

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return ErrInvalidField.Detail("%s: want a JSON %s, got %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return ErrMalformed.Detail("%v at byte %d", err, se.Offset)
	}
	if m := unknownFieldRE.FindStringSubmatch(err.Error()); m != nil {
		return ErrUnknownField.Detail("%q (free-form data goes under \"attributes\")", m[1])
	}
	return ErrMalformed.Detail("%v", err)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	case "bool":
		return "boolean"
	}
	return "number"
}

// topLevelType finds the "type" member of a JSON object without decoding
// it: the string value of the key "type" at depth one, when it holds no
// escapes. It reports false when it cannot tell, and the caller decodes.
// Every record is decoded on admission and again on every node in Apply,
// so the saved pass counts.
func topLevelType(raw []byte) (string, bool) {
	depth := 0
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			j := i + 1
			for j < len(raw) && raw[j] != '"' {
				if raw[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(raw) {
				return "", false
			}
			str := raw[i+1 : j]
			i = j
			// A key is followed by ':'; only depth-one keys matter.
			k := i + 1
			for k < len(raw) && (raw[k] == ' ' || raw[k] == '\n' || raw[k] == '\t' || raw[k] == '\r') {
				k++
			}
			if depth != 1 || k >= len(raw) || raw[k] != ':' || string(str) != "type" {
				continue
			}
			k++
			for k < len(raw) && (raw[k] == ' ' || raw[k] == '\n' || raw[k] == '\t' || raw[k] == '\r') {
				k++
			}
			if k >= len(raw) || raw[k] != '"' {
				return "", false
			}
			end := k + 1
			for end < len(raw) && raw[end] != '"' && raw[end] != '\\' {
				end++
			}
			if end >= len(raw) || raw[end] != '"' {
				return "", false
			}
			return string(raw[k+1 : end]), true
		}
	}
	return "", false
}
