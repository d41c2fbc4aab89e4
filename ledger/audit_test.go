package ledger_test

// Audit: an honest ledger passes, on disk and in memory; a flipped bit in
// Badger's files, a rewritten derived key, a rewritten entry and a wrong
// checkpoint are each named.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// copyStore copies every key of from into to, in one transaction.
func copyStore(t testing.TB, from, to ledger.Store) {
	t.Helper()
	var keys, vals [][]byte
	err := from.View(func(r ledger.Reader) error {
		return r.Scan([]byte{}, nil, func(k, v []byte) bool {
			keys = append(keys, append([]byte(nil), k...))
			vals = append(vals, append([]byte(nil), v...))
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = to.Update(func(w ledger.Writer) error {
		for i := range keys {
			if err := w.Set(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runAudit runs Audit over src into an empty scratch store.
func runAudit(t testing.TB, src ledger.Store, trusted []string) []ledger.Failure {
	t.Helper()
	var fails []ledger.Failure
	if err := src.View(func(r ledger.Reader) error {
		fails = ledger.Audit(r, ledger.NewMemStore(), trusted)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return fails
}

// tampered returns a copy of h's store with edit applied through a raw
// Writer.
func tampered(t testing.TB, h *provHistory, edit func(w ledger.Writer) error) *ledger.MemStore {
	t.Helper()
	st := ledger.NewMemStore()
	copyStore(t, h.db, st)
	if err := st.Update(edit); err != nil {
		t.Fatal(err)
	}
	return st
}

func failureContaining(fails []ledger.Failure, seq int64, sub string) bool {
	for _, f := range fails {
		if f.Seq == seq && strings.Contains(f.What, sub) {
			return true
		}
	}
	return false
}

// distinctive is a product name found nowhere else in the ledger, so that
// its bytes can be found in Badger's files.
const distinctive = "Vải thiều Thanh Hà loại đặc biệt"

func TestAuditOnDiskAndBitFlip(t *testing.T) {
	h := newProvHistory(t)
	rec := harvestRec("TH1", "120", "KGM")
	rec["product"] = map[string]any{"name": distinctive}
	h.must(h.producer, rec)

	dir := filepath.Join(t.TempDir(), "state")
	disk, err := badgerkv.Open(badgerkv.Options{Dir: dir, Uncompressed: true})
	if err != nil {
		t.Fatal(err)
	}
	copyStore(t, h.db, disk)
	if fails := runAudit(t, disk, h.trusted()); len(fails) != 0 {
		t.Errorf("audit of an honest on-disk ledger: %v", fails)
	}
	if err := disk.Close(); err != nil {
		t.Fatal(err)
	}

	// Flip one bit of the first occurrence of the product name: 'T' → 't'.
	needle := []byte("Thanh Hà loại")
	flipped := ""
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || flipped != "" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if i := bytes.Index(data, needle); i >= 0 {
			data[i] ^= 0x20
			flipped = path
			return os.WriteFile(path, data, 0o600)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if flipped == "" {
		t.Fatalf("%q is in no file of %s", needle, dir)
	}
	t.Logf("flipped a bit in %s", filepath.Base(flipped))

	disk, err = badgerkv.Open(badgerkv.Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after the flip: %v", err)
	}
	defer disk.Close()
	fails := runAudit(t, disk, h.trusted())
	t.Logf("failures: %v", fails)
	named := false
	for _, f := range fails {
		if f.Seq >= 0 || strings.Contains(f.What, "key ") {
			named = true
		}
	}
	if !named {
		t.Errorf("audit after a bit flip in %s names no entry or key: %v", filepath.Base(flipped), fails)
	}
}

func TestAuditHonest(t *testing.T) {
	h := newProvHistory(t)
	if fails := runAudit(t, h.db, h.trusted()); len(fails) != 0 {
		t.Errorf("audit with trusted keys: %v", fails)
	}
	if fails := runAudit(t, h.db, nil); len(fails) != 0 {
		t.Errorf("audit without trusted keys: %v", fails)
	}
	// m/applied, checkpoints and other non-derived keys are not compared.
	st := tampered(t, h, func(w ledger.Writer) error { return ledger.SetAppliedIndex(w, 12345) })
	if fails := runAudit(t, st, h.trusted()); len(fails) != 0 {
		t.Errorf("audit of a store with m/applied: %v", fails)
	}
	// Scratch may be a Badger store too.
	scratch, err := badgerkv.Open(badgerkv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer scratch.Close()
	h.view(func(r ledger.Reader) error {
		if fails := ledger.Audit(r, scratch, h.trusted()); len(fails) != 0 {
			t.Errorf("audit into a Badger scratch store: %v", fails)
		}
		return nil
	})
}

// lotStateKey is the storage key of a lot's state (l/<gtin><lot>).
func lotStateKey(lot string) []byte { return []byte("l/" + gtin + lot) }

// rewriteJSON rewrites a JSON value under key through edit.
func rewriteJSON(w ledger.Writer, key []byte, edit func(m map[string]any)) error {
	v, ok, err := w.Get(key)
	if err != nil || !ok {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return w.Set(key, out)
}

func u64key(prefix string, n uint64) []byte {
	b := []byte(prefix)
	for i := 7; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

func TestAuditTamperedDerivedState(t *testing.T) {
	h := newProvHistory(t)
	cases := []struct {
		name string
		edit func(w ledger.Writer) error
		seq  int64
		sub  string // the failure with seq must contain this
	}{
		{"lot quantity", func(w ledger.Writer) error {
			return rewriteJSON(w, lotStateKey("D1"), func(m map[string]any) {
				m["quantity"].(map[string]any)["amount"] = json.Number("900")
			})
		}, -1, gtin + "D1"},
		{"lot recall erased", func(w ledger.Writer) error {
			return rewriteJSON(w, lotStateKey("D2"), func(m map[string]any) { delete(m, "recall"); m["status"] = "active" })
		}, -1, gtin + "D2"},
		{"lot invented", func(w ledger.Writer) error {
			return w.Set(lotStateKey("FAKE"), []byte(`{"gtin":"`+gtin+`","lot":"FAKE"}`))
		}, -1, gtin + "FAKE"},
		{"participant roles", func(w ledger.Writer) error {
			return rewriteJSON(w, append([]byte("p/"), h.retailer.addr[:]...), func(m map[string]any) {
				m["roles"] = []string{"retailer", "admin"}
			})
		}, -1, strings.ToLower(h.retailer.hex()[2:])},
		{"lot index entry invented", func(w ledger.Writer) error {
			return w.Set(append([]byte("x/l/"+gtin+"U1\x00"), u64key("", h.seq["recall H1"])...), nil)
		}, -1, gtin + "U1"},
		{"size grown", func(w ledger.Writer) error {
			n, err := ledger.Size(w)
			if err != nil {
				return err
			}
			return w.Set([]byte("m/size"), u64key("", n+1))
		}, int64(h.size()), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fails := runAudit(t, tampered(t, h, c.edit), h.trusted())
			t.Logf("failures: %v", fails)
			if !failureContaining(fails, c.seq, c.sub) {
				t.Errorf("no failure for seq %d naming %q: %v", c.seq, c.sub, fails)
			}
		})
	}
}

func TestAuditTamperedEntries(t *testing.T) {
	h := newProvHistory(t)
	transfer := h.seq["transfer H1"]
	var data []byte
	h.view(func(r ledger.Reader) (err error) { _, data, err = ledger.GetEntry(r, transfer); return err })
	var e ledger.Entry
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	withTime := e
	withTime.RecordTime = "2026-06-02T00:00:00Z"
	retimed, err := ledger.MarshalEntry(&withTime)
	if err != nil {
		t.Fatal(err)
	}
	// setLeaf rewrites the leaf hash stored for the transfer: the first
	// hash of its g/ key (the hashes its entry adds).
	setLeaf := func(w ledger.Writer, leaf tlog.Hash) error {
		v, ok, err := w.Get(u64key("g/", transfer))
		if err != nil || !ok {
			return fmt.Errorf("hashes of entry %d: %v %v", transfer, ok, err)
		}
		return w.Set(u64key("g/", transfer), append(leaf[:], v[tlog.HashSize:]...))
	}

	cases := []struct {
		name string
		edit func(w ledger.Writer) error
		seq  int64
	}{
		{"entry bytes rewritten", func(w ledger.Writer) error {
			return w.Set(u64key("e/", transfer), retimed)
		}, int64(transfer)},
		{"entry and its leaf rewritten", func(w ledger.Writer) error {
			if err := w.Set(u64key("e/", transfer), retimed); err != nil {
				return err
			}
			return setLeaf(w, ledger.LeafHash(retimed))
		}, -1},
		{"entry record changed", func(w ledger.Writer) error {
			forged := e
			forged.Record = json.RawMessage(bytes.Replace(e.Record, []byte(h.processor.hex()), []byte(h.retailer.hex()), 1))
			b, err := ledger.MarshalEntry(&forged)
			if err != nil {
				return err
			}
			if err := w.Set(u64key("e/", transfer), b); err != nil {
				return err
			}
			return setLeaf(w, ledger.LeafHash(b))
		}, int64(transfer)},
		{"entry not canonical", func(w ledger.Writer) error {
			return w.Set(u64key("e/", transfer), append([]byte(" "), data...))
		}, int64(transfer)},
		{"entry stored under another seq", func(w ledger.Writer) error {
			return w.Set(u64key("e/", transfer+1), data)
		}, int64(transfer + 1)},
		{"Merkle hash changed", func(w ledger.Writer) error {
			return setLeaf(w, ledger.LeafHash([]byte("not an entry")))
		}, int64(transfer)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fails := runAudit(t, tampered(t, h, c.edit), h.trusted())
			t.Logf("failures: %v", fails)
			if !failsAt(fails, c.seq) {
				t.Errorf("no failure names entry %d: %v", c.seq, fails)
			}
		})
	}
}

func TestAuditCheckpoint(t *testing.T) {
	h := newProvHistory(t)
	n := h.size()
	wrongRoot := ledger.Checkpoint{Origin: h.cp.Origin, Size: n, Root: tlog.Hash{1, 2, 3}}
	tooLarge := ledger.Checkpoint{Origin: h.cp.Origin, Size: n + 5, Root: h.cp.Root}
	var head ledger.Head
	h.view(func(r ledger.Reader) (err error) { head, err = ledger.ReadHead(r); return err })
	current := head.Checkpoint(h.cp.Origin)

	cases := []struct {
		name    string
		msg     []byte
		trusted []string
	}{
		{"root does not match", cosign(t, wrongRoot, h.nodes...), h.trusted()},
		{"root does not match, no keys", cosign(t, wrongRoot, h.nodes...), nil},
		{"larger than the log", cosign(t, tooLarge, h.nodes...), nil},
		{"signed by a minority", cosign(t, current, h.nodes[0]), h.trusted()},
		{"signed by untrusted keys", cosign(t, current, newNodeKeys(t, 2)...), h.trusted()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := tampered(t, h, func(w ledger.Writer) error { return ledger.PutCheckpoint(w, c.msg) })
			fails := runAudit(t, st, c.trusted)
			t.Logf("failures: %v", fails)
			if !failsAt(fails, -1) {
				t.Errorf("no failure: %v", fails)
			}
		})
	}
	st := tampered(t, h, func(w ledger.Writer) error {
		return ledger.PutCheckpoint(w, cosign(t, current, h.nodes[1], h.nodes[2]))
	})
	if fails := runAudit(t, st, h.trusted()); len(fails) != 0 {
		t.Errorf("a current checkpoint signed by 2 of 3: %v", fails)
	}
}

// TestAuditFailureCap: Audit reports at most MaxAuditFailures failures,
// however broken the state, whether the failures come from entries or
// from derived keys and the checkpoint.
func TestAuditFailureCap(t *testing.T) {
	h := newProvHistory(t)
	cases := map[string]func(w ledger.Writer) error{
		"missing entries": func(w ledger.Writer) error {
			n, err := ledger.Size(w)
			if err != nil {
				return err
			}
			return w.Set([]byte("m/size"), u64key("", n+3*ledger.MaxAuditFailures))
		},
		"invented keys and a wrong checkpoint": func(w ledger.Writer) error {
			for i := 0; i < 3*ledger.MaxAuditFailures; i++ {
				if err := w.Set(append([]byte("x/l/"+gtin+"U1\x00"), u64key("", uint64(1000+i))...), nil); err != nil {
					return err
				}
			}
			wrong := ledger.Checkpoint{Origin: h.cp.Origin, Size: h.cp.Size + 1, Root: tlog.Hash{9}}
			return ledger.PutCheckpoint(w, cosign(t, wrong, h.nodes[0]))
		},
	}
	for name, edit := range cases {
		fails := runAudit(t, tampered(t, h, edit), h.trusted())
		if len(fails) == 0 || len(fails) > ledger.MaxAuditFailures {
			t.Errorf("%s: %d failures, want 1..%d", name, len(fails), ledger.MaxAuditFailures)
		}
	}
}

// Keys the consensus layer writes (node metadata, apply progress, the
// applied index) are expected: Audit accepts them and checks what it can.
func TestAuditKeysWrittenByConsensus(t *testing.T) {
	h := newProvHistory(t)
	nodeKey := verifierKeys(newNodeKeys(t, 1)...)[0]
	good := func(w ledger.Writer) error {
		for k, v := range map[string]string{
			"n/n1":  `{"id":"n1","http":"http://127.0.0.1:8080"}`,
			"n/n-2": `{"id":"n-2","http":"https://n2.example","key":"` + nodeKey + `"}`,
		} {
			if err := w.Set(ledger.NodeMetaKey(k[2:]), []byte(v)); err != nil {
				return err
			}
		}
		if err := ledger.SetApplyProgress(w, 7, 3); err != nil {
			return err
		}
		return ledger.SetAppliedIndex(w, 9)
	}
	st := tampered(t, h, good)
	if fails := runAudit(t, st, h.trusted()); len(fails) != 0 {
		t.Errorf("audit with node metadata and apply progress: %v", fails)
	}
	if err := st.Update(ledger.ClearApplyProgress); err != nil {
		t.Fatal(err)
	}
	if fails := runAudit(t, st, h.trusted()); len(fails) != 0 {
		t.Errorf("audit with empty apply progress: %v", fails)
	}

	bad := []struct {
		name, key, val, sub string
	}{
		{"node metadata of another node", "n/n3", `{"id":"n4","http":"http://x"}`, "n/n3"},
		{"node metadata without an id", "n/n5", `{"http":"http://x"}`, "n/n5"},
		{"node metadata not JSON", "n/n6", `not json`, "n/n6"},
		{"apply progress cut short", "m/piece", "\x00\x00\x00\x07", "m/piece"},
		{"applied index cut short", "m/applied", "\x09", "m/applied"},
		{"lot cover not 01", "m/lotcover", "\x02", "m/lotcover"},
		{"checkpoint under another size", string(u64key("c/", h.cp.Size+100)), string(cosign(t, h.cp, h.nodes...)), "c/"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			st := tampered(t, h, func(w ledger.Writer) error {
				if err := good(w); err != nil {
					return err
				}
				return w.Set([]byte(c.key), []byte(c.val))
			})
			fails := runAudit(t, st, h.trusted())
			t.Logf("failures: %v", fails)
			if len(fails) != 1 || !failureContaining(fails, -1, c.sub) {
				t.Errorf("want one failure naming %q: %v", c.sub, fails)
			}
		})
	}
}

// A key under no prefix of the key table is reported, wherever it sorts:
// before, between and after the derived keys.
func TestAuditUnexpectedKey(t *testing.T) {
	h := newProvHistory(t)
	odd := []string{"a/1", "c", "f/between", "m/other", "n", "o/x", "x", "zz/last"}
	edit := func(w ledger.Writer) error {
		for _, k := range odd {
			if err := w.Set([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}
	mem := tampered(t, h, edit)
	disk, err := badgerkv.Open(badgerkv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	copyStore(t, mem, disk)
	for name, st := range map[string]ledger.Store{"memory": mem, "badger": disk} {
		fails := runAudit(t, st, h.trusted())
		t.Logf("%s: failures: %v", name, fails)
		if len(fails) != len(odd) {
			t.Errorf("%s: %d failures, want %d", name, len(fails), len(odd))
		}
		for _, k := range odd {
			if !failureContaining(fails, -1, "key "+k+" is under no prefix") {
				t.Errorf("%s: key %q not reported as unexpected: %v", name, k, fails)
			}
		}
	}
}

// Keys older versions wrote for the event values that are no longer
// indexed (the bizStep, disposition and type most events share) are
// accepted unread; an index key for an indexed value that no entry
// implies is still reported.
func TestAuditOlderEventKeys(t *testing.T) {
	h := newProvHistory(t)
	harvest := h.seq["harvest H1"]
	classKey := func(lot string, seq uint64) []byte {
		return append(ledger.EventKeyPrefix(ledger.EventKeyClass, ledger.LotClass(ref(lot))), u64key("", seq)...)
	}
	older := [][]byte{
		append(ledger.EventKeyPrefix(ledger.EventKeyBizStep, "commissioning"), u64key("", harvest)...),
		append(ledger.EventKeyPrefix(ledger.EventKeyDisposition, "active"), u64key("", harvest)...),
		append(ledger.EventKeyPrefix(ledger.EventKeyType, "ObjectEvent"), u64key("", harvest)...),
		// Custody records' classes of plain lots, now walked in x/l/.
		classKey("H1", harvest),
		classKey("D2", h.seq["transform"]),
		classKey("H1", h.seq["transform"]),
	}
	st := tampered(t, h, func(w ledger.Writer) error {
		for _, k := range older {
			if err := w.Set(k, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if fails := runAudit(t, st, h.trusted()); len(fails) != 0 {
		t.Errorf("older stores' event keys reported: %v", fails)
	}
	invented := append(ledger.EventKeyPrefix(ledger.EventKeyBizStep, "inspecting"), u64key("", harvest)...)
	st = tampered(t, h, func(w ledger.Writer) error { return w.Set(invented, nil) })
	if fails := runAudit(t, st, h.trusted()); !failureContaining(fails, -1, "inspecting") {
		t.Errorf("an invented inspecting key is not reported: %v", fails)
	}
	// A class key of a lot its entry does not name, or at a seq that is
	// no custody record, is no older version's.
	for name, k := range map[string][]byte{
		"another lot's harvest": classKey("H1", h.seq["harvest U1"]),
		"a registration":        classKey("H1", h.seq["reg late inspector"]),
		"past the end":          classKey("H1", 1_000),
	} {
		st = tampered(t, h, func(w ledger.Writer) error { return w.Set(k, nil) })
		if fails := runAudit(t, st, h.trusted()); !failureContaining(fails, -1, "is stored but no entry implies it") {
			t.Errorf("%s: an invented class key is not reported: %v", name, fails)
		}
	}
}

// olderHashLayout returns a copy of st with its Merkle hashes as versions
// before g/ kept them: one h/<storage index> key per hash.
func olderHashLayout(t *testing.T, st ledger.Store) *ledger.MemStore {
	t.Helper()
	old := ledger.NewMemStore()
	err := st.View(func(r ledger.Reader) error {
		return old.Update(func(w ledger.Writer) error {
			var failure error
			err := r.Scan(nil, nil, func(k, v []byte) bool {
				if !bytes.HasPrefix(k, []byte("g/")) {
					failure = w.Set(append([]byte(nil), k...), append([]byte(nil), v...))
					return failure == nil
				}
				n := int64(0)
				for _, c := range k[2:] {
					n = n<<8 | int64(c)
				}
				for i := 0; i < len(v)/tlog.HashSize; i++ {
					idx := uint64(tlog.StoredHashIndex(0, n)) + uint64(i)
					if failure = w.Set(u64key("h/", idx), append([]byte(nil), v[i*tlog.HashSize:(i+1)*tlog.HashSize]...)); failure != nil {
						return false
					}
				}
				return true
			})
			if err != nil {
				return err
			}
			return failure
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return old
}

// TestOlderHashKeys: a ledger whose Merkle hashes are in the older layout
// (h/, one key per hash) has the same root and proofs, takes new entries
// (whose hashes go under g/, built on the older ones), and passes Audit;
// a changed h/ hash is named at its entry, and an h/ key beside a g/ one
// is reported.
func TestOlderHashKeys(t *testing.T) {
	h := newProvHistory(t)
	old := olderHashLayout(t, h.db)
	var want, got ledger.Head
	h.view(func(r ledger.Reader) (err error) { want, err = ledger.ReadHead(r); return err })
	old.View(func(r ledger.Reader) (err error) { got, err = ledger.ReadHead(r); return err })
	if got.Root != want.Root || got.Size != want.Size {
		t.Fatalf("older layout: head %d %x, want %d %x", got.Size, got.Root, want.Size, want.Root)
	}
	if fails := runAudit(t, old, h.trusted()); len(fails) != 0 {
		t.Fatalf("audit of the older layout: %v", fails)
	}

	// One more entry on both: the same root, and a mixed store that
	// passes Audit.
	rec := harvestRec("H-OLDER", "3", "KGM")
	h.fill(rec)
	adm, err := ledger.Admit(signRecord(t, h.producer, rec), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := &ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime.Add(24 * time.Hour), Envelopes: []*ledger.Admitted{adm}}
	for _, st := range []ledger.Store{h.db, old} {
		if err := st.Update(func(w ledger.Writer) error {
			res, err := ledger.Apply(w, cmd)
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	h.view(func(r ledger.Reader) (err error) { want, err = ledger.ReadHead(r); return err })
	old.View(func(r ledger.Reader) (err error) { got, err = ledger.ReadHead(r); return err })
	if got.Root != want.Root || got.Size != want.Size {
		t.Fatalf("older layout after an entry: head %d %x, want %d %x", got.Size, got.Root, want.Size, want.Root)
	}
	old.View(func(r ledger.Reader) error {
		for seq := range got.Size {
			_, data, err := ledger.GetEntry(r, seq)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := ledger.ProveInclusion(r, got.Size, seq)
			if err != nil {
				t.Fatalf("prove %d: %v", seq, err)
			}
			if err := ledger.CheckInclusion(proof, got.Size, got.Root, seq, data); err != nil {
				t.Errorf("inclusion of %d in the older layout: %v", seq, err)
			}
		}
		return nil
	})
	if fails := runAudit(t, old, nil); len(fails) != 0 {
		t.Fatalf("audit of the mixed layout: %v", fails)
	}

	transfer := h.seq["transfer H1"]
	bad := ledger.LeafHash([]byte("not an entry"))
	if err := old.Update(func(w ledger.Writer) error {
		return w.Set(u64key("h/", uint64(tlog.StoredHashIndex(0, int64(transfer)))), bad[:])
	}); err != nil {
		t.Fatal(err)
	}
	if fails := runAudit(t, old, nil); !failsAt(fails, int64(transfer)) {
		t.Errorf("a changed h/ hash is not named at entry %d: %v", transfer, fails)
	}
	last := got.Size - 1 // its hashes are under g/
	if err := old.Update(func(w ledger.Writer) error {
		return w.Set(u64key("h/", uint64(tlog.StoredHashIndex(0, int64(last)))), bad[:])
	}); err != nil {
		t.Fatal(err)
	}
	if fails := runAudit(t, old, nil); !failureContaining(fails, -1, "beside the hashes of entry") {
		t.Errorf("an h/ key beside a g/ one is not reported: %v", fails)
	}
}
