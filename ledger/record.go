package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Record types (DESIGN §3.3).
const (
	TypeParticipant = "participant"
	TypeHarvest     = "harvest"
	TypeTransfer    = "transfer"
	TypeReceive     = "receive"
	TypeTransform   = "transform"
	TypeInspect     = "inspect"
	TypeRecall      = "recall"
	// TypeGenesis is the unsigned first entry of a ledger: it names the
	// admins given at bootstrap. Clients cannot submit it.
	TypeGenesis = "genesis"
)

// Roles a participant may hold.
const (
	RoleAdmin       = "admin"
	RoleProducer    = "producer"
	RoleProcessor   = "processor"
	RoleDistributor = "distributor"
	RoleRetailer    = "retailer"
	RoleInspector   = "inspector"
)

var validRoles = map[string]bool{RoleAdmin: true, RoleProducer: true, RoleProcessor: true,
	RoleDistributor: true, RoleRetailer: true, RoleInspector: true}

// Header holds the four fields every record has.
type Header struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Signer string `json:"signer"`
	Time   string `json:"time"`
}

func (h Header) head() Header { return h }

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

// LotRef names a lot: a GTIN and a lot code (GS1 AI 01 and AI 10).
type LotRef struct {
	GTIN string `json:"gtin"`
	Lot  string `json:"lot"`
}

func (r LotRef) String() string { return r.GTIN + "/" + r.Lot }

// Quantity is an amount with a UN/ECE Rec 20 unit. Amount keeps the JSON
// number as written; arithmetic on it is exact (see quantity.go).
type Quantity struct {
	Amount json.Number `json:"amount"`
	Unit   string      `json:"unit"`
}

// Product describes what a lot is.
type Product struct {
	Name        string `json:"name"`
	NameEN      string `json:"name_en,omitempty"`
	Variety     string `json:"variety,omitempty"`
	Grade       string `json:"grade,omitempty"`
	Description string `json:"description,omitempty"`
	Image       string `json:"image,omitempty"`
}

// Place is where something happened. Geo is "latitude,longitude" in decimal
// degrees (WGS 84).
type Place struct {
	Name            string `json:"name"`
	Geo             string `json:"geo,omitempty"`
	Province        string `json:"province,omitempty"`
	Address         string `json:"address,omitempty"`
	GrowingAreaCode string `json:"growing_area_code,omitempty"`
	FacilityGLN     string `json:"gln,omitempty"`
	Country         string `json:"country,omitempty"`
}

// Certificate is a certification a lot or producer holds: VietGAP,
// GlobalGAP, organic, OCOP (with its stars) and the like. Dates are
// YYYY-MM-DD.
type Certificate struct {
	Scheme     string `json:"scheme"`
	Number     string `json:"number,omitempty"`
	Issuer     string `json:"issuer,omitempty"`
	Stars      int    `json:"stars,omitempty"`
	ValidFrom  string `json:"valid_from,omitempty"`
	ValidUntil string `json:"valid_until,omitempty"`
}

// Record is a decoded, validated record of any type. Exactly one of the
// type-specific pointers is set, the one named by Header.Type.
type Record struct {
	Header
	Participant *Participant `json:"-"`
	Harvest     *Harvest     `json:"-"`
	Transfer    *Transfer    `json:"-"`
	Receive     *Receive     `json:"-"`
	Transform   *Transform   `json:"-"`
	Inspect     *Inspect     `json:"-"`
	Recall      *Recall      `json:"-"`
}

// Participant registers or updates a participant.
type Participant struct {
	Header
	Address  string          `json:"address"`
	Name     string          `json:"name"`
	Roles    []string        `json:"roles"`
	GLN      string          `json:"gln,omitempty"`
	TaxCode  string          `json:"tax_code,omitempty"`
	Location *Place          `json:"location,omitempty"`
	Attrs    json.RawMessage `json:"attributes,omitempty"`
}

// Harvest creates a lot held by its producer.
type Harvest struct {
	Header
	Lot          LotRef          `json:"lot"`
	Product      Product         `json:"product"`
	Quantity     Quantity        `json:"quantity"`
	Place        Place           `json:"place"`
	Certificates []Certificate   `json:"certificates,omitempty"`
	Attrs        json.RawMessage `json:"attributes,omitempty"`
}

// Transfer puts a lot in transit to a registered participant.
type Transfer struct {
	Header
	Lot   LotRef          `json:"lot"`
	To    string          `json:"to"`
	Place *Place          `json:"place,omitempty"`
	Attrs json.RawMessage `json:"attributes,omitempty"`
}

