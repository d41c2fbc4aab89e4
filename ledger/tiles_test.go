package ledger_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// growLedger appends admin-signed registrations (marked verified, with a
// dummy signature) until l holds n entries.
func growLedger(t *testing.T, l *testLedger, admin *key, n uint64) {
	t.Helper()
	sig := make([]byte, ledger.SignatureLen)
	for next := l.size(); next < n; {
		cmd := &ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime}
		for k := 0; k < 500 && next < n; k, next = k+1, next+1 {
			rec := fmt.Sprintf(`{"address":"0x1%039x","id":"r%d","name":"HTX %d","roles":["producer"],"signer":"%s","time":"2026-06-01T00:00:00Z","type":"participant"}`,
				next, next, next, admin.hex())
			env := &ledger.Admitted{Canonical: []byte(rec), Signature: sig, Signer: admin.addr}
			if err := ledger.Preverify(env); err != nil {
				t.Fatal(err)
			}
			cmd.Envelopes = append(cmd.Envelopes, env)
		}
		for _, res := range l.apply(cmd) {
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		}
	}
}

// storeTiles serves ReadTile to tlog.TileHashReader.
type storeTiles struct {
	l    *testLedger
	size uint64
}

func (s storeTiles) Height() int { return ledger.TileHeight }

func (s storeTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	var err error
	s.l.view(func(r ledger.Reader) error {
		for i, t := range tiles {
			if out[i], err = ledger.ReadTile(r, s.size, t); err != nil {
				return nil
			}
		}
		return nil
	})
	return out, err
}

