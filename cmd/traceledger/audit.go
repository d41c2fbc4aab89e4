package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
	"github.com/traceledger/traceledger/node"
)

// runAudit re-checks a whole ledger: from a data directory (a stopped node,
// or a copy) everything — entry bytes against the stored Merkle leaves,
// signatures, every rule replayed, every derived key compared; from a URL
// what the API exposes — signatures, every rule replayed, and the replayed
// root against the server's cosigned checkpoint and head.
func runAudit(ctx context.Context, args []string) error {
	fs := newFlags("audit")
	dataDir := fs.String("data", "", "data directory of a stopped node (or a copy of one)")
	base := fs.String("url", "", "audit a running node through its API instead")
	tiles := fs.Bool("tiles", false, "with --url: read the log as C2SP tiles under URL/log/ (a node, a mirror or a CDN) instead of the API")
	trustFile := fs.String("trust", "", "file of trusted node keys to check the latest checkpoint's cosignatures")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*dataDir == "") == (*base == "") {
		return errors.New("give exactly one of --data DIR or --url URL")
	}
	if *tiles && *base == "" {
		return errors.New("--tiles reads from --url")
	}
	trusted, err := readTrusted(*trustFile)
	if err != nil {
		return err
	}
	scratchDir, err := os.MkdirTemp("", "traceledger-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratchDir)
	scratch, err := badgerkv.Open(badgerkv.Options{Dir: filepath.Join(scratchDir, "state")})
	if err != nil {
		return err
	}
	defer scratch.Close()

	var fails []ledger.Failure
	var size uint64
	if *dataDir != "" {
		src, err := badgerkv.Open(badgerkv.Options{Dir: node.StateDir(*dataDir)})
		if err != nil {
			return fmt.Errorf("%w (is the node still running? stop it or audit a copy)", err)
		}
		defer src.Close()
		err = src.View(func(r ledger.Reader) error {
			size, _ = ledger.Size(r)
			fails = ledger.Audit(r, scratch, trusted)
			return nil
		})
		if err != nil {
			fails = append(fails, ledger.Failure{Seq: -1, What: err.Error()})
		}
	} else if *tiles {
		size, fails, err = auditTiles(ctx, *base, scratch, trusted)
		if err != nil {
			return err
		}
	} else {
		size, fails, err = auditRemote(ctx, *base, scratch, trusted)
		if err != nil {
			return err
		}
	}
	for _, f := range fails {
		fmt.Printf("FAIL %s\n", f)
	}
	if len(fails) > 0 {
		fmt.Printf("audit: %d problems in a ledger of %d entries\n", len(fails), size)
		return exitError(1)
	}
	fmt.Printf("audit OK: %d entries re-hashed, signatures verified, every rule replayed, state and Merkle root match\n", size)
	return nil
}

// replayChecked replays entry seq into scratch and checks its signature,
// reporting each problem to fail.
func replayChecked(scratch ledger.Store, e *ledger.Entry, seq uint64, fail func(seq int64, format string, args ...any)) {
	res, err := ledger.ReplayEntry(scratch, e)
	switch {
	case err != nil:
		fail(int64(seq), "cannot replay: %v", err)
	case res.Err != nil:
		fail(int64(seq), "%s refused by the ledger's rules on replay: %v", e.Type, res.Err)
	case e.Type != ledger.TypeGenesis && res.Seq != seq:
		fail(int64(seq), "replays to seq %d", res.Seq)
	}
	if err := e.CheckSignature(); err != nil {
		fail(int64(seq), "%v", err)
	}
}

// auditRemote fetches every entry from a node and replays it.
func auditRemote(ctx context.Context, base string, scratch *badgerkv.DB, trusted []string) (uint64, []ledger.Failure, error) {
	c, err := newClient(base)
	if err != nil {
		return 0, nil, err
	}
	var view api.ClusterView
	if err := c.getJSON(ctx, "/v1/cluster?local=true", &view); err != nil {
		return 0, nil, err
	}
	var fails []ledger.Failure
	fail := func(seq int64, format string, args ...any) {
		fails = append(fails, ledger.Failure{Seq: seq, What: fmt.Sprintf(format, args...)})
	}
	for seq := uint64(0); seq < view.Size && len(fails) < ledger.MaxAuditFailures; seq++ {
		var ev ledger.EntryView
		if err := c.getJSON(ctx, fmt.Sprintf("/v1/entries/%d", seq), &ev); err != nil {
			return 0, nil, err
		}
		e := &ledger.Entry{Seq: ev.Seq, Type: ev.Type, RecordTime: ev.RecordTime, Signer: ev.Signer, Record: ev.Record, Signature: ev.Signature, Prev: ev.Prev}
		data, err := ledger.MarshalEntry(e)
		if err != nil {
			fail(int64(seq), "%v", err)
			continue
		}
		if ledger.HashHex(ledger.LeafHash(data)) != ev.Hash {
			fail(int64(seq), "the hash the server reports is not the entry's hash")
		}
		replayChecked(scratch, e, seq, fail)
	}
	var head ledger.Head
	if err := scratch.View(func(r ledger.Reader) (err error) { head, err = ledger.ReadHead(r); return err }); err != nil {
		return 0, nil, err
	}
	if ledger.HashHex(head.Root) != view.Head {
		fail(-1, "replayed root %s differs from the head the server reports (%s)", ledger.HashHex(head.Root), view.Head)
	}
	status, note, _, err := c.do(ctx, http.MethodGet, "/v1/checkpoint", nil)
	if err != nil {
		return 0, nil, err
	}
	if status == http.StatusOK {
		cp, err := parseNoteCheckpoint(note, trusted)
		if err != nil {
			fail(-1, "checkpoint: %v", err)
		} else if cp.Size <= head.Size {
			if what := replayedMismatch(scratch, cp); what != "" {
				fail(-1, "the cosigned checkpoint of size %d does not match the replayed log: %s", cp.Size, what)
			}
		}
	}
	return view.Size, fails, nil
}

// replayedMismatch says how checkpoint cp differs from the replayed log
// of its size (its root, the root of its lot-head map), "" if it does
// not. The replay rebuilt the lot-head map from the entries.
func replayedMismatch(scratch ledger.Store, cp ledger.Checkpoint) string {
	var h ledger.Head
	if err := scratch.View(func(r ledger.Reader) (err error) { h, err = ledger.HeadAt(r, cp.Size); return err }); err != nil {
		return err.Error()
	}
	switch {
	case h.Root != cp.Root:
		return "another root"
	case cp.HasLotHeads && h.LotHeads != cp.LotHeads:
		return "another lot-head map root"
	}
	return ""
}

func parseNoteCheckpoint(msg []byte, trusted []string) (ledger.Checkpoint, error) {
	if len(trusted) > 0 {
		cp, _, err := ledger.OpenCheckpoint(msg, trusted)
		return cp, err
	}
	text, _, ok := ledger.SplitNote(msg)
	if !ok {
		return ledger.Checkpoint{}, errors.New("not a signed note")
	}
	return ledger.ParseCheckpoint(text)
}
