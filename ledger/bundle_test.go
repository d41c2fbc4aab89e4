package ledger_test

// Provenance bundles: what BuildBundle puts in, that VerifyBundle accepts
// an honest bundle, and that it names what is wrong with a tampered one.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

// provHistory is a fixture with a realistic product graph and a cosigned
// checkpoint over it:
//
//	H1 harvested by producer, inspected, moved to processor, transformed
//	into D1 and D2; D1 moved to distributor; H1 recalled by its producer.
//	U1 is an unrelated harvest by producer2. After the checkpoint, a newly
//	registered inspector inspects D1 (a recalled lot no longer moves).
type provHistory struct {
	*fixture
	nodes []*nodeKey
	cp    ledger.Checkpoint
	msg   []byte
	seq   map[string]uint64 // name of an event → its seq
}

func newProvHistory(t testing.TB) *provHistory {
	t.Helper()
	h := &provHistory{fixture: newFixture(t), nodes: newNodeKeys(t, 3), seq: map[string]uint64{}}
	f := h.fixture
	f.view(func(r ledger.Reader) error {
		for _, k := range []*key{f.producer, f.producer2, f.processor, f.distributor, f.retailer, f.inspector} {
			seqs, err := ledger.RegistrationSeqs(r, k.addr)
			if err != nil || len(seqs) != 1 {
				t.Fatalf("registrations of %s: %v, %v", k.hex(), seqs, err)
			}
			h.seq["reg "+k.hex()] = seqs[0]
		}
		return nil
	})
	step := func(name string, k *key, rec map[string]any) { h.seq[name] = f.must(k, rec).Seq }
	step("harvest H1", f.producer, harvestRec("H1", "500", "KGM"))
	step("harvest U1", f.producer2, harvestRec("U1", "80", "KGM"))
	step("inspect H1", f.inspector, inspectRec("H1", "pass"))
	step("transfer H1", f.producer, transferRec("H1", f.processor))
	step("receive H1", f.processor, receiveRec("H1"))
	step("transform", f.processor, transformRec([]lq{{"H1", "400", "KGM"}}, []lq{{"D1", "100", "KGM"}, {"D2", "50", "KGM"}}))
	step("transfer D1", f.processor, transferRec("D1", f.distributor))
	step("receive D1", f.distributor, receiveRec("D1"))
	step("recall H1", f.producer, recallRec("H1"))

	var head ledger.Head
	var origin string
	f.view(func(r ledger.Reader) (err error) {
		if head, err = ledger.ReadHead(r); err != nil {
			return err
		}
		origin, err = ledger.Origin(r)
		return err
	})
	h.cp = head.Checkpoint(origin)
	h.msg = cosign(t, h.cp, h.nodes...)
	if err := f.db.Update(func(w ledger.Writer) error { return ledger.PutCheckpoint(w, h.msg) }); err != nil {
		t.Fatal(err)
	}
	// Past the checkpoint: not in any bundle made against it.
	late := newKey(t)
	step("reg late inspector", f.admin, participantRec(late.addr, "inspector"))
	step("inspect D1 late", late, inspectRec("D1", "fail"))
	return h
}

func (h *provHistory) trusted() []string { return verifierKeys(h.nodes...) }

func (h *provHistory) bundle(t testing.TB, lot string) *ledger.Bundle {
	t.Helper()
	var b *ledger.Bundle
	h.view(func(r ledger.Reader) (err error) {
		b, err = ledger.BuildBundle(r, ref(lot), h.cp, h.msg, h.trusted())
		return err
	})
	return b
}

// bundleAtHead makes the bundle of lot against a checkpoint of the whole
// log, past h.cp: it holds the entries made after h.cp.
func (h *provHistory) bundleAtHead(t testing.TB, lot string) (*ledger.Bundle, ledger.Checkpoint) {
	t.Helper()
	var head ledger.Head
	h.view(func(r ledger.Reader) (err error) { head, err = ledger.ReadHead(r); return err })
	cp := head.Checkpoint(h.cp.Origin)
	msg := cosign(t, cp, h.nodes...)
	var b *ledger.Bundle
	h.view(func(r ledger.Reader) (err error) {
		b, err = ledger.BuildBundle(r, ref(lot), cp, msg, h.trusted())
		return err
	})
	return b, cp
}

