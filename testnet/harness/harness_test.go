package harness

import "testing"

// TestFreeAddrNeverRepeats: FreeAddr never hands out a port twice in a
// process. Drawn at random from 12 000 ports, 2 000 calls would repeat
// one about 160 times.
func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		a, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
	}
}
