package fieldapp

import (
	"strings"
	"testing"
)

// FuzzLotPath: whatever a person types in the landing page's box, LotPath
// does not panic, and a path it returns is canonical: reading it again
// gives itself.
func FuzzLotPath(f *testing.F) {
	for _, s := range []string{"08936000000127/LN2606A", "8936000000127 LN2606A", "https://example.org/01/08936000000127/10/A%2FB",
		"/01/08936000000127/10/LN2606A/21/7", "08936000000128/X", "", "/", "http://", "0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		p, err := LotPath(code)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/01/") {
			t.Fatalf("LotPath(%q) = %q", code, p)
		}
		again, err := LotPath(p)
		if err != nil || again != p {
			t.Fatalf("LotPath(%q) = %q, which reads as %q, %v", code, p, again, err)
		}
	})
}
