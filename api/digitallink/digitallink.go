// Package digitallink parses and formats GS1 Digital Link URIs that identify
// a trade item by GTIN (AI 01), optionally qualified by a consumer product
// variant (AI 22), a batch or lot (AI 10) and a serial number (AI 21), as
// the GS1 Digital Link Standard: URI Syntax, release 1.2 (2021) defines them.
//
// The structure of an uncompressed Digital Link URI (§4 of the standard) is
//
//	https://example.org/any/prefix/01/09506000134352/10/LN2606A/21/0001?17=261231
//	\_________________/\________/\_______________/\______________________/\_______/
//	  scheme and host    optional   primary key     key qualifiers, in the   data
//	                     prefix     (AI 01, GTIN)   order of the grammar     attributes
//
// and the formal grammar (§6, ABNF) fixes the qualifier order for a GTIN:
//
//	gtin-path = gtin-comp [cpv-comp] [lot-comp] [ser-comp]
//
// The package is pure: no HTTP, no I/O, no logging. Identifier rules (GTIN
// check digit, GTIN-8/12/13 padding, lot and serial in GS1 CSET 82, 1–20
// characters) come from package ledger so that the resolver and the ledger
// accept exactly the same codes. Errors are *Error values (errors.go): one
// plain sentence in English and in Vietnamese, wrapping one of the
// sentinels below: test them with errors.Is.
package digitallink

import (
	"errors"
	"net/url"
	"strings"

	"github.com/traceledger/traceledger/ledger"
)

// Errors returned by Parse and ParsePath, each wrapped in an *Error whose
// sentence names the offending part of the URI.
var (
	// ErrSyntax: not an http(s) URI, bad percent-encoding, empty path
	// segments, or a path element that is neither a key nor a qualifier.
	ErrSyntax = errors.New("digitallink: malformed URI")
	// ErrNoPrimaryKey: the path holds no GTIN (AI 01) primary key.
	ErrNoPrimaryKey = errors.New("digitallink: no GTIN primary key (01)")
	// ErrGTIN: the GTIN has the wrong length, non-digits or a wrong check digit.
	ErrGTIN = errors.New("digitallink: invalid GTIN")
	// ErrLot: the lot (AI 10) is empty, longer than 20 characters or
	// outside GS1 CSET 82.
	ErrLot = errors.New("digitallink: invalid lot")
	// ErrSerial: the serial (AI 21) breaks the same rules as a lot.
	ErrSerial = errors.New("digitallink: invalid serial")
	// ErrVariant: the consumer product variant (AI 22) breaks the same rules.
	ErrVariant = errors.New("digitallink: invalid consumer product variant")
	// ErrOrder: key qualifiers out of the order 22, 10, 21, or repeated.
	ErrOrder = errors.New("digitallink: key qualifiers out of order")
	// ErrAttribute: a data attribute in the query string has an invalid
	// value, or a key or key qualifier appears in the query string.
	ErrAttribute = errors.New("digitallink: invalid data attribute")
)

// Application Identifiers this package understands in the path.
const (
	AIGTIN    = "01"
	AIVariant = "22"
	AILot     = "10"
	AISerial  = "21"
	// AIExpiry is the expiration date data attribute, YYMMDD.
	AIExpiry = "17"
)

// qualifierRank is the position of each GTIN key qualifier in gtin-path.
func qualifierRank(ai string) int {
	switch ai {
	case AIVariant:
		return 1
	case AILot:
		return 2
	case AISerial:
		return 3
	}
	return 0
}

// Attribute is one data attribute of the query string: an AI and its value.
type Attribute struct {
	AI    string
	Value string
}

// Link is a parsed GS1 Digital Link URI for a trade item.
type Link struct {
	// Base is the scheme and host of an absolute URI ("https://example.org"),
	// "" for a parsed request path.
	Base string
	// Prefix is the path before the primary key ("/prefix/path"), "" when
	// the key starts the path.
	Prefix string
	// GTIN is the 14-digit GTIN; GTINWritten is the GTIN as it appeared
	// (8, 12, 13 or 14 digits). They differ for a non-canonical URI, which
	// a resolver redirects to the canonical one.
	GTIN, GTINWritten string
	// Variant, Lot and Serial are the decoded key qualifiers (AI 22, 10,
	// 21), "" when absent.
	Variant, Lot, Serial string
	// Attributes are the data attributes of the query string (keys that are
	// all digits), in the order written.
	Attributes []Attribute
	// Params holds the other query parameters (linkType, lang, …), which a
	// Digital Link parser passes through untouched.
	Params url.Values
}

// Attr returns the value of a data attribute.
func (l *Link) Attr(ai string) (string, bool) {
	for _, a := range l.Attributes {
		if a.AI == ai {
			return a.Value, true
		}
	}
	return "", false
}

// Canonical reports whether the URI was written in its canonical form as
// far as the resolver cares: GTIN-14 and no path prefix.
func (l *Link) Canonical() bool { return l.GTIN == l.GTINWritten && l.Prefix == "" }

// Path returns the canonical path: /01/{gtin14}[/22/{cpv}][/10/{lot}][/21/{serial}],
// each value percent-encoded as EscapeValue does.
func (l *Link) Path() string {
	return FormatPath(l.GTIN, l.Variant, l.Lot, l.Serial)
}

// FormatPath builds a canonical Digital Link path. gtin should be in
// 14-digit form; empty qualifiers are left out.
func FormatPath(gtin, variant, lot, serial string) string {
	var b strings.Builder
	b.WriteString("/01/")
	b.WriteString(gtin)
	for _, q := range [...]struct{ ai, v string }{{AIVariant, variant}, {AILot, lot}, {AISerial, serial}} {
		if q.v != "" {
			b.WriteString("/" + q.ai + "/")
			b.WriteString(EscapeValue(q.v))
		}
	}
	return b.String()
}

