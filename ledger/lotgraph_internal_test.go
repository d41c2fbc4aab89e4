package ledger

import (
	"errors"
	"fmt"
	"testing"
)

// graphStore writes lots whose Parents/Children are given by edges
// (parent → child, in order), as the state would hold them.
func graphStore(t *testing.T, edges [][2]string, extra ...string) (*MemStore, func(string) LotRef) {
	t.Helper()
	ref := func(name string) LotRef { return LotRef{GTIN: "08936000100025", Lot: name} }
	lots := map[string]*Lot{}
	get := func(n string) *Lot {
		if lots[n] == nil {
			lots[n] = &Lot{GTIN: ref(n).GTIN, Lot: n}
		}
		return lots[n]
	}
	for _, e := range edges {
		p, c := e[0], e[1]
		get(p).Children = append(get(p).Children, ref(c))
		get(c).Parents = append(get(c).Parents, ref(p))
	}
	for _, n := range extra {
		get(n)
	}
	m := NewMemStore()
	err := m.Update(func(w Writer) error {
		for _, l := range lots {
			if err := putJSON(w, lotKey(l.Ref()), l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, ref
}

func walkNames(t *testing.T, m *MemStore, start LotRef, dir Direction, limit int) ([]string, error) {
	t.Helper()
	var got []string
	err := m.View(func(r Reader) error {
		l, err := GetLot(r, start)
		if err != nil {
			return err
		}
		return WalkLots(r, []*Lot{l}, dir, limit, func(x *Lot) (bool, error) {
			got = append(got, x.Lot)
			return true, nil
		})
	})
	return got, err
}

func TestWalkLots(t *testing.T) {
	// a → b, c; b → d; c → d (a diamond); d → e
	m, ref := graphStore(t, [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}, {"d", "e"}})
	got, err := walkNames(t, m, ref("a"), Downstream, 0)
	if err != nil || fmt.Sprint(got) != "[a b c d e]" {
		t.Errorf("downstream of a: %v %v, want [a b c d e] (breadth first, d once)", got, err)
	}
	got, err = walkNames(t, m, ref("e"), Upstream, 0)
	if err != nil || fmt.Sprint(got) != "[e d b c a]" {
		t.Errorf("upstream of e: %v %v, want [e d b c a]", got, err)
	}
	// A limit visits that many lots, then says there were more.
	got, err = walkNames(t, m, ref("a"), Downstream, 3)
	if !errors.Is(err, ErrLotGraphTooLarge) || fmt.Sprint(got) != "[a b c]" {
		t.Errorf("downstream of a, limit 3: %v %v, want [a b c] and ErrLotGraphTooLarge", got, err)
	}
	// Exactly the limit reachable: no error.
	if got, err = walkNames(t, m, ref("a"), Downstream, 5); err != nil || len(got) != 5 {
		t.Errorf("limit 5 of 5 lots: %v %v", got, err)
	}
	// visit stops the walk.
	var n int
	err = m.View(func(r Reader) error {
		l, _ := GetLot(r, ref("a"))
		return WalkLots(r, []*Lot{l}, Downstream, 0, func(*Lot) (bool, error) { n++; return n < 2, nil })
	})
	if err != nil || n != 2 {
		t.Errorf("stopped walk: %d visits, %v", n, err)
	}
	// Several starts, one shared ancestor: each lot once.
	err = m.View(func(r Reader) error {
		b, _ := GetLot(r, ref("b"))
		c, _ := GetLot(r, ref("c"))
		var got []string
		err := WalkLots(r, []*Lot{b, c, b}, Upstream, 0, func(x *Lot) (bool, error) { got = append(got, x.Lot); return true, nil })
		if fmt.Sprint(got) != "[b c a]" {
			t.Errorf("upstream of b and c: %v", got)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWalkLotsMissingLotIsCorruption(t *testing.T) {
	m, ref := graphStore(t, nil, "x")
	m.Update(func(w Writer) error {
		x := &Lot{GTIN: ref("x").GTIN, Lot: "x", Children: []LotRef{ref("ghost")}}
		return putJSON(w, lotKey(x.Ref()), x)
	})
	if _, err := walkNames(t, m, ref("x"), Downstream, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a child missing from the state: %v, want ErrCorrupt", err)
	}
}