func (storeTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func TestReadTileRebuildsTheTree(t *testing.T) {
	admin := newKey(t)
	l := newLedger(t, admin.addr)
	growLedger(t, l, admin, 1000)
	for _, size := range []uint64{1, 2, 255, 256, 257, 511, 512, 1000} {
		var root tlog.Hash
		l.view(func(r ledger.Reader) (err error) { root, err = ledger.TreeHashAt(r, size); return err })
		thr := tlog.TileHashReader(tlog.Tree{N: int64(size), Hash: root}, storeTiles{l, size})
		got, err := tlog.TreeHash(int64(size), thr)
		if err != nil || got != root {
			t.Fatalf("size %d: root from tiles %v, %v; want %v", size, got, err, root)
		}
		// A reader expecting another root refuses the tiles.
		bad := root
		bad[0] ^= 1
		if _, err := tlog.TreeHash(int64(size), tlog.TileHashReader(tlog.Tree{N: int64(size), Hash: bad}, storeTiles{l, size})); err == nil {
			t.Errorf("size %d: tiles verified against a wrong root", size)
		}
		// Every entry of every bundle hashes to its leaf in the level-0 tile.
		for n := int64(0); uint64(n)<<8 < size; n++ {
			w := int(min(size-uint64(n)<<8, 256))
			leaves := readTile(t, l, size, tlog.Tile{H: 8, L: 0, N: n, W: w})
			bundle := readTile(t, l, size, tlog.Tile{H: 8, L: -1, N: n, W: w})
			for i := 0; i < w; i++ {
				if len(bundle) < 2 || len(bundle) < 2+int(binary.BigEndian.Uint16(bundle)) {
					t.Fatalf("size %d bundle %d: truncated at entry %d", size, n, i)
				}
				m := int(binary.BigEndian.Uint16(bundle))
				h := ledger.LeafHash(bundle[2 : 2+m])
				if !bytes.Equal(h[:], leaves[i*32:(i+1)*32]) {
					t.Fatalf("size %d: entry %d does not hash to its leaf", size, n*256+int64(i))
				}
				seq := n*256 + int64(i)
				if seq%97 == 0 || uint64(seq) == size-1 {
					p, err := tlog.ProveRecord(int64(size), seq, thr)
					if err != nil || tlog.CheckRecord(p, int64(size), root, seq, h) != nil {
						t.Errorf("size %d: inclusion of %d through tiles: %v", size, seq, err)
					}
				}
				bundle = bundle[2+m:]
			}
			if len(bundle) != 0 {
				t.Errorf("size %d bundle %d: %d bytes left over", size, n, len(bundle))
			}
		}
	}
}

func readTile(t *testing.T, l *testLedger, size uint64, tile tlog.Tile) []byte {
	t.Helper()
	var b []byte
	l.view(func(r ledger.Reader) (err error) { b, err = ledger.ReadTile(r, size, tile); return err })
	if b == nil {
		t.Fatalf("tile %s of size %d: not served", tile.Path(), size)
	}
	return b
}

func TestReadTileRefusesTilesOutsideTheTree(t *testing.T) {
	admin := newKey(t)
	l := newLedger(t, admin.addr)
	growLedger(t, l, admin, 300)
	for _, c := range []struct {
		size uint64
		tile tlog.Tile
	}{
		{300, tlog.Tile{H: 8, L: 0, N: 1, W: 45}},      // one hash too many
		{300, tlog.Tile{H: 8, L: -1, N: 1, W: 256}},    // full bundle of a partial
		{300, tlog.Tile{H: 8, L: 0, N: 2, W: 1}},       // past the end
		{300, tlog.Tile{H: 8, L: 1, N: 0, W: 2}},       // one full level-0 tile only
		{300, tlog.Tile{H: 8, L: 0, N: 0, W: 0}},       // empty
		{300, tlog.Tile{H: 8, L: 0, N: 0, W: 257}},     // too wide
		{300, tlog.Tile{H: 4, L: 0, N: 0, W: 16}},      // other height
		{300, tlog.Tile{H: 8, L: 8, N: 0, W: 1}},       // beyond any log
		{300, tlog.Tile{H: 8, L: 99, N: 0, W: 1}},      // beyond any level
		{300, tlog.Tile{H: 8, L: 0, N: -1, W: 1}},      // negative index
		{300, tlog.Tile{H: 8, L: 0, N: 1 << 62, W: 1}}, // overflowing index
		{100, tlog.Tile{H: 8, L: 0, N: 0, W: 101}},     // beyond the size asked
	} {
		var err error
		l.view(func(r ledger.Reader) error { _, err = ledger.ReadTile(r, c.size, c.tile); return nil })
		if !errors.Is(err, ledger.ErrUnknownTile) {
			t.Errorf("tile %+v of size %d: %v, want ErrUnknownTile", c.tile, c.size, err)
		}
	}
	// Partial tiles of smaller trees stay readable: they are prefixes.
	readTile(t, l, 300, tlog.Tile{H: 8, L: 0, N: 1, W: 10})
	readTile(t, l, 300, tlog.Tile{H: 8, L: 1, N: 0, W: 1})
	var err error
	l.view(func(r ledger.Reader) error {
		_, err = ledger.ReadTile(r, 301, tlog.Tile{H: 8, L: 0, N: 0, W: 1})
		return nil
	})
	if err == nil {
		t.Error("a size beyond the log was accepted")
	}
}

// ReadTiledEntries reads back every entry of a tree from its tiles alone,
// and refuses tiles that do not add up to the root.
func TestReadTiledEntries(t *testing.T) {
	admin := newKey(t)
	l := newLedger(t, admin.addr)
	growLedger(t, l, admin, 600)
	const size = 600
	var root ledger.Hash
	l.view(func(r ledger.Reader) (err error) { root, err = ledger.TreeHashAt(r, size); return err })
	tiles := map[string][]byte{}
	fetch := func(path string) ([]byte, error) {
		if b, ok := tiles[path]; ok {
			return b, nil
		}
		tl, err := tlog.ParseTilePath(fullTilePath(path))
		if err != nil {
			return nil, err
		}
		var b []byte
		l.view(func(r ledger.Reader) (rerr error) { b, err = ledger.ReadTile(r, size, tl); return nil })
		return b, err
	}
	var seqs []uint64
	err := ledger.ReadTiledEntries(fetch, size, root, func(seq uint64, data []byte) bool {
		var want []byte
		l.view(func(r ledger.Reader) (err error) { _, want, err = ledger.GetEntry(r, seq); return err })
		if !bytes.Equal(data, want) {
			t.Fatalf("entry %d differs from the log", seq)
		}
		seqs = append(seqs, seq)
		return true
	})
	if err != nil || len(seqs) != size || seqs[size-1] != size-1 {
		t.Fatalf("read %d entries, err %v", len(seqs), err)
	}

	// A changed byte in an entry bundle, or a bundle cut short: refused.
	good, err := fetch("tile/entries/001")
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"changed entry": append(append([]byte{}, good[:10]...), append([]byte{good[10] ^ 1}, good[11:]...)...),
		"cut short":     good[:len(good)/2],
		"extra bytes":   append(append([]byte{}, good...), 0, 1, 'x'),
	} {
		tiles["tile/entries/001"] = bad
		err := ledger.ReadTiledEntries(fetch, size, root, func(uint64, []byte) bool { return true })
		if !errors.Is(err, ledger.ErrTileMismatch) {
			t.Errorf("%s: %v, want ErrTileMismatch", name, err)
		}
	}
	delete(tiles, "tile/entries/001")
	// Tiles of another tree: refused.
	var other ledger.Hash
	l.view(func(r ledger.Reader) (err error) { other, err = ledger.TreeHashAt(r, size-1); return err })
	if err := ledger.ReadTiledEntries(fetch, size, other, func(uint64, []byte) bool { return true }); !errors.Is(err, ledger.ErrTileMismatch) {
		t.Errorf("another root: %v, want ErrTileMismatch", err)
	}
	// A fetch that fails ends the read with its error.
	down := errors.New("mirror down")
	if err := ledger.ReadTiledEntries(func(string) ([]byte, error) { return nil, down }, size, root, func(uint64, []byte) bool { return true }); !errors.Is(err, down) {
		t.Errorf("failing fetch: %v", err)
	}
}

// fullTilePath turns a C2SP tile path back into tlog's form, with the
// height and "data" for entry bundles.
func fullTilePath(p string) string {
	rest := p[len("tile/"):]
	if e, ok := bytes.CutPrefix([]byte(rest), []byte("entries/")); ok {
		return fmt.Sprintf("tile/%d/data/%s", ledger.TileHeight, e)
	}
	return fmt.Sprintf("tile/%d/%s", ledger.TileHeight, rest)
}
