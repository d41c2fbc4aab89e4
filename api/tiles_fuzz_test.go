package api

import (
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

// FuzzParseTilePath: the parser never panics, and what it accepts is a
// tile of height 8 whose canonical path is the input.
func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{
		"tile/0/000", "tile/0/x001/234.p/5", "tile/entries/x123/456.p/255", "tile/63/000.p/1",
		"tile/00/000", "tile/8/0/000", "tile/data/000", "tile/0/000.p/256", "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tile, err := ParseTilePath(p)
		if err != nil {
			return
		}
		if tile.H != 8 || tile.L < -1 || tile.L > 63 || tile.N < 0 || tile.W < 1 || tile.W > 256 {
			t.Fatalf("%q parsed as %+v", p, tile)
		}
		if want := ledger.TilePath(tile); want != p {
			t.Fatalf("%q parsed as %+v, whose path is %s", p, tile, want)
		}
	})
}
