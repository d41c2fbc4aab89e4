package ledger_test

// MemStore against the Reader/Writer/Store contract of storage.go, and
// against badgerkv as a reference for Scan.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

type memKV struct{ k, v string }

// scanAll returns what Scan(prefix, start) yields, stopping after limit
// pairs (0: no limit).
func scanAll(t testing.TB, r ledger.Reader, prefix, start []byte, limit int) []memKV {
	t.Helper()
	var out []memKV
	err := r.Scan(prefix, start, func(k, v []byte) bool {
		out = append(out, memKV{string(k), string(v)})
		return limit == 0 || len(out) < limit
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func setPairs(t testing.TB, st ledger.Store, pairs ...string) {
	t.Helper()
	err := st.Update(func(w ledger.Writer) error {
		for i := 0; i < len(pairs); i += 2 {
			if err := w.Set([]byte(pairs[i]), []byte(pairs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func snapshotOf(t testing.TB, st ledger.Store) []memKV {
	t.Helper()
	var out []memKV
	if err := st.View(func(r ledger.Reader) error { out = scanAll(t, r, nil, nil, 0); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMemStoreFailedUpdateChangesNothing(t *testing.T) {
	st := ledger.NewMemStore()
	setPairs(t, st, "a", "1", "b", "2")
	before := snapshotOf(t, st)
	boom := errors.New("boom")
	err := st.Update(func(w ledger.Writer) error {
		if err := w.Set([]byte("a"), []byte("changed")); err != nil {
			return err
		}
		if err := w.Set([]byte("c"), []byte("3")); err != nil {
			return err
		}
		// The transaction sees its own writes before it fails.
		if v, ok, _ := w.Get([]byte("a")); !ok || string(v) != "changed" {
			t.Errorf("own write not visible: %q %v", v, ok)
		}
		if got := scanAll(t, w, nil, nil, 0); !slices.Equal(got, []memKV{{"a", "changed"}, {"b", "2"}, {"c", "3"}}) {
			t.Errorf("scan inside the transaction: %v", got)
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update returned %v, want the function's error", err)
	}
	if after := snapshotOf(t, st); !slices.Equal(after, before) {
		t.Errorf("a failed Update changed the store: %v, was %v", after, before)
	}

	// A failed Apply (a storage-level error mid-command) leaves the ledger as it was.
	l := ledger.NewMemStore()
	admin := newKey(t)
	cmd := registrations(t, admin, 0, 3, genesisTime)
	if err := l.Update(func(w ledger.Writer) error {
		_, err := ledger.Apply(w, &ledger.Command{Kind: ledger.CmdGenesis, Time: genesisTime, Admins: []common.Address{admin.addr}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before = snapshotOf(t, l)
	err = l.Update(func(w ledger.Writer) error {
		if _, err := ledger.Apply(w, cmd); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if after := snapshotOf(t, l); !slices.Equal(after, before) {
		t.Errorf("a failed Update with Apply changed the store (%d keys, was %d)", len(after), len(before))
	}
}

func TestMemStoreScanContract(t *testing.T) {
	st := ledger.NewMemStore()
	setPairs(t, st, "a/1", "x", "a/2", "y", "a/10", "z", "a", "root", "ab", "no", "b/1", "w", "a/\xff", "hi", "a/\x00", "lo")
	st.View(func(r ledger.Reader) error {
		cases := []struct {
			name          string
			prefix, start string
			nilStart      bool
			limit         int
			want          []memKV
		}{
			{"prefix, byte order", "a/", "", true, 0, []memKV{{"a/\x00", "lo"}, {"a/1", "x"}, {"a/10", "z"}, {"a/2", "y"}, {"a/\xff", "hi"}}},
			{"start inclusive", "a/", "a/10", false, 0, []memKV{{"a/10", "z"}, {"a/2", "y"}, {"a/\xff", "hi"}}},
			{"start between keys", "a/", "a/11", false, 0, []memKV{{"a/2", "y"}, {"a/\xff", "hi"}}},
			{"start equal to prefix", "a/", "a/", false, 0, []memKV{{"a/\x00", "lo"}, {"a/1", "x"}, {"a/10", "z"}, {"a/2", "y"}, {"a/\xff", "hi"}}},
			{"start past every key", "a/", "a/\xff\xff", false, 0, nil},
			{"stop early", "a/", "", true, 2, []memKV{{"a/\x00", "lo"}, {"a/1", "x"}}},
			{"prefix is a key", "a", "", true, 0, []memKV{{"a", "root"}, {"a/\x00", "lo"}, {"a/1", "x"}, {"a/10", "z"}, {"a/2", "y"}, {"a/\xff", "hi"}, {"ab", "no"}}},
			{"no such prefix", "c/", "", true, 0, nil},
			{"empty prefix", "", "", true, 0, []memKV{{"a", "root"}, {"a/\x00", "lo"}, {"a/1", "x"}, {"a/10", "z"}, {"a/2", "y"}, {"a/\xff", "hi"}, {"ab", "no"}, {"b/1", "w"}}},
		}
		for _, c := range cases {
			var start []byte
			if !c.nilStart {
				start = []byte(c.start)
			}
			if got := scanAll(t, r, []byte(c.prefix), start, c.limit); !slices.Equal(got, c.want) {
				t.Errorf("%s: Scan(%q, %q) = %q, want %q", c.name, c.prefix, c.start, got, c.want)
			}
		}
		if v, ok, err := r.Get([]byte("a/1")); err != nil || !ok || string(v) != "x" {
			t.Errorf("Get a/1 = %q %v %v", v, ok, err)
		}
		if v, ok, err := r.Get([]byte("a/3")); err != nil || ok || v != nil {
			t.Errorf("Get of a missing key = %q %v %v", v, ok, err)
		}
		return nil
	})

	// Inside an Update, Scan merges the transaction's writes in key order,
	// a rewrite replacing the stored value.
	err := st.Update(func(w ledger.Writer) error {
		w.Set([]byte("a/15"), []byte("new"))
		w.Set([]byte("a/1"), []byte("x2"))
		w.Set([]byte("a/0"), nil)
		want := []memKV{{"a/0", ""}, {"a/1", "x2"}, {"a/10", "z"}, {"a/15", "new"}, {"a/2", "y"}}
		if got := scanAll(t, w, []byte("a/"), []byte("a/0"), 5); !slices.Equal(got, want) {
			t.Errorf("scan inside an update = %q, want %q", got, want)
		}
		if _, ok, _ := w.Get([]byte("a/0")); !ok {
			t.Error("a key set to an empty value is missing")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st.View(func(r ledger.Reader) error {
		if got := scanAll(t, r, []byte("a/1"), nil, 0); !slices.Equal(got, []memKV{{"a/1", "x2"}, {"a/10", "z"}, {"a/15", "new"}}) {
			t.Errorf("after the update: %q", got)
		}
		return nil
	})
}

// TestMemStoreMatchesBadger runs the same writes on a MemStore and on an
// in-memory Badger store, then compares random scans.
func TestMemStoreMatchesBadger(t *testing.T) {
	mem := ledger.NewMemStore()
	bdb, err := badgerkv.Open(badgerkv.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	rnd := rand.New(rand.NewSource(1))
	alphabet := []byte{'a', 'b', '/', 0x00, 0x7f, 0x80, 0xff}
	randKey := func(max int) []byte {
		k := make([]byte, 1+rnd.Intn(max))
		for i := range k {
			k[i] = alphabet[rnd.Intn(len(alphabet))]
		}
		return k
	}
	for round := 0; round < 5; round++ {
		var pairs []string
		for i := 0; i < 60; i++ {
			pairs = append(pairs, string(randKey(5)), fmt.Sprint("v", round, i))
		}
		setPairs(t, mem, pairs...)
		setPairs(t, bdb, pairs...)
	}
	if a, b := snapshotOf(t, mem), snapshotOf(t, bdb); !slices.Equal(a, b) {
		t.Fatalf("stores differ after the same writes:\nmem    %q\nbadger %q", a, b)
	}
	mem.View(func(rm ledger.Reader) error {
		return bdb.View(func(rb ledger.Reader) error {
			for i := 0; i < 300; i++ {
				prefix := randKey(3)
				if i%10 == 0 {
					prefix = nil
				}
				var start []byte
				if rnd.Intn(2) == 0 {
					start = append(append([]byte(nil), prefix...), randKey(3)...)
				}
				limit := rnd.Intn(4)
				if a, b := scanAll(t, rm, prefix, start, limit), scanAll(t, rb, prefix, start, limit); !slices.Equal(a, b) {
					t.Errorf("Scan(%q, %q, limit %d): mem %q, badger %q", prefix, start, limit, a, b)
				}
			}
			return nil
		})
	})
}

// TestMemStoreReplaysLedger: a ledger replayed entry by entry into a
// MemStore reaches exactly the state the Badger store holds.
func TestMemStoreReplaysLedger(t *testing.T) {
	h := newProvHistory(t)
	mem := ledger.NewMemStore()
	n := h.size()
	h.view(func(r ledger.Reader) error {
		for seq := uint64(0); seq < n; seq++ {
			e, _, err := ledger.GetEntry(r, seq)
			if err != nil {
				return err
			}
			res, err := ledger.ReplayEntry(mem, e)
			if err != nil || res.Err != nil || (seq > 0 && res.Seq != seq) {
				t.Fatalf("replay of entry %d: %+v, %v", seq, res, err)
			}
		}
		return nil
	})
	derived := func(st ledger.Store) []memKV {
		var out []memKV
		for _, p := range snapshotOf(t, st) {
			// Checkpoints, and the note a node's store keeps that its lot
			// heads cover its lot states, are not derived from the entries.
			if !bytes.HasPrefix([]byte(p.k), []byte("c/")) && p.k != "m/lotcover" {
				out = append(out, p)
			}
		}
		return out
	}
	if a, b := derived(mem), derived(h.db); !slices.Equal(a, b) {
		t.Errorf("replayed state (%d keys) differs from the ledger's (%d keys)", len(a), len(b))
	}
	if a, b := headOf(t, mem), h.head(); a != b {
		t.Errorf("replayed head %+v, ledger head %+v", a, b)
	}
}

func headOf(t testing.TB, st ledger.Store) ledger.Head {
	t.Helper()
	var h ledger.Head
	if err := st.View(func(r ledger.Reader) (err error) { h, err = ledger.ReadHead(r); return err }); err != nil {
		t.Fatal(err)
	}
	return h
}