// Receive makes the named recipient the holder.
type Receive struct {
	Header
	Lot   LotRef          `json:"lot"`
	Place *Place          `json:"place,omitempty"`
	Attrs json.RawMessage `json:"attributes,omitempty"`
}

// TransformInput is a quantity taken from an input lot.
type TransformInput struct {
	Lot      LotRef   `json:"lot"`
	Quantity Quantity `json:"quantity"`
}

// TransformOutput is a new lot made by a transform.
type TransformOutput struct {
	Lot      LotRef   `json:"lot"`
	Product  Product  `json:"product"`
	Quantity Quantity `json:"quantity"`
}

// Transform turns input lots into output lots (drying, bottling, boxing).
type Transform struct {
	Header
	Inputs  []TransformInput  `json:"inputs"`
	Outputs []TransformOutput `json:"outputs"`
	Process string            `json:"process,omitempty"`
	Place   *Place            `json:"place,omitempty"`
	Attrs   json.RawMessage   `json:"attributes,omitempty"`
}

// Inspect attaches an inspection result, and optionally a certificate, to a lot.
type Inspect struct {
	Header
	Lot         LotRef          `json:"lot"`
	Result      string          `json:"result"`
	Certificate *Certificate    `json:"certificate,omitempty"`
	Note        string          `json:"note,omitempty"`
	Place       *Place          `json:"place,omitempty"`
	Attrs       json.RawMessage `json:"attributes,omitempty"`
}

// Recall recalls a lot and every lot made from it.
type Recall struct {
	Header
	Lot    LotRef          `json:"lot"`
	Reason string          `json:"reason"`
	Attrs  json.RawMessage `json:"attributes,omitempty"`
}

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
	pad := func(l *LotRef) {
		if n := len(l.GTIN); n < 14 {
			l.GTIN = "00000000000000"[:14-n] + l.GTIN
		}
	}
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

var timeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$`)

// ParseTime parses an RFC 3339 date-time that carries its offset (Z or ±hh:mm).
func ParseTime(s string) (time.Time, error) {
	if !timeRE.MatchString(s) {
		return time.Time{}, ErrInvalidTime.Detail("%q is not an RFC 3339 time with an offset, e.g. 2026-06-01T06:15:00+07:00", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, ErrInvalidTime.Detail("%q: %v", s, err)
	}
	return t, nil
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func checkDate(field, s string) error {
	if s == "" {
		return nil
	}
	if !dateRE.MatchString(s) {
		return ErrInvalidTime.Detail("%s: %q is not a YYYY-MM-DD date", field, s)
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return ErrInvalidTime.Detail("%s: %q is not a date", field, s)
	}
	return nil
}

func (h *Header) validate() error {
	if h.ID == "" {
		return ErrMissingField.Detail("id")
	}
	if n := len([]rune(h.ID)); n > 64 {
		return ErrInvalidField.Detail("id is %d characters, at most 64", n)
	}
	if strings.ContainsFunc(h.ID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ErrInvalidField.Detail("id contains control characters")
	}
	if h.Signer == "" {
		return ErrMissingField.Detail("signer")
	}
	if _, err := ParseAddress(h.Signer); err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	if h.Time == "" {
		return ErrMissingField.Detail("time")
	}
	_, err := ParseTime(h.Time)
	return err
}

func text(field, s string, required bool, max int) error {
	if s == "" {
		if required {
			return ErrMissingField.Detail("%s", field)
		}
		return nil
	}
	if strings.TrimSpace(s) == "" {
		return ErrInvalidField.Detail("%s is blank", field)
	}
	if n := len([]rune(s)); n > max {
		return ErrInvalidField.Detail("%s is %d characters, at most %d", field, n, max)
	}
	return nil
}

func (r *LotRef) validate(field string) error {
	if r.GTIN == "" {
		return ErrMissingField.Detail("%s.gtin", field)
	}
	g, err := NormalizeGTIN(r.GTIN)
	if err != nil {
		return fmt.Errorf("%s.gtin: %w", field, err)
	}
	if err := CheckLot(r.Lot); err != nil {
		return fmt.Errorf("%s.lot: %w", field, err)
	}
	r.GTIN = g
	return nil
}

func (q *Quantity) validate(field string) error {
	if q.Amount == "" {
		return ErrMissingField.Detail("%s.amount", field)
	}
	if _, err := parseAmount(q.Amount); err != nil {
		return fmt.Errorf("%s.amount: %w", field, err)
	}
	if q.Unit == "" {
		return ErrMissingField.Detail("%s.unit", field)
	}
	if err := CheckUnit(q.Unit); err != nil {
		return fmt.Errorf("%s.unit: %w", field, err)
	}
	return nil
}

func (p *Product) validate(field string) error {
	for _, f := range []struct {
		name, v string
		req     bool
		max     int
	}{{"name", p.Name, true, 200}, {"name_en", p.NameEN, false, 200}, {"variety", p.Variety, false, 200},
		{"grade", p.Grade, false, 100}, {"description", p.Description, false, 2000}, {"image", p.Image, false, 500}} {
		if err := text(field+"."+f.name, f.v, f.req, f.max); err != nil {
			return err
		}
	}
	return nil
}

// checkGeo parses "latitude,longitude" in decimal degrees: up to 8
// decimals each, an optional space after the comma, latitude within ±90
// and longitude within ±180.
func checkGeo(s string) bool {
	lat, lon, ok := strings.Cut(s, ",")
	if !ok {
		return false
	}
	lon = strings.TrimPrefix(lon, " ")
	return degrees(lat, 2, 90) && degrees(lon, 3, 180)
}

func degrees(s string, intDigits int, limit float64) bool {
	body := strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(body, ".")
	if len(whole) == 0 || len(whole) > intDigits || (hasFrac && (len(frac) == 0 || len(frac) > 8)) {
		return false
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f >= -limit && f <= limit
}

func (p *Place) validate(field string) error {
	if p == nil {
		return nil
	}
	if err := text(field+".name", p.Name, true, 200); err != nil {
		return err
	}
	if p.Geo != "" {
		if !checkGeo(p.Geo) {
			return ErrInvalidField.Detail("%s.geo: %q is not \"latitude,longitude\" in decimal degrees", field, p.Geo)
		}
	}
	for _, f := range []struct{ name, v string }{{"province", p.Province}, {"address", p.Address},
		{"growing_area_code", p.GrowingAreaCode}, {"gln", p.FacilityGLN}, {"country", p.Country}} {
		if err := text(field+"."+f.name, f.v, false, 200); err != nil {
			return err
		}
	}
	return nil
}

func (c *Certificate) validate(field string) error {
	if c == nil {
		return nil
	}
	if err := text(field+".scheme", c.Scheme, true, 100); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"number", c.Number}, {"issuer", c.Issuer}} {
		if err := text(field+"."+f.name, f.v, false, 200); err != nil {
			return err
		}
	}
	if c.Stars < 0 || c.Stars > 5 {
		return ErrInvalidField.Detail("%s.stars: %d, want 1–5", field, c.Stars)
	}
	if err := checkDate(field+".valid_from", c.ValidFrom); err != nil {
		return err
	}
	if err := checkDate(field+".valid_until", c.ValidUntil); err != nil {
		return err
	}
	if c.ValidFrom != "" && c.ValidUntil != "" && c.ValidUntil < c.ValidFrom {
		return ErrInvalidField.Detail("%s: valid_until is before valid_from", field)
	}
	return nil
}

func checkAttrs(a json.RawMessage) error {
	if len(a) == 0 {
		return nil
	}
	if t := bytes.TrimSpace(a); len(t) == 0 || t[0] != '{' {
		return ErrInvalidField.Detail("attributes must be a JSON object")
	}
	return nil
}

func (p *Participant) validate() error {
	if p.Address == "" {
		return ErrMissingField.Detail("address")
	}
	if _, err := ParseAddress(p.Address); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	if err := text("name", p.Name, true, 200); err != nil {
		return err
	}
	if len(p.Roles) == 0 {
		return ErrMissingField.Detail("roles")
	}
	seen := map[string]bool{}
	for _, r := range p.Roles {
		if !validRoles[r] {
			return ErrInvalidField.Detail("roles: %q is not one of admin, producer, processor, distributor, retailer, inspector", r)
		}
		if seen[r] {
			return ErrInvalidField.Detail("roles: %q listed twice", r)
		}
		seen[r] = true
	}
	if p.GLN != "" {
		if len(p.GLN) != 13 {
			return ErrInvalidField.Detail("gln: %q is not 13 digits", p.GLN)
		}
		if _, err := NormalizeGTIN(p.GLN); err != nil { // same mod-10 rule
			return ErrInvalidField.Detail("gln: %q has a wrong check digit", p.GLN)
		}
	}
	if err := text("tax_code", p.TaxCode, false, 20); err != nil {
		return err
	}
	if err := p.Location.validate("location"); err != nil {
		return err
	}
	return checkAttrs(p.Attrs)
}

func (h *Harvest) validate() error {
	if err := h.Lot.validate("lot"); err != nil {
		return err
	}
	if err := h.Product.validate("product"); err != nil {
		return err
	}
	if err := h.Quantity.validate("quantity"); err != nil {
		return err
	}
	if err := h.Place.validate("place"); err != nil {
		return err
	}
	for i := range h.Certificates {
		if err := h.Certificates[i].validate(fmt.Sprintf("certificates[%d]", i)); err != nil {
			return err
		}
	}
	return checkAttrs(h.Attrs)
}

func (t *Transfer) validate() error {
	if err := t.Lot.validate("lot"); err != nil {
		return err
	}
	if t.To == "" {
		return ErrMissingField.Detail("to")
	}
	to, err := ParseAddress(t.To)
	if err != nil {
		return fmt.Errorf("to: %w", err)
	}
	if signer, _ := ParseAddress(t.Signer); to == signer {
		return ErrInvalidField.Detail("to: a lot cannot be transferred to its sender")
	}
	if err := t.Place.validate("place"); err != nil {
		return err
	}
	return checkAttrs(t.Attrs)
}

func (r *Receive) validate() error {
	if err := r.Lot.validate("lot"); err != nil {
		return err
	}
	if err := r.Place.validate("place"); err != nil {
		return err
	}
	return checkAttrs(r.Attrs)
}

// MaxTransformLots bounds the inputs and the outputs of one transform.
const MaxTransformLots = 100

func (t *Transform) validate() error {
	if len(t.Inputs) == 0 {
		return ErrMissingField.Detail("inputs")
	}
	if len(t.Outputs) == 0 {
		return ErrMissingField.Detail("outputs")
	}
	if len(t.Inputs) > MaxTransformLots || len(t.Outputs) > MaxTransformLots {
		return ErrInvalidField.Detail("at most %d inputs and %d outputs", MaxTransformLots, MaxTransformLots)
	}
	seen := map[LotRef]string{}
	for i := range t.Inputs {
		f := fmt.Sprintf("inputs[%d]", i)
		if err := t.Inputs[i].Lot.validate(f + ".lot"); err != nil {
			return err
		}
		if err := t.Inputs[i].Quantity.validate(f + ".quantity"); err != nil {
			return err
		}
		if prev, dup := seen[t.Inputs[i].Lot]; dup {
			return ErrInvalidField.Detail("%s.lot: %s already named in %s", f, t.Inputs[i].Lot, prev)
		}
		seen[t.Inputs[i].Lot] = f
	}
	for i := range t.Outputs {
		f := fmt.Sprintf("outputs[%d]", i)
		if err := t.Outputs[i].Lot.validate(f + ".lot"); err != nil {
			return err
		}
		if err := t.Outputs[i].Product.validate(f + ".product"); err != nil {
			return err
		}
		if err := t.Outputs[i].Quantity.validate(f + ".quantity"); err != nil {
			return err
		}
		if prev, dup := seen[t.Outputs[i].Lot]; dup {
			return ErrInvalidField.Detail("%s.lot: %s already named in %s", f, t.Outputs[i].Lot, prev)
		}
		seen[t.Outputs[i].Lot] = f
	}
	if err := text("process", t.Process, false, 200); err != nil {
		return err
	}
	if err := t.Place.validate("place"); err != nil {
		return err
	}
	return checkAttrs(t.Attrs)
}

func (in *Inspect) validate() error {
	if err := in.Lot.validate("lot"); err != nil {
		return err
	}
	switch in.Result {
	case "pass", "fail":
	case "":
		return ErrMissingField.Detail("result")
	default:
		return ErrInvalidField.Detail("result: %q, want pass or fail", in.Result)
	}
	if err := in.Certificate.validate("certificate"); err != nil {
		return err
	}
	if err := text("note", in.Note, false, 2000); err != nil {
		return err
	}
	if err := in.Place.validate("place"); err != nil {
		return err
	}
	return checkAttrs(in.Attrs)
}

func (r *Recall) validate() error {
	if err := r.Lot.validate("lot"); err != nil {
		return err
	}
	if err := text("reason", r.Reason, true, 2000); err != nil {
		return err
	}
	return checkAttrs(r.Attrs)
}

// Lots returns every lot the record names, in the order it names them.
func (r *Record) Lots() []LotRef {
	switch {
	case r.Harvest != nil:
		return []LotRef{r.Harvest.Lot}
	case r.Transfer != nil:
		return []LotRef{r.Transfer.Lot}
	case r.Receive != nil:
		return []LotRef{r.Receive.Lot}
	case r.Inspect != nil:
		return []LotRef{r.Inspect.Lot}
	case r.Recall != nil:
		return []LotRef{r.Recall.Lot}
	case r.Transform != nil:
		var out []LotRef
		for _, in := range r.Transform.Inputs {
			out = append(out, in.Lot)
		}
		for _, o := range r.Transform.Outputs {
			out = append(out, o.Lot)
		}
		return out
	}
	return nil
}
