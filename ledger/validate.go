package ledger

// Field validity of records (DESIGN §3.3): identifiers, units, amounts,
// times, places and certificates. Every check here is stateless.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

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

// validate checks the header's fields and returns its time, parsed.
func (h *Header) validate() (time.Time, error) {
	if h.ID == "" {
		return time.Time{}, ErrMissingField.Detail("id")
	}
	maxID := 64
	if h.Type == TypeEpcis {
		maxID = maxEpcisID
	}
	if n := len([]rune(h.ID)); n > maxID {
		return time.Time{}, ErrInvalidField.Detail("id is %d characters, at most %d", n, maxID)
	}
	if strings.ContainsFunc(h.ID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return time.Time{}, ErrInvalidField.Detail("id contains control characters")
	}
	if h.Signer == "" {
		return time.Time{}, ErrMissingField.Detail("signer")
	}
	if _, err := ParseAddress(h.Signer); err != nil {
		return time.Time{}, fmt.Errorf("signer: %w", err)
	}
	if h.Time == "" {
		return time.Time{}, ErrMissingField.Detail("time")
	}
	t, err := ParseTime(h.Time)
	if err != nil {
		return time.Time{}, err
	}
	if h.Ledger != "" && !originRE.MatchString(h.Ledger) {
		return time.Time{}, ErrInvalidField.Detail("ledger %q is not a ledger's origin (traceledger/ and 16 hex digits, as GET /v1/checkpoint names it)", h.Ledger)
	}
	return t, nil
}

// originRE matches the origins Origin makes.
var originRE = regexp.MustCompile(`^traceledger/[0-9a-f]{16}$`)

// text checks a free-text member: present when required, not blank, at
// most max characters. The member is named in an error as in.name (name
// alone when in is ""); the name is built only then, since every record
// checks several such members and nearly all of them pass.
func text(in, name, s string, required bool, max int) error {
	if s == "" && !required || s != "" && strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= max {
		return nil
	}
	field := name
	if in != "" {
		field = in + "." + name
	}
	if s == "" {
		return ErrMissingField.Detail("%s", field)
	}
	if strings.TrimSpace(s) == "" {
		return ErrInvalidField.Detail("%s is blank", field)
	}
	return ErrInvalidField.Detail("%s is %d characters, at most %d", field, utf8.RuneCountInString(s), max)
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
		if err := text(field, f.name, f.v, f.req, f.max); err != nil {
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
	if err := text(field, "name", p.Name, true, 200); err != nil {
		return err
	}
	if p.Geo != "" {
		if !checkGeo(p.Geo) {
			return ErrInvalidField.Detail("%s.geo: %q is not \"latitude,longitude\" in decimal degrees", field, p.Geo)
		}
	}
	for _, f := range []struct{ name, v string }{{"province", p.Province}, {"address", p.Address},
		{"growing_area_code", p.GrowingAreaCode}, {"gln", p.FacilityGLN}, {"country", p.Country}} {
		if err := text(field, f.name, f.v, false, 200); err != nil {
			return err
		}
	}
	return nil
}

func (c *Certificate) validate(field string) error {
	if c == nil {
		return nil
	}
	if err := text(field, "scheme", c.Scheme, true, 100); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"number", c.Number}, {"issuer", c.Issuer}} {
		if err := text(field, f.name, f.v, false, 200); err != nil {
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
	if err := text("", "name", p.Name, true, 200); err != nil {
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
	if err := text("", "tax_code", p.TaxCode, false, 20); err != nil {
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
	if err := checkAfterField(t.After); err != nil {
		return err
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
	if err := checkAfterField(r.After); err != nil {
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
	if err := text("", "process", t.Process, false, 200); err != nil {
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
	if err := text("", "note", in.Note, false, 2000); err != nil {
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
	if err := text("", "reason", r.Reason, true, 2000); err != nil {
		return err
	}
	return checkAttrs(r.Attrs)
}