// Format builds an absolute Digital Link URI from a base URL (scheme, host
// and an optional prefix, without a trailing slash) and the identifiers.
func Format(base, gtin, lot, serial string) string {
	return strings.TrimRight(base, "/") + FormatPath(gtin, "", lot, serial)
}

// EscapeValue percent-encodes a key or qualifier value for a path segment.
// The grammar (§6) lets the letters, digits and "-", ".", "_" stand as they
// are and writes every other CSET 82 symbol percent-encoded (its XSYMBOL
// rule: "!" is %21, "/" is %2F, …); a value of "." or ".." is encoded in
// full so that no path normaliser mistakes it for a dot-segment.
func EscapeValue(v string) string {
	const hex = "0123456789ABCDEF"
	dots := v == "." || v == ".."
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !dots && (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// Parse parses an absolute http or https GS1 Digital Link URI. The scheme
// and host may be in any case; a path prefix before /01/ is allowed (§4:
// the domain may be followed by path elements of its own).
func Parse(uri string) (*Link, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, errNotAnAddress()
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, errNotAnAddress()
	}
	l, err := ParsePath(u.EscapedPath(), u.RawQuery)
	if err != nil {
		return nil, err
	}
	l.Base = u.Scheme + "://" + strings.ToLower(u.Host)
	return l, nil
}

// ParsePath parses the path (still percent-encoded, as
// url.URL.EscapedPath returns it) and the raw query of a request for a
// Digital Link URI.
//
// The path is read from its end, in pairs of AI and value (§4): key
// qualifiers, then the primary key; whatever precedes the primary key is
// the prefix. Splitting before decoding keeps a "%2F" inside a lot code
// from being taken for a path separator.
func ParsePath(escapedPath, rawQuery string) (*Link, error) {
	if escapedPath == "" || escapedPath[0] != '/' {
		return nil, errNotAnAddress()
	}
	segs := strings.Split(escapedPath[1:], "/")
	l := &Link{}
	type pair struct{ ai, raw string }
	var quals []pair // from the end of the path backwards
	i := len(segs)
	for ; i >= 2; i -= 2 {
		ai, raw := segs[i-2], segs[i-1]
		if ai == AIGTIN {
			l.GTINWritten = raw
			break
		}
		if qualifierRank(ai) == 0 {
			if strings.Contains(escapedPath, "/01/") {
				return nil, errNotQualifier(ai)
			}
			return nil, errNoGTIN()
		}
		quals = append(quals, pair{ai, raw})
	}
	if i < 2 {
		return nil, errNoGTIN()
	}
	for _, s := range segs[:i-2] {
		if s == "" {
			return nil, errEmptySegment()
		}
	}
	if i > 2 {
		l.Prefix = "/" + strings.Join(segs[:i-2], "/")
	}

	gtin, err := unescape(l.GTINWritten)
	if err != nil {
		return nil, err
	}
	l.GTINWritten = gtin
	if l.GTIN, err = ledger.NormalizeGTIN(gtin); err != nil {
		return nil, errGTIN(gtin, err)
	}

	rank := 0
	for k := len(quals) - 1; k >= 0; k-- {
		q := quals[k]
		r := qualifierRank(q.ai)
		if r <= rank {
			return nil, errOrder()
		}
		rank = r
		v, err := unescape(q.raw)
		if err != nil {
			return nil, err
		}
		if err := ledger.CheckLot(v); err != nil {
			return nil, errQualifier(q.ai, v, err)
		}
		switch q.ai {
		case AIVariant:
			l.Variant = v
		case AILot:
			l.Lot = v
		case AISerial:
			l.Serial = v
		}
	}
	if err := l.parseQuery(rawQuery); err != nil {
		return nil, err
	}
	return l, nil
}

func unescape(raw string) (string, error) {
	if raw == "" {
		return "", errEmptySegment()
	}
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", errBadEscape()
	}
	return v, nil
}

// parseQuery splits the query string into data attributes (all-digit
// keys: AIs) and other parameters. A key or key qualifier AI in the query
// string is refused: it belongs in the path (§4).
func (l *Link) parseQuery(raw string) error {
	l.Params = url.Values{}
	if raw == "" {
		return nil
	}
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return errBadEscape()
		}
		if !allDigits(key) || key == "" {
			l.Params.Add(key, val)
			continue
		}
		if err := checkAttribute(key, val); err != nil {
			return err
		}
		l.Attributes = append(l.Attributes, Attribute{AI: key, Value: val})
	}
	return nil
}

// checkAttribute validates the data attributes whose format this package
// knows (the dates of the grammar's prodDateParameter … sellByDateParameter
// rules: 6DIGIT, read as YYMMDD where DD may be 00) and bounds the others.
func checkAttribute(ai, v string) error {
	switch ai {
	case AIGTIN, AIVariant, AILot, AISerial:
		return errAttrInQuery(ai)
	case "11", "12", "13", "15", "16", AIExpiry:
		if len(v) != 6 || !allDigits(v) {
			return errAttrDate(ai, v)
		}
		mm, dd := (v[2]-'0')*10+v[3]-'0', (v[4]-'0')*10+v[5]-'0'
		if mm < 1 || mm > 12 || dd > 31 {
			return errAttrDate(ai, v)
		}
		return nil
	}
	if len(ai) < 2 || len(ai) > 4 {
		return errNotAI(ai)
	}
	if v == "" || len(v) > 90 {
		return errAttrLength(ai)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
