package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// auditTiles audits the log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles)
// under base/log/, which a node serves and a mirror or a CDN can copy: the
// checkpoint, then every entry bundle up to its size. Each entry's leaf hash
// is checked against the level-0 tiles, which tlog.TileHashReader checks
// against the checkpoint's root; then the entries are replayed as from the
// API, and the replayed root must be the checkpoint's.
func auditTiles(ctx context.Context, base string, scratch *badgerkv.DB, trusted []string) (uint64, []ledger.Failure, error) {
	c, err := newClient(strings.TrimSuffix(base, "/") + "/log")
	if err != nil {
		return 0, nil, err
	}
	status, msg, _, err := c.do(ctx, http.MethodGet, "/checkpoint", nil)
	if err != nil {
		return 0, nil, err
	}
	if status != http.StatusOK {
		return 0, nil, fmt.Errorf("GET %s/log/checkpoint: %d %s", base, status, serverMessage(msg))
	}
	cp, err := parseNoteCheckpoint(msg, trusted)
	if err != nil {
		return 0, nil, fmt.Errorf("checkpoint: %w", err)
	}
	thr := tlog.TileHashReader(tlog.Tree{N: int64(cp.Size), Hash: cp.Root}, tileClient{ctx, c})
	var fails []ledger.Failure
	fail := func(seq int64, format string, args ...any) {
		fails = append(fails, ledger.Failure{Seq: seq, What: fmt.Sprintf(format, args...)})
	}
	for start := uint64(0); start < cp.Size && len(fails) < ledger.MaxAuditFailures; start += 1 << ledger.TileHeight {
		w := min(cp.Size-start, 1<<ledger.TileHeight)
		bundle := tlog.Tile{H: ledger.TileHeight, L: -1, N: int64(start >> ledger.TileHeight), W: int(w)}
		b, err := tileClient{ctx, c}.get(bundle)
		if err != nil {
			return 0, nil, err
		}
		indexes := make([]int64, w)
		for i := range indexes {
			indexes[i] = tlog.StoredHashIndex(0, int64(start)+int64(i))
		}
		leaves, err := thr.ReadHashes(indexes)
		if err != nil {
			return 0, nil, fmt.Errorf("hash tiles do not match the checkpoint: %w", err)
		}
		for i := uint64(0); i < w; i++ {
			seq := start + i
			if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
				fail(int64(seq), "entry bundle %s is truncated", ledger.TilePath(bundle))
				break
			}
			data := b[2 : 2+int(binary.BigEndian.Uint16(b))]
			b = b[2+len(data):]
			if ledger.LeafHash(data) != leaves[i] {
				fail(int64(seq), "the entry does not hash to its leaf in the checkpoint's tree")
				continue
			}
			e, err := ledger.ParseEntry(data)
			if err != nil {
				fail(int64(seq), "%v", err)
				continue
			}
			replayChecked(scratch, e, seq, fail)
		}
		if len(b) != 0 {
			fail(int64(start), "entry bundle %s has %d bytes after its %d entries", ledger.TilePath(bundle), len(b), w)
		}
	}
	if len(fails) == 0 {
		var head ledger.Head
		if err := scratch.View(func(r ledger.Reader) (err error) { head, err = ledger.ReadHead(r); return err }); err != nil {
			return 0, nil, err
		}
		if head.Size != cp.Size {
			fail(-1, "the replayed log (size %d) does not match the checkpoint of size %d", head.Size, cp.Size)
		} else if what := replayedMismatch(scratch, cp); what != "" {
			fail(-1, "the replayed log does not match the checkpoint of size %d: %s", cp.Size, what)
		}
	}
	return cp.Size, fails, nil
}

// tileClient is a tlog.TileReader over HTTP.
type tileClient struct {
	ctx context.Context
	c   *client
}

func (t tileClient) Height() int { return ledger.TileHeight }

func (t tileClient) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		b, err := t.get(tile)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (tileClient) SaveTiles([]tlog.Tile, [][]byte) {}

func (t tileClient) get(tile tlog.Tile) ([]byte, error) {
	path := "/" + ledger.TilePath(tile)
	status, body, _, err := t.c.do(t.ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, status, serverMessage(body))
	}
	return body, nil
}
