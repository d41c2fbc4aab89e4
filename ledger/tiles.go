package ledger

import (
	"encoding/binary"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Tiles (https://c2sp.org/tlog-tiles) let anyone copy and check the log
// with plain GETs of immutable files. A hash tile is 256 consecutive hashes
// of one level of the tree; an entry bundle is the 256 entries under a
// level-0 tile. Both are read from what the log already stores: the stored
// hashes under h/ and the entries under e/. Nothing is written for them.

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
