package api

import (
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// The log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles), under /log/:
//
//	/log/checkpoint                 the latest cosigned checkpoint note
//	/log/tile/<L>/<N>[.p/<W>]       hash tiles, 256 hashes when full
//	/log/tile/entries/<N>[.p/<W>]   entry bundles: uint16 length, entry
//
// A mirror, an auditor or a CDN copies and checks the whole log with plain
// GETs, no API client needed. Tiles are served only within the latest
// cosigned checkpoint, so everything served is covered by a root the
// nodes signed. A full tile never changes and is cached for a year; a
// partial tile (of any width the checkpoint covers) is cached briefly.

// Cache lifetimes of tiles.
const (
	fullTileCache    = "public, max-age=31536000, immutable"
	partialTileCache = "public, max-age=60"
)

// ParseTilePath parses a tile path relative to /log/, "tile/<L>/<N>[.p/<W>]"
// or "tile/entries/<N>[.p/<W>]", into a tlog.Tile of height
// ledger.TileHeight (L == -1 for an entry bundle). It accepts only the
// canonical spelling tlog.Tile.Path gives (without its height element):
// no leading zeros, 3-digit groups with x on all but the last, 1 ≤ W ≤ 255.
func ParseTilePath(p string) (tlog.Tile, error) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return tlog.Tile{}, errBadRequest.with("a tile path starts with tile/")
	}
	level, _, _ := strings.Cut(rest, "/")
	if level == "entries" {
		rest = "data" + rest[len("entries"):]
	} else if l, err := strconv.Atoi(level); err != nil || l < 0 || l > 63 || strconv.Itoa(l) != level {
		return tlog.Tile{}, errBadRequest.with("tile level " + strconv.Quote(level) + " is not entries or an integer from 0 to 63")
	}
	t, err := tlog.ParseTilePath("tile/" + strconv.Itoa(ledger.TileHeight) + "/" + rest)
	if err != nil {
		return tlog.Tile{}, errBadRequest.with("malformed tile path " + strconv.Quote(p) + "; see c2sp.org/tlog-tiles")
	}
	return t, nil
}

// getTile serves a hash tile or an entry bundle within the latest cosigned
// checkpoint: 400 for a malformed path, 404 for a tile beyond it.
func (s *Server) getTile(w http.ResponseWriter, r *http.Request) {
	t, err := ParseTilePath(strings.TrimPrefix(r.URL.EscapedPath(), "/log/"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var data []byte
	err = s.cluster.Store().View(func(rd ledger.Reader) error {
		cp, _, ok, err := ledger.LatestCheckpoint(rd)
		if err != nil {
			return err
		}
		if !ok {
			return ledger.ErrUnknownTile.Detail("no cosigned checkpoint yet")
		}
		data, err = ledger.ReadTile(rd, cp.Size, t)
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cache := partialTileCache
	if t.W == 1<<ledger.TileHeight {
		cache = fullTileCache
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", cache)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}
