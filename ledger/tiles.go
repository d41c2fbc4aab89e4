package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Tiles (https://c2sp.org/tlog-tiles) let anyone copy and check the log
// with plain GETs of immutable files. A hash tile is 256 consecutive hashes
// of one level of the tree; an entry bundle is the 256 entries under a
// level-0 tile. Both are read from what the log already stores: the stored
// hashes (g/, or h/ in older ledgers) and the entries under e/. Nothing
// is written for them.

// TileHeight is the height of the log's tiles: a full tile holds 1<<8 = 256
// hashes, or 256 entries in an entry bundle.
const TileHeight = 8

// MaxBundledEntry is the longest entry an entry bundle can carry: each
// entry is prefixed with its length as a big-endian uint16.
const MaxBundledEntry = 1<<16 - 1

// ErrUnknownTile reports a tile the log does not serve: malformed, or not
// within the tree of the size asked for.
var ErrUnknownTile = sentinel(KindNotFound, "unknown_tile", "no such tile")

// maxTileLevel bounds the level of a hash tile: levels 0 to 7, each 8
// tree levels high, span 2^64 entries, more than a log can hold.
const maxTileLevel = 63 / TileHeight

// TilePath returns the C2SP path of tile t relative to the log's prefix:
// "tile/<L>/<N>[.p/<W>]", or "tile/entries/<N>[.p/<W>]" for t.L == -1. It
// is tlog.Tile.Path without the height element, "data" spelled "entries".
func TilePath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/"+strconv.Itoa(t.H)+"/")
	if rest, ok := strings.CutPrefix(p, "data/"); ok && t.L == -1 {
		p = "entries/" + rest
	}
	return "tile/" + p
}

// TileWithin reports whether every hash (or entry) of tile t lies within the
// tree of the given size. Only tiles of height TileHeight exist; t.L == -1
// names an entry bundle, which covers the same entries as level 0.
func TileWithin(t tlog.Tile, size uint64) bool {
	if t.H != TileHeight || t.L < -1 || t.L > maxTileLevel || t.N < 0 || t.W < 1 || t.W > 1<<TileHeight {
		return false
	}
	level := max(t.L, 0)
	// Hashes at this level that the tree of size holds (complete subtrees).
	have := size >> (uint(level) * TileHeight)
	if uint64(t.N) > have>>TileHeight {
		return false
	}
	return uint64(t.N)<<TileHeight+uint64(t.W) <= have
}

// ReadTile returns the contents of tile t of the tree of the given size,
// which must not exceed the log's size: for a hash tile the t.W hashes it
// names, concatenated; for an entry bundle (t.L == -1) the t.W entries,
// each as a big-endian uint16 length and the entry's bytes, the leaf data
// whose RFC 6962 leaf hash (LeafHash) is in the level-0 tile.
//
// A tile not within the tree (TileWithin) is ErrUnknownTile.
func ReadTile(r Reader, size uint64, t tlog.Tile) ([]byte, error) {
	n, err := getU64(r, keySize)
	if err != nil {
		return nil, err
	}
	if size > n {
		return nil, ErrInvalidField.Detail("size %d exceeds the log's %d entries", size, n)
	}
	if !TileWithin(t, size) {
		return nil, ErrUnknownTile.Detail("%s is not within the tree of size %d", t.Path(), size)
	}
	if t.L >= 0 {
		return tlog.ReadTileData(t, hashReader{r})
	}
	start := uint64(t.N) << TileHeight
	var out []byte
	for i := range uint64(t.W) {
		v, ok, err := r.Get(entryKey(start + i))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errCorrupt("entry %d missing", start+i)
		}
		if len(v) > MaxBundledEntry {
			return nil, errCorrupt("entry %d is %d bytes, too long for an entry bundle", start+i, len(v))
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
		out = append(out, v...)
	}
	return out, nil
}

// FetchTile fetches a tile by its path relative to the log's prefix
// (TilePath), from a node, a mirror or a CDN. Nothing it returns is
// trusted: ReadTiledEntries checks every byte against the root.
type FetchTile func(path string) ([]byte, error)

// ErrTileMismatch reports tiles that do not add up to the root they were
// read for: a hash tile that does not hash to the root, or an entry bundle
// that is malformed or whose entries do not hash to the level-0 tile.
var ErrTileMismatch = errors.New("ledger: tiles do not match the checkpoint")

// ReadTiledEntries reads the entries of the tree of the given size and
// root from its tiles, in log order, and hands each to entry with its seq.
// Each entry's leaf hash is checked against the level-0 hash tiles, and
// those against root (tlog.TileHashReader), before entry sees it; any
// mismatch ends the read with ErrTileMismatch, naming the tile. entry may
// stop the read by returning false.
func ReadTiledEntries(fetch FetchTile, size uint64, root Hash, entry func(seq uint64, data []byte) bool) error {
	tr := tileFetcher(fetch)
	thr := tlog.TileHashReader(tlog.Tree{N: int64(size), Hash: root}, tr)
	for start := uint64(0); start < size; start += 1 << TileHeight {
		w := min(size-start, 1<<TileHeight)
		bundle := tlog.Tile{H: TileHeight, L: -1, N: int64(start >> TileHeight), W: int(w)}
		b, err := fetch(TilePath(bundle))
		if err != nil {
			return err
		}
		indexes := make([]int64, w)
		for i := range indexes {
			indexes[i] = tlog.StoredHashIndex(0, int64(start)+int64(i))
		}
		leaves, err := thr.ReadHashes(indexes)
		if err != nil {
			return fmt.Errorf("%w: hash tiles: %v", ErrTileMismatch, err)
		}
		for i := range w {
			if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
				return fmt.Errorf("%w: entry bundle %s is truncated at entry %d", ErrTileMismatch, TilePath(bundle), start+i)
			}
			data := b[2 : 2+int(binary.BigEndian.Uint16(b))]
			b = b[2+len(data):]
			if LeafHash(data) != leaves[i] {
				return fmt.Errorf("%w: entry %d in %s does not hash to its leaf", ErrTileMismatch, start+i, TilePath(bundle))
			}
			if !entry(start+i, data) {
				return nil
			}
		}
		if len(b) != 0 {
			return fmt.Errorf("%w: entry bundle %s has %d bytes after its %d entries", ErrTileMismatch, TilePath(bundle), len(b), w)
		}
	}
	return nil
}

// tileFetcher is a tlog.TileReader over a FetchTile.
type tileFetcher FetchTile

func (tileFetcher) Height() int { return TileHeight }

func (f tileFetcher) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := f(TilePath(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (tileFetcher) SaveTiles([]tlog.Tile, [][]byte) {}
