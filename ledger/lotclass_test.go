package ledger_test

import (
	"math/rand/v2"
	"testing"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// TestLotClassPlain checks LotClass's shortcut for plain lots against the
// Digital Link parser it skips: random GTINs and lots of the plain
// alphabet, words the parser gives a meaning to, and lots outside the
// alphabet (which take the parser).
func TestLotClassPlain(t *testing.T) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._"
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(l ledger.LotRef) {
		t.Helper()
		want := epcisevent.CanonicalID("https://id.gs1.org/01/" + l.GTIN + "/10/" + l.Lot)
		if got := ledger.LotClass(l); got != want {
			t.Fatalf("LotClass(%q, %q) = %q, the parser gives %q", l.GTIN, l.Lot, got, want)
		}
	}
	for range 20000 {
		gtin := make([]byte, 14)
		for i := range gtin {
			gtin[i] = '0' + byte(rng.IntN(10))
		}
		lot := make([]byte, 1+rng.IntN(22))
		for i := range lot {
			lot[i] = alphabet[rng.IntN(len(alphabet))]
		}
		check(ledger.LotRef{GTIN: string(gtin), Lot: string(lot)})
	}
	// The shortcut is taken for what producers write, and only for that.
	for _, tc := range []struct {
		gtin, lot string
		plain     bool
	}{
		{"08936000000127", "L-2026.06_01", true},
		{"08936000000127", "12345678901234567890", true},
		{"8936000000127", "L1", false},                     // 13 digits
		{"0893600000012A", "L1", false},                    // not digits
		{"08936000000127", "", false},                      // no lot
		{"08936000000127", "123456789012345678901", false}, // 21 characters
		{"08936000000127", "a/21/b", false},
		{"08936000000127", "50%", false},
		{"08936000000127", "Lô1", false},
	} {
		if got := ledger.PlainLot(ledger.LotRef{GTIN: tc.gtin, Lot: tc.lot}); got != tc.plain {
			t.Errorf("PlainLot(%q, %q) = %v, want %v", tc.gtin, tc.lot, got, tc.plain)
		}
	}
	for _, lot := range []string{"gtin", "lot", "10", "21", "22", "01", ".", "..", "-", "_", "L-2026.06_01", "a/21/b", "a b", "50%", "x?y", "x#y", "Lô1", "12345678901234567890", "123456789012345678901"} {
		for _, gtin := range []string{"08936000000127", "8936000000127", "0893600000012A"} {
			check(ledger.LotRef{GTIN: gtin, Lot: lot})
		}
	}
}
