package consumer

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/traceledger/traceledger/ledger"
)

// headState is what the verification panel says about completeness: does
// the page hold the newest entries of its lots, as the latest checkpoint's
// lot-head map (ledger/lotheads.go) commits to them?
type headState struct {
	// Checked: the checkpoint commits to lot heads and every lot of the
	// page was checked against it. False with no Short or Broken: this
	// checkpoint commits to no lot heads, so completeness is not shown.
	Checked bool
	// Short names the first lot whose latest entry at the checkpoint the
	// page leaves out (Head is that entry).
	Short string
	Head  uint64
	// Broken: a head did not verify against the checkpoint (a corrupt
	// store) or could not be read.
	Broken bool
}

func (h headState) String() string {
	switch {
	case h.Broken:
		return "broken"
	case h.Short != "":
		return fmt.Sprintf("short:%s:%d", h.Short, h.Head)
	case h.Checked:
		return "ok"
	}
	return "none"
}

// checkHeads checks the page's lots against the lot heads committed by
// cp: the page's own lot must show its latest entry at the checkpoint;
// an ancestor, whose journey the page follows only up to the transform
// the lineage continues from, must show its latest entry unless that
// entry comes after the transform and is not a recall. Each lot costs a
// proof of O(log lots) hashes.
func checkHeads(rd ledger.Reader, cp ledger.Checkpoint, m *model) (headState, error) {
	if !cp.HasLotHeads {
		return headState{}, nil
	}
	// The page's own lot first, then its ancestors in a stable order.
	var ancestors []ledger.LotRef
	for ref := range m.cutoff {
		if ref != m.Ref {
			ancestors = append(ancestors, ref)
		}
	}
	slices.SortFunc(ancestors, func(a, b ledger.LotRef) int { return strings.Compare(a.String(), b.String()) })
	heads, err := ledger.LotHeadsAt(rd, cp.Size)
	if err != nil {
		return headState{Broken: true}, err
	}
	for _, ref := range append([]ledger.LotRef{m.Ref}, ancestors...) {
		p, err := heads.Prove(ref)
		if errors.Is(err, ledger.ErrNoLotHead) {
			seqs, err := ledger.LotSeqs(rd, ref)
			if err != nil {
				return headState{Broken: true}, err
			}
			if len(seqs) > 0 && seqs[0] < cp.Size {
				// Entries below the checkpoint but no head in its map:
				// a ledger written before the map. Nothing is shown.
				return headState{}, nil
			}
			continue // a lot newer than the checkpoint
		}
		if err != nil {
			return headState{Broken: true}, err
		}
		if err := ledger.CheckLotHead(p, cp.LotHeads, ref); err != nil {
			return headState{Broken: true}, fmt.Errorf("lot %s: %w", ref, err)
		}
		if m.shown[p.Seq] {
			continue
		}
		if p.Seq > m.cutoff[ref] {
			e, _, err := ledger.GetEntry(rd, p.Seq)
			if err != nil {
				return headState{Broken: true}, err
			}
			if e.Type != ledger.TypeRecall {
				continue
			}
		}
		return headState{Short: ref.String(), Head: p.Seq}, nil
	}
	return headState{Checked: true}, nil
}
