package ledger

// Decoding records: strict on admission and replay, lean in Apply.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// MaxRecordBytes bounds one record's canonical form.
const MaxRecordBytes = 16 << 10

// DecodeRecord decodes and validates one record (DESIGN §3.3). Unknown
// fields are refused: free-form data belongs under "attributes". GTINs in
// the returned record are in their 14-digit form.
func DecodeRecord(raw []byte) (*Record, error) { return decodeRecord(raw, true) }

// decodeRecord decodes and validates a record. Without strict it skips
// checkStrict: Apply decodes records that the leader admitted strictly, and
// decoding them again costs every node on every entry.
func decodeRecord(raw []byte, strict bool) (*Record, error) {
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
	case "":
		return nil, ErrMissingField.Detail("type")
	default:
		return nil, ErrUnknownType.Detail("%q (want participant, harvest, transfer, receive, transform, inspect or recall)", typ)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrMalformed.Detail("trailing data after the record")
	}
	if strict {
		if err := checkStrict(raw, reflect.TypeOf(target)); err != nil {
			return nil, err
		}
	}
	h := target.head()
	if h.Type != typ {
		return nil, ErrMalformed.Detail("the record names its type twice")
	}
	rec.Header = h
	if !strict {
		// Admitted by the leader: every field was validated there, and
		// validation is deterministic. Only the GTINs' 14-digit form,
		// which validation also produces, is needed.
		rec.normalizeGTINs()
		return rec, nil
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	if err := target.validate(); err != nil {
		return nil, err
	}
	return rec, nil
}

// normalizeGTINs left-pads every GTIN the record names to 14 digits, as
// LotRef.validate does for a valid record.
func (r *Record) normalizeGTINs() {
	pad := func(l *LotRef) { l.GTIN = padGTIN(l.GTIN) }
	switch {
	case r.Harvest != nil:
		pad(&r.Harvest.Lot)
	case r.Transfer != nil:
		pad(&r.Transfer.Lot)
	case r.Receive != nil:
		pad(&r.Receive.Lot)
	case r.Inspect != nil:
		pad(&r.Inspect.Lot)
	case r.Recall != nil:
		pad(&r.Recall.Lot)
	case r.Transform != nil:
		for i := range r.Transform.Inputs {
			pad(&r.Transform.Inputs[i].Lot)
		}
		for i := range r.Transform.Outputs {
			pad(&r.Transform.Outputs[i].Lot)
		}
	}
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	numberType     = reflect.TypeFor[json.Number]()
)

// checkStrict refuses what encoding/json tolerates but a strict reader of
// the signed bytes would not: member names in another case than the
// field's (encoding/json matches names case-insensitively, so a record
// with both "id" and "ID" would carry a second, hidden value), and amounts
// sent as strings. It walks the JSON beside the Go type it decodes into.
func checkStrict(raw []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return jsonError(err)
	}
	return checkValue(v, t, "")
}

func checkValue(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawMessageType:
		return nil // attributes: free-form
	case t == numberType:
		if _, ok := v.(json.Number); !ok {
			return ErrInvalidField.Detail("%s must be a JSON number", strings.TrimPrefix(path, "."))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // a type mismatch: the typed decoder already refused it
		}
		fields := fieldsOf(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return ErrUnknownField.Detail("%q (names are case-sensitive; free-form data goes under \"attributes\")", strings.TrimPrefix(path+"."+k, "."))
			}
			if err := checkValue(m[k], ft, path+"."+k); err != nil {
				return err
			}
		}
	case reflect.Slice:
		arr, _ := v.([]any)
		for i, e := range arr {
			if err := checkValue(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
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
