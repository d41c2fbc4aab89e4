package ledger

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// TestChecksumHex: the signer string an entry records is a's EIP-55 form
// whatever form the record named it in, and the record's own string when
// that already is the form.
func TestChecksumHex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var digitsOnly common.Address
	for i := range digitsOnly {
		digitsOnly[i] = byte(rng.IntN(10))<<4 | byte(rng.IntN(10))
	}
	addrs := []common.Address{digitsOnly}
	for range 200 {
		var a common.Address
		for i := range a {
			a[i] = byte(rng.IntN(256))
		}
		addrs = append(addrs, a)
	}
	for _, a := range addrs {
		want := a.Hex()
		other := addrs[rng.IntN(len(addrs))]
		for _, named := range []string{want, strings.ToLower(want), "0x" + strings.ToUpper(want[2:]), "0X" + want[2:],
			want[:41], want + "0", other.Hex()} {
			if got := checksumHex(a, named); got != want {
				t.Fatalf("checksumHex(%x, %q) = %q, want %q", a, named, got, want)
			}
		}
		if got := checksumHex(a, want); got != want {
			t.Fatalf("the checksum form itself: %q", got)
		}
	}
	named := addrs[1].Hex()
	if n := testing.AllocsPerRun(100, func() { checksumHex(addrs[1], named) }); n != 0 {
		t.Errorf("the checksum form costs %v allocations", n)
	}
}