// cloneBundle deep-copies a bundle through its JSON form, as a verifier reads it.
func cloneBundle(t testing.TB, b *ledger.Bundle) *ledger.Bundle {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var out ledger.Bundle
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func bundleSeqs(t testing.TB, b *ledger.Bundle) []uint64 {
	t.Helper()
	var out []uint64
	for _, be := range b.Entries {
		var e ledger.Entry
		if err := json.Unmarshal(be.Entry, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Seq)
	}
	return out
}

// indexOf returns the position in b.Entries of the entry at seq.
func indexOf(t testing.TB, b *ledger.Bundle, seq uint64) int {
	t.Helper()
	for i, s := range bundleSeqs(t, b) {
		if s == seq {
			return i
		}
	}
	t.Fatalf("entry %d is not in the bundle", seq)
	return -1
}

// editEntry decodes the entry at seq, lets edit change it, and stores it
// back in canonical form, so that only the edit differs.
func editEntry(t testing.TB, b *ledger.Bundle, seq uint64, edit func(e map[string]any)) {
	t.Helper()
	i := indexOf(t, b, seq)
	dec := json.NewDecoder(bytes.NewReader(b.Entries[i].Entry))
	dec.UseNumber()
	var e map[string]any
	if err := dec.Decode(&e); err != nil {
		t.Fatal(err)
	}
	edit(e)
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := ledger.Canonicalize(raw)
	if err != nil {
		t.Fatal(err)
	}
	b.Entries[i].Entry = canon
}

func failsAt(fails []ledger.Failure, seq int64) bool {
	for _, f := range fails {
		if f.Seq == seq {
			return true
		}
	}
	return false
}

func TestBundleContents(t *testing.T) {
	h := newProvHistory(t)
	// A lot's bundle holds its ancestors and descendants, not its siblings:
	// D2's bundle needs nothing of D1's later history.
	d1 := []string{"transfer D1", "receive D1", "reg " + h.distributor.hex()}
	expected := map[string]struct {
		lots            []string
		present, absent []string
	}{
		"H1": {[]string{"H1", "D1", "D2"}, d1, nil},
		"D1": {[]string{"H1", "D1"}, d1, nil},
		"D2": {[]string{"H1", "D2"}, nil, d1},
	}
	for _, lot := range []string{"D1", "H1", "D2"} {
		exp := expected[lot]
		b := h.bundle(t, lot)
		if b.Format != ledger.BundleFormat || b.Lot != ref(lot) || b.Checkpoint != string(h.msg) {
			t.Errorf("%s: bundle header %q %v", lot, b.Format, b.Lot)
		}
		seqs := bundleSeqs(t, b)
		have := map[uint64]bool{}
		for i, s := range seqs {
			if i > 0 && s <= seqs[i-1] {
				t.Errorf("%s: entries out of log order: %v", lot, seqs)
			}
			have[s] = true
		}
		want := append([]string{"harvest H1", "inspect H1", "transfer H1", "receive H1", "transform", "recall H1",
			"reg " + h.producer.hex(), "reg " + h.processor.hex(), "reg " + h.inspector.hex()}, exp.present...)
		if !have[0] {
			t.Errorf("%s: the genesis entry is missing", lot)
		}
		for _, w := range want {
			if !have[h.seq[w]] {
				t.Errorf("%s: bundle lacks %s (entry %d); has %v", lot, w, h.seq[w], seqs)
			}
		}
		for _, absent := range append([]string{"harvest U1", "reg " + h.producer2.hex(), "inspect D1 late", "reg late inspector", "reg " + h.retailer.hex()}, exp.absent...) {
			if have[h.seq[absent]] {
				t.Errorf("%s: bundle holds %s (entry %d)", lot, absent, h.seq[absent])
			}
		}
		if len(b.Lots) != len(exp.lots) {
			t.Errorf("%s: bundle lists lots %v, want %v", lot, b.Lots, exp.lots)
		}
		for _, l := range exp.lots {
			var all []uint64
			h.view(func(r ledger.Reader) (err error) { all, err = ledger.LotSeqs(r, ref(l)); return err })
			var covered []uint64
			for _, s := range all {
				if s < h.cp.Size {
					covered = append(covered, s)
				}
			}
			if got := b.Lots[ref(l).String()]; !slices.Equal(got, covered) {
				t.Errorf("%s: bundle lists %v for %s, want %v", lot, got, l, covered)
			}
		}
		for l, list := range b.Lots {
			for _, s := range list {
				if s >= h.cp.Size || !have[s] {
					t.Errorf("%s: lot %s lists entry %d (checkpoint size %d)", lot, l, s, h.cp.Size)
				}
			}
		}
		if cp, fails := ledger.VerifyBundle(b, h.trusted()); len(fails) != 0 || cp != h.cp {
			t.Errorf("%s: honest bundle: checkpoint %+v, failures %v", lot, cp, fails)
		}
		if _, fails := ledger.VerifyBundle(cloneBundle(t, b), h.trusted()); len(fails) != 0 {
			t.Errorf("%s: honest bundle after a JSON round trip: %v", lot, fails)
		}
	}
	h.view(func(r ledger.Reader) error {
		if _, err := ledger.BuildBundle(r, ref("NOPE"), h.cp, h.msg, h.trusted()); !errors.Is(err, ledger.ErrUnknownLot) {
			t.Errorf("bundle of an unknown lot: %v, want ErrUnknownLot", err)
		}
		return nil
	})
	if b := h.bundle(t, "U1"); len(b.Entries) != 3 {
		t.Errorf("bundle of U1 has entries %v, want genesis, producer2's registration and the harvest", bundleSeqs(t, b))
	}
}

// TestBundleCheckpointBoundary makes a bundle against a newer checkpoint:
// the late inspection and its inspector's registration now belong in it.
func TestBundleCheckpointBoundary(t *testing.T) {
	h := newProvHistory(t)
	b, cp := h.bundleAtHead(t, "D1")
	seqs := map[uint64]bool{}
	for _, s := range bundleSeqs(t, b) {
		seqs[s] = true
	}
	if !seqs[h.seq["inspect D1 late"]] || !seqs[h.seq["reg late inspector"]] {
		t.Errorf("bundle at size %d lacks the late inspection or its inspector's registration: %v", cp.Size, bundleSeqs(t, b))
	}
	if _, fails := ledger.VerifyBundle(b, h.trusted()); len(fails) != 0 {
		t.Errorf("bundle at the newer checkpoint: %v", fails)
	}
}

func TestVerifyBundleTampered(t *testing.T) {
	h := newProvHistory(t)
	honest := h.bundle(t, "D1")
	others := newNodeKeys(t, 2)
	harvest, transfer, transform := h.seq["harvest H1"], h.seq["transfer H1"], h.seq["transform"]

	cases := []struct {
		name  string
		edit  func(b *ledger.Bundle)
		trust []string // nil: the history's node keys
		seq   int64    // a failure must name this entry (-1: one about no single entry)
	}{
		{name: "quantity changed", seq: int64(harvest), edit: func(b *ledger.Bundle) {
			editEntry(t, b, harvest, func(e map[string]any) {
				e["record"].(map[string]any)["quantity"].(map[string]any)["amount"] = json.Number("5000")
			})
		}},
		{name: "record_time changed", seq: int64(transfer), edit: func(b *ledger.Bundle) {
			editEntry(t, b, transfer, func(e map[string]any) { e["record_time"] = "2026-06-02T00:00:00Z" })
		}},
		{name: "signature changed", seq: int64(transform), edit: func(b *ledger.Bundle) {
			editEntry(t, b, transform, func(e map[string]any) {
				s := []byte(e["signature"].(string))
				s[10] ^= 0x01
				e["signature"] = string(s)
			})
		}},
		{name: "entry not JSON", seq: int64(harvest), edit: func(b *ledger.Bundle) {
			i := indexOf(t, b, harvest)
			b.Entries[i].Entry = b.Entries[i].Entry[:len(b.Entries[i].Entry)-1]
		}},
		{name: "entry with an extra field", seq: int64(harvest), edit: func(b *ledger.Bundle) {
			editEntry(t, b, harvest, func(e map[string]any) { e["verified_by"] = "ministry" })
		}},
		{name: "transfer dropped", seq: int64(transfer), edit: func(b *ledger.Bundle) {
			i := indexOf(t, b, transfer)
			b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
		}},
		{name: "processor registration dropped", seq: int64(h.seq["receive H1"]), edit: func(b *ledger.Bundle) {
			i := indexOf(t, b, h.seq["reg "+h.processor.hex()])
			b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
		}},
		{name: "genesis dropped", seq: -1, edit: func(b *ledger.Bundle) { b.Entries = b.Entries[1:] }},
		{name: "two entries swapped", seq: int64(harvest), edit: func(b *ledger.Bundle) {
			i, j := indexOf(t, b, harvest), indexOf(t, b, transfer)
			b.Entries[i], b.Entries[j] = b.Entries[j], b.Entries[i]
		}},
		{name: "entry duplicated", seq: int64(transfer), edit: func(b *ledger.Bundle) {
			i := indexOf(t, b, transfer)
			b.Entries = append(b.Entries[:i+1], b.Entries[i:]...)
		}},
		{name: "inclusion proof hash changed", seq: int64(transform), edit: func(b *ledger.Bundle) {
			p := b.Entries[indexOf(t, b, transform)].Proof
			raw, _ := base64.StdEncoding.DecodeString(p[0])
			raw[0] ^= 0x80
			p[0] = base64.StdEncoding.EncodeToString(raw)
		}},
		{name: "inclusion proof truncated", seq: int64(harvest), edit: func(b *ledger.Bundle) {
			i := indexOf(t, b, harvest)
			b.Entries[i].Proof = b.Entries[i].Proof[1:]
		}},
		{name: "inclusion proof not base64", seq: int64(harvest), edit: func(b *ledger.Bundle) {
			b.Entries[indexOf(t, b, harvest)].Proof[0] = "!!"
		}},
		{name: "trusted signature line with another key's signature", seq: -1, edit: func(b *ledger.Bundle) {
			b.Checkpoint = string(withSigFrom(t, signCP(t, h.cp, h.nodes[0]), signCP(t, h.cp, others[0])))
		}, trust: verifierKeys(h.nodes[0])},
		{name: "signature lines replaced by other keys'", seq: -1, edit: func(b *ledger.Bundle) {
			b.Checkpoint = string(cosign(t, h.cp, h.nodes[0], others[0], others[1]))
		}},
		{name: "corrupted cosignature", seq: -1, edit: func(b *ledger.Bundle) {
			b.Checkpoint = string(corruptSig(t, []byte(b.Checkpoint)))
		}},
		{name: "checkpoint signed by 1 of 3", seq: -1, edit: func(b *ledger.Bundle) {
			b.Checkpoint = string(signCP(t, h.cp, h.nodes[1]))
		}},
		{name: "trusted keys did not sign", seq: -1, edit: func(*ledger.Bundle) {}, trust: verifierKeys(others...)},
		{name: "checkpoint of a forged root", seq: int64(harvest), edit: func(b *ledger.Bundle) {
			forged := h.cp
			forged.Root[5] ^= 0x40
			b.Checkpoint = string(cosign(t, forged, h.nodes...))
		}},
		{name: "checkpoint of another origin", seq: 0, edit: func(b *ledger.Bundle) {
			other := h.cp
			other.Origin = "traceledger/0000000000000000"
			b.Checkpoint = string(cosign(t, other, h.nodes...))
		}},
		{name: "own lot missing from lots", seq: -1, edit: func(b *ledger.Bundle) { delete(b.Lots, ref("D1").String()) }},
		{name: "listed entry missing", seq: int64(h.seq["inspect H1"]), edit: func(b *ledger.Bundle) {
			i := indexOf(t, b, h.seq["inspect H1"])
			b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
		}},
		{name: "unknown format", seq: -1, edit: func(b *ledger.Bundle) { b.Format = "traceledger-provenance/2" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := cloneBundle(t, honest)
			c.edit(b)
			trust := c.trust
			if trust == nil {
				trust = h.trusted()
			}
			_, fails := ledger.VerifyBundle(b, trust)
			t.Logf("failures: %v", fails)
			if len(fails) == 0 {
				t.Fatalf("tampered bundle verified")
			}
			if !failsAt(fails, c.seq) {
				t.Errorf("no failure names entry %d: %v", c.seq, fails)
			}
		})
	}
	if _, fails := ledger.VerifyBundle(cloneBundle(t, honest), h.trusted()); len(fails) != 0 {
		t.Errorf("the honest bundle was changed by the cases: %v", fails)
	}
}

// TestVerifyBundleExtraEntries: an entry past the checkpoint, or a genuine
// entry carrying a proof for another position, is named.
func TestVerifyBundleExtraEntries(t *testing.T) {
	h := newProvHistory(t)
	late := h.seq["inspect D1 late"]
	var data []byte
	h.view(func(r ledger.Reader) (err error) { _, data, err = ledger.GetEntry(r, late); return err })

	b := cloneBundle(t, h.bundle(t, "D1"))
	b.Entries = append(b.Entries, ledger.BundleEntry{Entry: data, Proof: b.Entries[len(b.Entries)-1].Proof})
	if _, fails := ledger.VerifyBundle(b, h.trusted()); !failsAt(fails, int64(late)) {
		t.Errorf("entry %d beyond checkpoint size %d: failures %v", late, h.cp.Size, fails)
	}

	// U1's harvest with the proof of another entry.
	b = cloneBundle(t, h.bundle(t, "D1"))
	u1 := h.seq["harvest U1"]
	h.view(func(r ledger.Reader) (err error) { _, data, err = ledger.GetEntry(r, u1); return err })
	i := indexOf(t, b, h.seq["harvest H1"])
	extra := ledger.BundleEntry{Entry: data, Proof: b.Entries[i].Proof}
	b.Entries = append(b.Entries[:i+1], append([]ledger.BundleEntry{extra}, b.Entries[i+1:]...)...)
	if _, fails := ledger.VerifyBundle(b, h.trusted()); !failsAt(fails, int64(u1)) {
		t.Errorf("entry %d with another entry's proof: failures %v", u1, fails)
	}
}

// TestVerifyBundleRequiresOwnLot: a bundle whose own lot's entries were all
// removed (entries and its list in lots both emptied) shows nothing about
// the lot, yet claims to prove its provenance. The verifier must notice
// that replaying the bundle never creates the lot.
func TestVerifyBundleRequiresOwnLot(t *testing.T) {
	h := newProvHistory(t)
	b := cloneBundle(t, h.bundle(t, "U1"))
	b.Entries = b.Entries[:1] // genesis only
	b.Lots[ref("U1").String()] = []uint64{}
	if _, fails := ledger.VerifyBundle(b, h.trusted()); len(fails) == 0 {
		t.Errorf("a bundle holding no entry of its lot %s verified", b.Lot)
	}
}

// Dropping an entry from the middle of a lot's history, from both the
// entries and the lot lists, breaks the lot's chain: the next entry names
// it as its predecessor. (An inspection: the rules alone would not miss it.)
func TestVerifyBundleCatchesDroppedMiddleEntry(t *testing.T) {
	h := newProvHistory(t)
	b := cloneBundle(t, h.bundle(t, "H1"))
	drop := h.seq["inspect H1"]
	i := indexOf(t, b, drop)
	b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
	for lot, seqs := range b.Lots {
		var out []uint64
		for _, s := range seqs {
			if s != drop {
				out = append(out, s)
			}
		}
		b.Lots[lot] = out
	}
	_, fails := ledger.VerifyBundle(b, h.trusted())
	if len(fails) != 1 || fails[0].Seq != int64(h.seq["transfer H1"]) {
		t.Fatalf("dropping entry %d: failures %v, want one, at the transfer that follows it", drop, fails)
	}
}

// Deleting a lot from the bundle's lists does not switch its chain check
// off: every lot an included entry names is one the bundle must carry.
func TestVerifyBundleChainSurvivesEditedLotLists(t *testing.T) {
	h := newProvHistory(t)
	b := cloneBundle(t, h.bundle(t, "D1"))
	drop := h.seq["inspect H1"]
	i := indexOf(t, b, drop)
	b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
	delete(b.Lots, ref("H1").String())
	_, fails := ledger.VerifyBundle(b, h.trusted())
	if !failsAt(fails, int64(h.seq["transfer H1"])) {
		t.Fatalf("dropping entry %d and H1's list went unnoticed: %v", drop, fails)
	}
}
