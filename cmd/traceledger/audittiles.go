package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// auditTiles audits the log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles)
// under base/log/, which a node serves and a mirror or a CDN can copy: the
// checkpoint, then every entry bundle up to its size. Each entry's leaf hash
// is checked against the level-0 tiles, which are checked against the
// checkpoint's root (ledger.ReadTiledEntries); then the entries are
// replayed as from the API, and the replayed root must be the
// checkpoint's.
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
	var fails []ledger.Failure
	fail := func(seq int64, format string, args ...any) {
		fails = append(fails, ledger.Failure{Seq: seq, What: fmt.Sprintf(format, args...)})
	}
	fetch := func(path string) ([]byte, error) {
		status, body, _, err := c.do(ctx, http.MethodGet, "/"+path, nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("GET %s/log/%s: %d %s", base, path, status, serverMessage(body))
		}
		return body, nil
	}
	err = ledger.ReadTiledEntries(fetch, cp.Size, cp.Root, func(seq uint64, data []byte) bool {
		e, err := ledger.ParseEntry(data)
		if err != nil {
			fail(int64(seq), "%v", err)
		} else {
			replayChecked(scratch, e, seq, fail)
		}
		return len(fails) < ledger.MaxAuditFailures
	})
	switch {
	case errors.Is(err, ledger.ErrTileMismatch):
		fail(-1, "%v", err)
	case err != nil:
		return 0, nil, err
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
