package ledger_test

// Strict records (forbidden characters, repeated and case-variant member
// names), recalled lots that cannot move, and stale intents ("after").

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

func TestDecodeRecordForbiddenCharacters(t *testing.T) {
	forbidden := []string{"\x00", "\x01", "\x08", "\x0b", "\x0c", "\r", "\x1b", "\x1f",
		"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}
	type place struct {
		name  string
		field string // what the error must name
		base  func() map[string]any
		put   func(m map[string]any, s string)
	}
	other := newKey(t).hex()
	inspect := func() map[string]any { return withHeader(inspectRec("V1", "pass")) }
	transfer := func() map[string]any {
		return withHeader(map[string]any{"type": "transfer", "lot": lotJSON("V1"), "to": other})
	}
	transform := func() map[string]any {
		return withHeader(transformRec([]lq{{"V1", "1", "KGM"}}, []lq{{"V2", "1", "KGM"}}))
	}
	places := []place{
		{"id", "id", harvestBase, func(m map[string]any, s string) { m["id"] = "a" + s + "b" }},
		{"product name", "product.name", harvestBase, func(m map[string]any, s string) { at(m, "product")["name"] = "Vải" + s }},
		{"place name", "place.name", harvestBase, func(m map[string]any, s string) { at(m, "place")["name"] = s + "Lục Ngạn" }},
		{"province", "place.province", harvestBase, func(m map[string]any, s string) { at(m, "place")["province"] = "Bắc" + s + "Giang" }},
		{"certificate issuer", "certificates[1].issuer", harvestBase, func(m map[string]any, s string) {
			m["certificates"] = []any{map[string]any{"scheme": "VietGAP"}, map[string]any{"scheme": "OCOP", "issuer": "Sở" + s}}
		}},
		{"attribute value", "attributes.color", harvestBase, func(m map[string]any, s string) {
			m["attributes"] = map[string]any{"color": "đỏ" + s}
		}},
		{"nested attribute", "attributes.lab.results[0].note", harvestBase, func(m map[string]any, s string) {
			m["attributes"] = map[string]any{"lab": map[string]any{"results": []any{map[string]any{"note": s}}}}
		}},
		{"attribute key", "attributes", harvestBase, func(m map[string]any, s string) {
			m["attributes"] = map[string]any{"col" + s + "or": "red"}
		}},
		{"note", "note", inspect, func(m map[string]any, s string) { m["note"] = "độ ẩm" + s + "21%" }},
		{"transfer place", "place.name", transfer, func(m map[string]any, s string) { m["place"] = map[string]any{"name": s} }},
		{"transform process", "process", transform, func(m map[string]any, s string) { m["process"] = "sấy" + s }},
		{"transform output product", "outputs[0].product.name", transform, func(m map[string]any, s string) {
			m["outputs"].([]any)[0].(map[string]any)["product"] = map[string]any{"name": "Vải sấy" + s}
		}},
	}
	for _, p := range places {
		for _, s := range forbidden {
			rec := p.base()
			p.put(rec, s)
			_, err := decodeMap(rec)
			if !errors.Is(err, ledger.ErrForbiddenChar) {
				t.Errorf("%s with %U: %v, want %v", p.name, []rune(s)[0], err, ledger.ErrForbiddenChar)
				continue
			}
			if !strings.Contains(err.Error(), p.field) {
				t.Errorf("%s with %U: %q does not name %s", p.name, []rune(s)[0], err, p.field)
			}
			if k, code, _ := ledger.Describe(err); k != ledger.KindInvalid || code != "forbidden_character" {
				t.Errorf("%s: kind %d code %s", p.name, k, code)
			}
		}
	}
	// Tab and newline are text; so are letters of every script and the
	// bidi marks that are not embedding controls.
	for _, s := range []string{"\t", "\n", "Hà Giang", "مرحبا", "\u200f", "\u2029", "\u202f", "\u2065", "\u206a", "\u00a0", "\u2028"} {
		rec := withHeader(inspectRec("V1", "pass"))
		rec["note"] = "a" + s + "b"
		rec["attributes"] = map[string]any{"k" + s: "v" + s}
		if _, err := decodeMap(rec); err != nil {
			t.Errorf("note with %q: %v", s, err)
		}
	}
}

// DecodeRecord on bytes that were not canonicalised (a stored entry, a
// bundle) refuses a repeated member name anywhere, as Canonicalize does.
func TestDecodeRecordDuplicateMembers(t *testing.T) {
	canon, err := ledger.Canonicalize(mustJSON(t, withHeader(harvestRec("V1", "1", "KGM"))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.DecodeRecord(canon); err != nil {
		t.Fatal(err)
	}
	body := string(canon[1 : len(canon)-1])
	for name, raw := range map[string]string{
		"top-level id":        `{"id":"other",` + body + `}`,
		"escaped name":        `{"i\u0064":"other",` + body + `}`,
		"in lot":              strings.Replace(`{`+body+`}`, `"lot":{`, `"lot":{"lot":"X",`, 1),
		"in attributes":       `{"attributes":{"a":1,"a":2},` + body + `}`,
		"deep in attributes":  `{"attributes":{"a":[{"b":1,"b":1}]},` + body + `}`,
		"case variant of one": `{"ID":"other",` + body + `}`,
	} {
		_, err := ledger.DecodeRecord([]byte(raw))
		want := ledger.ErrDuplicateKey
		if name == "case variant of one" {
			want = ledger.ErrUnknownField
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
		if _, err := ledger.Canonicalize([]byte(raw)); name != "case variant of one" && !errors.Is(err, ledger.ErrDuplicateKey) {
			t.Errorf("%s: Canonicalize: %v, want %v", name, err, ledger.ErrDuplicateKey)
		}
	}
	// Case variants deeper down are unknown fields.
	rec := withHeader(harvestRec("V1", "1", "KGM"))
	at(rec, "lot")["GTIN"] = gtin
	if _, err := decodeMap(rec); !errors.Is(err, ledger.ErrUnknownField) {
		t.Errorf("lot.GTIN beside lot.gtin: %v", err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecordAfterField(t *testing.T) {
	other := newKey(t).hex()
	digest := strings.Repeat("0123456789abcdef", 4)
	transfer := func() map[string]any {
		return withHeader(map[string]any{"type": "transfer", "lot": lotJSON("V1"), "to": other})
	}
	receive := func() map[string]any { return withHeader(receiveRec("V1")) }
	cases := []fieldCase{
		{"transfer after", transfer, set(top, "after", digest), nil},
		{"receive after", receive, set(top, "after", digest), nil},
		{"after in upper case", transfer, set(top, "after", strings.ToUpper(digest)), ledger.ErrInvalidField},
		{"after with 0x", receive, set(top, "after", "0x"+digest), ledger.ErrInvalidField},
		{"after too short", transfer, set(top, "after", digest[1:]), ledger.ErrInvalidField},
		{"after too long", transfer, set(top, "after", digest+"0"), ledger.ErrInvalidField},
		{"after empty", receive, set(top, "after", ""), ledger.ErrInvalidField},
		{"after not hex", transfer, set(top, "after", strings.Repeat("g", 64)), ledger.ErrInvalidField},
		{"after a number", transfer, set(top, "after", 5), ledger.ErrInvalidField},
		{"after null", transfer, set(top, "after", nil), nil},
		{"After", transfer, set(top, "After", digest), ledger.ErrUnknownField},
		{"after on a harvest", harvestBase, set(top, "after", digest), ledger.ErrUnknownField},
		{"after on a recall", func() map[string]any { return withHeader(recallRec("V1")) }, set(top, "after", digest), ledger.ErrUnknownField},
	}
	runFieldCases(t, cases)
}

// digestOf returns the "after" that names the entry at seq.
func (l *testLedger) digestOf(seq uint64) string {
	l.t.Helper()
	var d string
	l.view(func(r ledger.Reader) error {
		e, _, err := ledger.GetEntry(r, seq)
		if err == nil {
			d = ledger.RecordDigest(e.Record)
		}
		return err
	})
	return d
}

func (l *testLedger) lotSeqs(ref ledger.LotRef) []uint64 {
	l.t.Helper()
	var seqs []uint64
	l.view(func(r ledger.Reader) (err error) {
		seqs, err = ledger.LotSeqs(r, ref)
		return err
	})
	return seqs
}

func withAfter(rec map[string]any, after string) map[string]any {
	rec["after"] = after
	return rec
}

func TestRecalledLotCannotMove(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("A", "10", "KGM"))
	f.must(f.producer, harvestRec("T", "10", "KGM"))
	f.move("A", f.producer, f.processor)
	f.must(f.processor, transformRec([]lq{{"A", "4", "KGM"}}, []lq{{"B", "4", "KGM"}}))
	f.must(f.processor, transformRec([]lq{{"B", "4", "KGM"}}, []lq{{"C", "4", "KGM"}}))
	earlier := transferRec("T", f.distributor)
	f.fill(earlier)
	earlierEnv := signRecord(t, f.producer, earlier)
	expect(t, "transfer before the recall", f.submitEnv(earlierEnv), 201, nil)

	// The producer of A recalls it: A, B and C (made from A) are recalled;
	// T is recalled while in transit.
	f.must(f.producer, recallRec("A"))
	f.must(f.admin, recallRec("T"))

	before := f.size()
	expect(t, "transfer of the recalled lot", f.submit(f.processor, transferRec("A", f.distributor)), 409, ledger.ErrLotRecalled)
	expect(t, "transfer of a lot made from it", f.submit(f.processor, transferRec("B", f.distributor)), 409, ledger.ErrLotRecalled)
	expect(t, "transfer of a lot made from a lot made from it", f.submit(f.processor, transferRec("C", f.retailer)), 409, ledger.ErrLotRecalled)
	expect(t, "receive of a lot recalled in transit", f.submit(f.distributor, receiveRec("T")), 409, ledger.ErrLotRecalled)
	// The order of DESIGN §3.3 holds: who may act is checked first.
	expect(t, "transfer of a recalled lot by a non-holder", f.submit(f.distributor, transferRec("B", f.retailer)), 403, ledger.ErrNotHolder)
	expect(t, "receive of a recalled lot by another", f.submit(f.retailer, receiveRec("T")), 403, ledger.ErrNotRecipient)
	expect(t, "transfer of an unknown lot", f.submit(f.processor, transferRec("NOPE", f.retailer)), 404, ledger.ErrUnknownLot)
	if after := f.size(); after != before {
		t.Errorf("ledger grew from %d to %d entries", before, after)
	}
	// An envelope accepted before the recall is still answered 200.
	expect(t, "resubmission of a transfer from before the recall", f.submitEnv(earlierEnv), 200, nil)
	if l := f.lot(ref("C")); l.Holder != f.processor.hex() || l.InTransitTo != "" {
		t.Errorf("C moved: %+v", l)
	}
}

func TestStaleIntent(t *testing.T) {
	f := newFixture(t)
	h := f.must(f.producer, harvestRec("S", "10", "KGM"))
	sawHarvest := f.digestOf(h.Seq)

	// The signer saw the harvest, the lot's latest record: accepted.
	tr := f.must(f.producer, withAfter(transferRec("S", f.distributor), sawHarvest))
	sawTransfer := f.digestOf(tr.Seq)
	if sawTransfer == sawHarvest {
		t.Fatal("two records with one digest")
	}
	expect(t, "receive after the harvest, not the transfer", f.submit(f.distributor, withAfter(receiveRec("S"), sawHarvest)), 409, ledger.ErrStale)
	expect(t, "receive after a digest of nothing", f.submit(f.distributor, withAfter(receiveRec("S"), strings.Repeat("0", 64))), 409, ledger.ErrStale)
	// Earlier checks answer first: 400, 404, 403.
	expect(t, "receive with a malformed after", f.submit(f.distributor, withAfter(receiveRec("S"), "0x"+sawTransfer)), 400, ledger.ErrInvalidField)
	expect(t, "receive of an unknown lot with a stale after", f.submit(f.distributor, withAfter(receiveRec("NOPE"), sawHarvest)), 404, ledger.ErrUnknownLot)
	expect(t, "receive by another with a stale after", f.submit(f.retailer, withAfter(receiveRec("S"), sawHarvest)), 403, ledger.ErrNotRecipient)
	rc := f.must(f.distributor, withAfter(receiveRec("S"), sawTransfer))

	// An inspection changes the lot's head: an intent signed before it is stale.
	stale := withAfter(transferRec("S", f.retailer), f.digestOf(rc.Seq))
	f.fill(stale)
	staleEnv := signRecord(t, f.distributor, stale)
	in := f.must(f.inspector, inspectRec("S", "pass"))
	before := f.head()
	expect(t, "transfer signed before an inspection", f.submitEnv(staleEnv), 409, ledger.ErrStale)
	if f.head() != before {
		t.Error("a stale transfer changed the ledger's head")
	}
	// Another conflict is named before staleness.
	dt := f.must(f.distributor, withAfter(transferRec("S", f.retailer), f.digestOf(in.Seq)))
	expect(t, "double transfer with a stale after", f.submit(f.distributor, withAfter(transferRec("S", f.processor), f.digestOf(in.Seq))), 409, ledger.ErrDoubleTransfer)
	f.must(f.retailer, withAfter(receiveRec("S"), f.digestOf(dt.Seq)))

	// A transform that takes from the lot is on its history too.
	f.move("S", f.retailer, f.processor)
	seqs := f.lotSeqs(ref("S"))
	head := seqs[len(seqs)-1]
	tf := f.must(f.processor, transformRec([]lq{{"S", "1", "KGM"}}, []lq{{"S2", "1", "KGM"}}))
	expect(t, "transfer after the lot's previous head", f.submit(f.processor, withAfter(transferRec("S", f.distributor), f.digestOf(head))), 409, ledger.ErrStale)
	f.must(f.processor, withAfter(transferRec("S", f.distributor), f.digestOf(tf.Seq)))
	// The transform's output: its head is the transform.
	f.must(f.processor, withAfter(transferRec("S2", f.retailer), f.digestOf(tf.Seq)))
	// A recall of the parent moves the output's state but not its head;
	// the recall is what answers.
	f.must(f.producer, recallRec("S"))
	expect(t, "receive of a lot recalled since", f.submit(f.retailer, withAfter(receiveRec("S2"), f.digestOf(tf.Seq+2))), 409, ledger.ErrLotRecalled)

	// Without after, no staleness check: the field is optional.
	f.must(f.producer, harvestRec("N", "1", "KGM"))
	f.must(f.inspector, inspectRec("N", "pass"))
	f.must(f.producer, transferRec("N", f.retailer))
}

// The resubmission of an accepted envelope is answered 200 before any rule,
// even once its "after" no longer names the lot's head.
func TestStaleIntentIdempotent(t *testing.T) {
	f := newFixture(t)
	h := f.must(f.producer, harvestRec("I", "10", "KGM"))
	rec := withAfter(transferRec("I", f.distributor), f.digestOf(h.Seq))
	f.fill(rec)
	env := signRecord(t, f.producer, rec)
	first := f.submitEnv(env)
	expect(t, "first", first, 201, nil)
	f.must(f.distributor, receiveRec("I"))
	again := f.submitEnv(env)
	expect(t, "resubmission after the lot moved on", again, 200, nil)
	if again.Result.Seq != first.Result.Seq {
		t.Errorf("resubmission answered seq %d, want %d", again.Result.Seq, first.Result.Seq)
	}
}

// In one command, a receive may name the transfer just before it.
func TestStaleIntentWithinOneCommand(t *testing.T) {
	f := newFixture(t)
	h := f.must(f.producer, harvestRec("B1", "10", "KGM"))
	admit := func(k *key, rec map[string]any) *ledger.Admitted {
		f.fill(rec)
		adm, err := ledger.Admit(signRecord(t, k, rec), genesisTime)
		if err != nil {
			t.Fatal(err)
		}
		return adm
	}
	tr := admit(f.producer, withAfter(transferRec("B1", f.distributor), f.digestOf(h.Seq)))
	rc := admit(f.distributor, withAfter(receiveRec("B1"), ledger.RecordDigest(tr.Canonical)))
	stale := admit(f.distributor, withAfter(transferRec("B1", f.retailer), ledger.RecordDigest(tr.Canonical)))
	res := f.apply(&ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime.Add(time.Hour), Envelopes: []*ledger.Admitted{tr, rc, stale}})
	if res[0].Err != nil || res[1].Err != nil || !errors.Is(res[2].Err, ledger.ErrStale) {
		t.Errorf("results %v, %v, %v; want accepted, accepted, stale", res[0].Err, res[1].Err, res[2].Err)
	}
}
