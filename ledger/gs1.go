package ledger

import (
	"unicode/utf8"

	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// GS1 identifiers, as the GS1 General Specifications define them.
//
// A GTIN is stored in its 14-digit form: GTIN-8, GTIN-12 and GTIN-13 are
// left-padded with zeros (GS1 General Specifications §3.3.2), so that one
// trade item has one key in the ledger and in a Digital Link URI. The last
// digit is the mod-10 check digit of §7.9.1.
//
// A lot (AI 10) and a serial (AI 21) are 1–20 characters of GS1 AI encodable
// character set 82 (§7.11, Figure 7.11-1): the ASCII letters and digits and
//
//	! " % & ' ( ) * + , - . / : ; < = > ? _
//
// Spaces, '#', and letters outside ASCII (Vietnamese diacritics among them)
// are not in the set: a lot code must print as a GS1-128 barcode too.

// NormalizeGTIN checks a GTIN-8, -12, -13 or -14 and returns its 14-digit form.
func NormalizeGTIN(s string) (string, error) {
	switch len(s) {
	case 8, 12, 13, 14:
	default:
		return "", ErrInvalidGTIN.Detail("%q has %d digits, want 8, 12, 13 or 14", s, len(s))
	}
	if !allDigits(s) {
		return "", ErrInvalidGTIN.Detail("%q is not all digits", s)
	}
	g := padGTIN(s)
	if CheckDigit(g[:13]) != g[13] {
		return "", ErrInvalidGTIN.Detail("%q has a wrong check digit (want %c)", s, CheckDigit(g[:13]))
	}
	return g, nil
}

// allDigits reports whether s holds ASCII digits only.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CheckDigit returns the GS1 mod-10 check digit for the digits in body:
// weights 3 and 1 alternate from the rightmost digit.
func CheckDigit(body string) byte { return epcisevent.CheckDigit(body) }

// CheckLot reports whether s is a valid lot or serial: 1–20 characters of
// GS1 character set 82.
func CheckLot(s string) error {
	if len(s) == 0 {
		return ErrInvalidLot.Detail("empty")
	}
	// Name the character as the user typed it: a Vietnamese letter is one
	// rune of several bytes, and its first byte alone means nothing.
	for i, r := range s {
		if r < utf8.RuneSelf && isCSET82(byte(r)) {
			continue
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return ErrInvalidLot.Detail("%q: byte %#02x is not UTF-8 text", s, s[i])
			}
		}
		return ErrInvalidLot.Detail("%q: character %q is outside GS1 CSET 82 (ASCII letters, digits and !\"%%&'()*+,-./:;<=>?_ only)", s, r)
	}
	if len(s) > 20 {
		return ErrInvalidLot.Detail("%q is longer than 20 characters", s)
	}
	return nil
}

func isCSET82(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '"', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', ':', ';', '<', '=', '>', '?', '_':
		return true
	}
	return false
}

// units holds the UN/ECE Recommendation 20 codes a product quantity may use:
// the mass, volume, count, length and area codes of the recommendation's
// annexes that trade in agricultural goods uses, and the package codes of
// Recommendation 21 in their Rec 20 form (prefix X). Codes are case-sensitive.
var units = map[string]string{
	"KGM": "kg", "GRM": "g", "MGM": "mg", "TNE": "t", "DTN": "dt (100 kg)", "HGM": "hg",
	"LTR": "l", "MLT": "ml", "CLT": "cl", "DLT": "dl", "HLT": "hl", "MTQ": "m³", "CMQ": "cm³",
	"H87": "piece", "C62": "unit", "NAR": "articles", "DZN": "dozen", "PR": "pair",
	"SET": "set", "NPR": "pairs", "NMP": "packs", "NBB": "bottles",
	"MTR": "m", "CMT": "cm", "KMT": "km", "MTK": "m²", "HAR": "ha", "ARE": "a",
	"XBX": "box", "XBO": "bottle", "XBG": "bag", "XCT": "carton", "XJR": "jar", "XSA": "sack",
	"XPK": "package", "XPA": "packet", "XCN": "can", "XTN": "tin", "XBA": "barrel", "XCR": "crate",
	"XPX": "pallet", "XTU": "tube", "XVI": "vial", "XJY": "jerrican", "XBK": "basket", "XPO": "pouch",
}

// CheckUnit reports whether u is a UN/ECE Recommendation 20 code the ledger accepts.
func CheckUnit(u string) error {
	if _, ok := units[u]; !ok {
		return ErrInvalidUnit.Detail("%q (use e.g. KGM, GRM, LTR, H87)", u)
	}
	return nil
}

// UnitSymbol returns a short human label for a Rec 20 unit code.
func UnitSymbol(u string) string {
	if s, ok := units[u]; ok {
		return s
	}
	return u
}

// padGTIN left-pads a GTIN of up to 14 digits to 14.
func padGTIN(s string) string {
	if len(s) >= 14 {
		return s
	}
	return "00000000000000"[:14-len(s)] + s
}
