package ledger

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// slowNormal is normalizeQuantity's amount without the plain-form
// shortcut: through big.Rat, or unchanged when parseAmount refuses it.
func slowNormal(s string) string {
	r, err := parseAmount(json.Number(s))
	if err != nil {
		return s
	}
	return formatAmount(r)
}

// TestNormalizeQuantityShortcut: an amount plainAmount lets through
// unchanged is one big.Rat would have written the same, or one
// parseAmount refuses; and the amounts field devices send take the
// shortcut.
func TestNormalizeQuantityShortcut(t *testing.T) {
	cases := []string{"0", "1", "10", "500", "0.5", "12.25", "1000000000000", "1000000000001", "0.000001",
		"0.0000001", "1.1234567", "00", "01", "0.0", "1.", ".5", "1.50", "1e3", "1E3", "-1", "+1", "1_0", "0x10",
		"", " 1", "1 ", "٣", "1.0", "10.010", "999999999999.999999"}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789.-e"
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(10) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		got := string(normalizeQuantity(Quantity{Amount: json.Number(s), Unit: "kg"}).Amount)
		if want := slowNormal(s); got != want {
			t.Errorf("%q: normalised to %q, big.Rat writes %q", s, got, want)
		}
	}
	for _, s := range []string{"500", "0.5", "12.25", "1000"} {
		if !plainAmount(s) {
			t.Errorf("%q does not take the shortcut", s)
		}
	}
	for _, s := range []string{"1.50", "01", "1e3", "0.0", "1."} {
		if plainAmount(s) {
			t.Errorf("%q takes the shortcut", s)
		}
	}
}
