package ledger

import (
	"encoding/json"
	"math/big"
	"strings"
)

// Quantities are exact decimals. A transform takes 0.1 kg from a 500 kg lot
// ten thousand times and must leave exactly 499 kg, on every node: binary
// floating point would not, so amounts are parsed into big.Rat, limited to
// MaxDecimals places, and formatted back as plain decimal strings.

// MaxDecimals is the most decimal places an amount may have.
const MaxDecimals = 6

// maxAmount bounds an amount: 10^12 of any unit is more than any lot.
var maxAmount = big.NewRat(1_000_000_000_000, 1)

var decimalScale = new(big.Int).Exp(big.NewInt(10), big.NewInt(MaxDecimals), nil)

func parseAmount(n json.Number) (*big.Rat, error) {
	s := string(n)
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "xXpP_") {
		return nil, ErrInvalidAmount.Detail("%q is not a decimal number", s)
	}
	if r.Sign() <= 0 {
		return nil, ErrInvalidAmount.Detail("%s: must be positive", s)
	}
	if r.Cmp(maxAmount) > 0 {
		return nil, ErrInvalidAmount.Detail("%s: larger than 10^12", s)
	}
	if new(big.Int).Mod(decimalScale, r.Denom()).Sign() != 0 {
		return nil, ErrInvalidAmount.Detail("%s: more than %d decimal places", s, MaxDecimals)
	}
	return r, nil
}

// formatAmount writes r as a plain decimal: no exponent, no trailing zeros.
func formatAmount(r *big.Rat) string {
	s := r.FloatString(MaxDecimals)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// normalizeQuantity returns q with its amount in the plain decimal form.
func normalizeQuantity(q Quantity) Quantity {
	if plainAmount(string(q.Amount)) {
		return q // what formatAmount would write, or what parseAmount refuses
	}
	r, err := parseAmount(q.Amount)
	if err != nil {
		return q
	}
	return Quantity{Amount: json.Number(formatAmount(r)), Unit: q.Unit}
}

// plainAmount reports whether s is already in the form formatAmount
// writes: digits, no leading zero but a lone one before the point, and
// a fraction, if any, that does not end in 0. Such a string is its own
// normal form when parseAmount takes it (and when it does not, it is
// returned unchanged anyway), so normalizeQuantity skips big.Rat for the
// amounts field devices send.
func plainAmount(s string) bool {
	intPart, frac, dotted := strings.Cut(s, ".")
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') || !allDigits(intPart) {
		return false
	}
	if !dotted {
		return true
	}
	return frac != "" && allDigits(frac) && frac[len(frac)-1] != '0'
}
