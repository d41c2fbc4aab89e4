package ledger

import "errors"

// The lot graph: a transform makes its outputs from its inputs, so each
// lot lists the lots it was made from (Parents) and the lots made from it
// (Children), both in its state. The rules (who may recall, what a recall
// reaches), provenance bundles, the EPCIS export and the consumer pages all
// walk this graph; WalkLots is the one walk they share.

// ErrLotGraphTooLarge reports a walk that could reach more lots than its
// limit. The lots within the limit were visited.
var ErrLotGraphTooLarge = errors.New("ledger: lot graph too large")

// Direction names the edges a walk of the lot graph follows.
type Direction int

const (
	// Upstream follows Parents: the lots a lot was made from, back to
	// each harvest.
	Upstream Direction = iota
	// Downstream follows Children: the lots made from a lot.
	Downstream
)

func (d Direction) next(l *Lot) []LotRef {
	if d == Downstream {
		return l.Children
	}
	return l.Parents
}

// WalkLots visits the lots in starts, then every lot reachable from them
// in direction dir, breadth first, each once, in the order met, until
// visit returns false or an error.
//
// At most limit lots are visited (limit ≤ 0: no limit). When more are
// reachable, the walk still visits the first limit lots and then returns
// ErrLotGraphTooLarge, so a caller may refuse (the rules, bundles) or show
// what it has and say that there is more (the pages). A lot named in the
// graph but missing from the state is corruption (ErrCorrupt).
func WalkLots(r Reader, starts []*Lot, dir Direction, limit int, visit func(*Lot) (bool, error)) error {
	seen := make(map[LotRef]bool, len(starts))
	var queue []*Lot
	over := false
	for _, l := range starts {
		if seen[l.Ref()] {
			continue
		}
		if limit > 0 && len(seen) >= limit {
			over = true
			break
		}
		seen[l.Ref()] = true
		queue = append(queue, l)
	}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		more, err := visit(x)
		if err != nil || !more {
			return err
		}
		for _, ref := range dir.next(x) {
			if seen[ref] {
				continue
			}
			if limit > 0 && len(seen) >= limit {
				over = true
				continue
			}
			y, err := GetLot(r, ref)
			if err != nil {
				return err
			}
			if y == nil {
				return errCorrupt("lot %s names missing lot %s", x.Ref(), ref)
			}
			seen[ref] = true
			queue = append(queue, y)
		}
	}
	if over {
		return ErrLotGraphTooLarge
	}
	return nil
}
