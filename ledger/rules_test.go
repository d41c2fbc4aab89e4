package ledger_test

// The stateful rules of DESIGN §3.3, record type by record type, with keys
// generated here.

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/traceledger/traceledger/ledger"
)

func TestParticipantRules(t *testing.T) {
	f := newFixture(t)
	newcomer := newKey(t)

	expect(t, "producer registers someone", f.submit(f.producer, participantRec(newcomer.addr, "producer")), 403, ledger.ErrWrongRole)
	expect(t, "stranger registers itself as admin", f.submit(f.stranger, participantRec(f.stranger.addr, "admin")), 403, ledger.ErrNotRegistered)
	if f.participant(newcomer.addr) != nil || f.participant(f.stranger.addr) != nil {
		t.Fatal("a refused registration was stored")
	}

	reg := f.must(f.admin, participantRec(newcomer.addr, "producer"))
	p := f.participant(newcomer.addr)
	if p == nil || p.RegisteredSeq != reg.Seq || p.UpdatedSeq != reg.Seq || !reflect.DeepEqual(p.Roles, []string{"producer"}) {
		t.Fatalf("after registration: %+v (seq %d)", p, reg.Seq)
	}
	if p.Address != newcomer.hex() {
		t.Errorf("address stored as %q, want checksummed %q", p.Address, newcomer.hex())
	}

	// An update keeps registered_seq and replaces the roles.
	upd := participantRec(newcomer.addr, "producer", "processor")
	upd["gln"] = "8936000000004"
	upd["location"] = map[string]any{"name": "Hà Giang"}
	u := f.must(f.admin, upd)
	p = f.participant(newcomer.addr)
	if p.RegisteredSeq != reg.Seq || p.UpdatedSeq != u.Seq || !p.HasRole("processor") || p.GLN != "8936000000004" || p.Location == nil {
		t.Errorf("after update: %+v, want registered_seq %d updated_seq %d", p, reg.Seq, u.Seq)
	}

	// A participant made admin may register others; the genesis admin is
	// in the ledger as a participant too.
	if g := f.participant(f.admin.addr); g == nil || !g.HasRole(ledger.RoleAdmin) || g.RegisteredSeq != 0 {
		t.Errorf("genesis admin: %+v", g)
	}
	second := newKey(t)
	f.must(f.admin, participantRec(second.addr, "admin"))
	f.must(second, participantRec(newKey(t).addr, "retailer"))

	// Registering with a lowercase address stores the checksummed form.
	lower := newKey(t)
	rec := participantRec(lower.addr, "retailer")
	rec["address"] = "0x" + fmt.Sprintf("%x", lower.addr[:])
	f.must(f.admin, rec)
	if p := f.participant(lower.addr); p == nil || p.Address != lower.hex() {
		t.Errorf("lowercase registration: %+v", p)
	}
}

func TestHarvestRules(t *testing.T) {
	f := newFixture(t)
	r := f.must(f.producer, harvestRec("H1", "500", "KGM"))
	lot := f.lot(ref("H1"))
	want := ledger.Lot{GTIN: gtin, Lot: "H1", Product: ledger.Product{Name: "Vải thiều"}, Status: ledger.StatusActive,
		Holder: f.producer.hex(), Creator: f.producer.hex(), Quantity: ledger.Quantity{Amount: "500", Unit: "KGM"},
		Initial: ledger.Quantity{Amount: "500", Unit: "KGM"}, Parents: []ledger.LotRef{}, Children: []ledger.LotRef{},
		CreatedSeq: r.Seq, UpdatedSeq: r.Seq}
	if !reflect.DeepEqual(*lot, want) {
		t.Errorf("lot after harvest:\n got %+v\nwant %+v", *lot, want)
	}

	// A GTIN-13 names the same lot as its GTIN-14 form.
	g13 := harvestRec("H1", "1", "KGM")
	g13["lot"] = map[string]any{"gtin": gtin[1:], "lot": "H1"}
	expect(t, "harvest of the same lot by its GTIN-13", f.submit(f.producer, g13), 409, ledger.ErrLotExists)
	g13["lot"] = map[string]any{"gtin": gtin[1:], "lot": "H13"}
	delete(g13, "id")
	f.must(f.producer, g13)
	f.lot(ref("H13"))

	expect(t, "second harvest of a lot", f.submit(f.producer, harvestRec("H1", "1", "KGM")), 409, ledger.ErrLotExists)

	// Two harvests of one new lot in one command (one transaction): the
	// second sees the first's lot.
	var twice []*ledger.Admitted
	for _, k := range []*key{f.producer, f.producer2} {
		rec := harvestRec("H-TWICE", "1", "KGM")
		f.fill(rec)
		adm, err := ledger.Admit(signRecord(t, k, rec), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		twice = append(twice, adm)
	}
	res := f.apply(&ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime.Add(time.Hour), Envelopes: twice})
	if res[0].Err != nil || !errors.Is(res[1].Err, ledger.ErrLotExists) {
		t.Errorf("two harvests of a lot in one command: %v, %v; want the second refused with ErrLotExists", res[0].Err, res[1].Err)
	}
	if l := f.lot(ref("H-TWICE")); l.Holder != f.producer.hex() {
		t.Errorf("lot harvested twice in one command is held by %s, want the first harvester", l.Holder)
	}
	expect(t, "another producer harvests an existing lot", f.submit(f.producer2, harvestRec("H1", "1", "KGM")), 409, ledger.ErrLotExists)
	for _, k := range []*key{f.distributor, f.processor, f.retailer, f.inspector, f.admin} {
		expect(t, "non-producer harvests", f.submit(k, harvestRec("H2", "1", "KGM")), 403, ledger.ErrWrongRole)
	}
	expect(t, "unregistered harvests", f.submit(f.stranger, harvestRec("H2", "1", "KGM")), 403, ledger.ErrNotRegistered)
	// Permission is checked before the conflict.
	expect(t, "unregistered harvests an existing lot", f.submit(f.stranger, harvestRec("H1", "1", "KGM")), 403, ledger.ErrNotRegistered)
	// Amounts are stored in plain decimal form.
	f.must(f.producer, harvestRec("H3", "12.500", "LTR"))
	if q := f.lot(ref("H3")).Quantity; q.Amount != "12.5" || q.Unit != "LTR" {
		t.Errorf("quantity stored as %+v, want 12.5 LTR", q)
	}
	// A harvest starts its lot's chain: its entry names no prev (and its
	// signer in EIP-55 form); the lot's next event names the harvest.
	h := f.must(f.producer, harvestRec("H4", "1", "KGM"))
	tr := f.must(f.producer, transferRec("H4", f.processor))
	f.view(func(rd ledger.Reader) error {
		e, _, err := ledger.GetEntry(rd, h.Seq)
		if err != nil {
			return err
		}
		if len(e.Prev) != 0 || e.Signer != f.producer.hex() {
			t.Errorf("harvest entry: prev %v, signer %s", e.Prev, e.Signer)
		}
		if e, _, err = ledger.GetEntry(rd, tr.Seq); err != nil {
			return err
		}
		if len(e.Prev) != 1 || e.Prev[ref("H4").String()] != h.Seq {
			t.Errorf("transfer entry prev %v, want the harvest %d", e.Prev, h.Seq)
		}
		return nil
	})
}

func TestTransferReceiveRules(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("T1", "100", "KGM"))

	expect(t, "transfer of an unknown lot", f.submit(f.producer, transferRec("NOPE", f.distributor)), 404, ledger.ErrUnknownLot)
	expect(t, "transfer by a non-holder", f.submit(f.distributor, transferRec("T1", f.retailer)), 403, ledger.ErrNotHolder)
	expect(t, "transfer by an unregistered signer", f.submit(f.stranger, transferRec("T1", f.retailer)), 403, ledger.ErrNotRegistered)
	expect(t, "transfer to an unregistered recipient", f.submit(f.producer, transferRec("T1", f.stranger)), 409, ledger.ErrUnregisteredRecipient)
	expect(t, "receive of a lot not in transit", f.submit(f.distributor, receiveRec("T1")), 403, ledger.ErrNotRecipient)
	expect(t, "transfer to oneself", f.submit(f.producer, transferRec("T1", f.producer)), 400, ledger.ErrInvalidField)

	tr := f.must(f.producer, transferRec("T1", f.distributor))
	lot := f.lot(ref("T1"))
	if lot.Status != ledger.StatusInTransit || lot.InTransitTo != f.distributor.hex() || lot.Holder != f.producer.hex() || lot.UpdatedSeq != tr.Seq {
		t.Errorf("lot in transit: %+v", lot)
	}

	expect(t, "double transfer", f.submit(f.producer, transferRec("T1", f.distributor)), 409, ledger.ErrDoubleTransfer)
	expect(t, "double transfer elsewhere", f.submit(f.producer, transferRec("T1", f.retailer)), 409, ledger.ErrDoubleTransfer)
	expect(t, "transfer by the recipient before receiving", f.submit(f.distributor, transferRec("T1", f.retailer)), 403, ledger.ErrNotHolder)
	expect(t, "receive by someone else", f.submit(f.retailer, receiveRec("T1")), 403, ledger.ErrNotRecipient)
	expect(t, "receive by the sender", f.submit(f.producer, receiveRec("T1")), 403, ledger.ErrNotRecipient)
	expect(t, "receive by an unregistered signer", f.submit(f.stranger, receiveRec("T1")), 403, ledger.ErrNotRegistered)
	expect(t, "receive of an unknown lot", f.submit(f.distributor, receiveRec("NOPE")), 404, ledger.ErrUnknownLot)

	rc := f.must(f.distributor, receiveRec("T1"))
	lot = f.lot(ref("T1"))
	if lot.Status != ledger.StatusActive || lot.InTransitTo != "" || lot.Holder != f.distributor.hex() || lot.UpdatedSeq != rc.Seq {
		t.Errorf("lot after receive: %+v", lot)
	}
	if lot.Creator != f.producer.hex() {
		t.Errorf("creator changed to %s", lot.Creator)
	}
	expect(t, "second receive", f.submit(f.distributor, receiveRec("T1")), 403, ledger.ErrNotRecipient)
	expect(t, "former holder transfers", f.submit(f.producer, transferRec("T1", f.retailer)), 403, ledger.ErrNotHolder)

	f.move("T1", f.distributor, f.retailer)
	if got, want := f.lotTypes(ref("T1")), []string{"harvest", "transfer", "receive", "transfer", "receive"}; !reflect.DeepEqual(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
	if h := f.lot(ref("T1")).Holder; h != f.retailer.hex() {
		t.Errorf("holder %s, want the retailer", h)
	}
}

func TestTransformRules(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("A", "1", "KGM"))
	f.must(f.producer, harvestRec("B", "5", "KGM"))
	f.must(f.producer, harvestRec("C", "3", "LTR"))
	f.move("A", f.producer, f.processor)
	f.move("B", f.producer, f.processor)

	// 0.1 kg taken ten times leaves exactly nothing: amounts are decimal.
	for i := 1; i <= 10; i++ {
		out := fmt.Sprintf("A-%d", i)
		r := f.must(f.processor, transformRec([]lq{{"A", "0.1", "KGM"}}, []lq{{out, "0.1", "KGM"}}))
		a := f.lot(ref("A"))
		want := fmt.Sprintf("0.%d", 10-i)
		if i == 10 {
			want = "0"
		}
		if string(a.Quantity.Amount) != want {
			t.Fatalf("after %d transforms A holds %s, want %s", i, a.Quantity.Amount, want)
		}
		if a.UpdatedSeq != r.Seq {
			t.Errorf("A updated_seq %d, want %d", a.UpdatedSeq, r.Seq)
		}
		o := f.lot(ref(out))
		if !reflect.DeepEqual(o.Parents, []ledger.LotRef{ref("A")}) || o.Creator != f.processor.hex() || o.Holder != f.processor.hex() || o.CreatedSeq != r.Seq {
			t.Errorf("output %s: %+v", out, o)
		}
	}
	a := f.lot(ref("A"))
	if a.Status != ledger.StatusConsumed || a.Initial.Amount != "1" || len(a.Children) != 10 || a.Children[9] != ref("A-10") {
		t.Errorf("A after being used up: %+v", a)
	}
	expect(t, "transform of a consumed lot", f.submit(f.processor, transformRec([]lq{{"A", "0.1", "KGM"}}, []lq{{"A-11", "1", "KGM"}})), 409, ledger.ErrLotConsumed)
	expect(t, "transfer of a consumed lot", f.submit(f.processor, transferRec("A", f.retailer)), 409, ledger.ErrLotConsumed)

	// Several inputs and outputs: every output has every input as parent.
	r := f.must(f.processor, transformRec([]lq{{"B", "1.25", "KGM"}, {"A-1", "0.1", "KGM"}},
		[]lq{{"M1", "10", "XBX"}, {"M2", "0.5", "KGM"}}))
	b := f.lot(ref("B"))
	if b.Quantity.Amount != "3.75" || b.Status != ledger.StatusActive || !reflect.DeepEqual(b.Children, []ledger.LotRef{ref("M1"), ref("M2")}) {
		t.Errorf("B after transform: %+v", b)
	}
	if a1 := f.lot(ref("A-1")); a1.Status != ledger.StatusConsumed || a1.Quantity.Amount != "0" {
		t.Errorf("A-1 fully used: %+v", a1)
	}
	for _, m := range []string{"M1", "M2"} {
		if o := f.lot(ref(m)); !reflect.DeepEqual(o.Parents, []ledger.LotRef{ref("B"), ref("A-1")}) || o.CreatedSeq != r.Seq {
			t.Errorf("%s parents %v", m, o.Parents)
		}
	}
	if got := f.lotTypes(ref("M2")); !reflect.DeepEqual(got, []string{"transform"}) {
		t.Errorf("M2 history %v", got)
	}
	if got := f.lotTypes(ref("B")); got[len(got)-1] != "transform" {
		t.Errorf("B history %v", got)
	}

	cases := []struct {
		name     string
		signer   *key
		rec      map[string]any
		status   int
		sentinel error
	}{
		{"unknown input", f.processor, transformRec([]lq{{"NOPE", "1", "KGM"}}, []lq{{"X1", "1", "KGM"}}), 404, ledger.ErrUnknownLot},
		{"unknown second input", f.processor, transformRec([]lq{{"B", "1", "KGM"}, {"NOPE", "1", "KGM"}}, []lq{{"X1", "1", "KGM"}}), 404, ledger.ErrUnknownLot},
		{"not the holder of one input", f.processor, transformRec([]lq{{"B", "1", "KGM"}, {"C", "1", "LTR"}}, []lq{{"X1", "1", "KGM"}}), 403, ledger.ErrNotHolder},
		{"not the holder", f.producer, transformRec([]lq{{"B", "1", "KGM"}}, []lq{{"X1", "1", "KGM"}}), 403, ledger.ErrNotHolder},
		{"unregistered", f.stranger, transformRec([]lq{{"B", "1", "KGM"}}, []lq{{"X1", "1", "KGM"}}), 403, ledger.ErrNotRegistered},
		{"output lot exists", f.processor, transformRec([]lq{{"B", "1", "KGM"}}, []lq{{"M1", "1", "KGM"}}), 409, ledger.ErrLotExists},
		{"output is a harvested lot", f.processor, transformRec([]lq{{"B", "1", "KGM"}}, []lq{{"C", "1", "KGM"}}), 409, ledger.ErrLotExists},
		{"unit mismatch", f.processor, transformRec([]lq{{"B", "1", "GRM"}}, []lq{{"X1", "1", "KGM"}}), 409, ledger.ErrUnitMismatch},
		{"more than remains", f.processor, transformRec([]lq{{"B", "3.750001", "KGM"}}, []lq{{"X1", "1", "KGM"}}), 409, ledger.ErrInsufficient},
		{"input named twice", f.processor, transformRec([]lq{{"B", "1", "KGM"}, {"B", "1", "KGM"}}, []lq{{"X1", "1", "KGM"}}), 400, ledger.ErrInvalidField},
		{"output equals input", f.processor, transformRec([]lq{{"B", "1", "KGM"}}, []lq{{"B", "1", "KGM"}}), 400, ledger.ErrInvalidField},
	}
	for _, c := range cases {
		expect(t, c.name, f.submit(c.signer, c.rec), c.status, c.sentinel)
	}

	// Exactly what remains is allowed and consumes the lot.
	f.must(f.processor, transformRec([]lq{{"B", "3.75", "KGM"}}, []lq{{"X1", "3", "KGM"}}))
	if b := f.lot(ref("B")); b.Status != ledger.StatusConsumed || b.Quantity.Amount != "0" {
		t.Errorf("B used up exactly: %+v", b)
	}

	// An input in transit cannot be transformed, even by its holder.
	f.must(f.processor, transferRec("M1", f.distributor))
	expect(t, "input in transit", f.submit(f.processor, transformRec([]lq{{"M1", "1", "XBX"}}, []lq{{"X2", "1", "XBX"}})), 409, ledger.ErrLotInTransit)
	f.must(f.distributor, receiveRec("M1"))
	// A recalled input cannot be transformed.
	f.must(f.admin, recallRec("M2"))
	expect(t, "recalled input", f.submit(f.processor, transformRec([]lq{{"M2", "0.1", "KGM"}}, []lq{{"X3", "0.1", "KGM"}})), 409, ledger.ErrLotRecalled)
}

func TestInspectRules(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("I1", "10", "KGM"))
	r := f.must(f.inspector, inspectRec("I1", "pass"))
	if l := f.lot(ref("I1")); l.UpdatedSeq != r.Seq || l.Status != ledger.StatusActive || l.Holder != f.producer.hex() {
		t.Errorf("lot after inspection: %+v", l)
	}
	fail := inspectRec("I1", "fail")
	fail["certificate"] = map[string]any{"scheme": "VietGAP", "number": "VG-1", "valid_from": "2026-01-01", "valid_until": "2027-01-01"}
	fail["note"] = "residue above limit"
	f.must(f.inspector, fail)
	if got := f.lotTypes(ref("I1")); !reflect.DeepEqual(got, []string{"harvest", "inspect", "inspect"}) {
		t.Errorf("history %v", got)
	}
	for _, k := range []*key{f.producer, f.admin, f.distributor, f.processor} {
		expect(t, "inspection by a non-inspector", f.submit(k, inspectRec("I1", "pass")), 403, ledger.ErrWrongRole)
	}
	expect(t, "inspection by an unregistered signer", f.submit(f.stranger, inspectRec("I1", "pass")), 403, ledger.ErrNotRegistered)
	expect(t, "inspection of an unknown lot", f.submit(f.inspector, inspectRec("NOPE", "pass")), 404, ledger.ErrUnknownLot)
	expect(t, "inspection result maybe", f.submit(f.inspector, inspectRec("I1", "maybe")), 400, ledger.ErrInvalidField)
}

func TestRecallRules(t *testing.T) {
	f := newFixture(t)
	// A (producer) → B (processor) → C (processor); D (producer2) unrelated.
	f.must(f.producer, harvestRec("A", "10", "KGM"))
	f.must(f.producer2, harvestRec("D", "10", "KGM"))
	f.move("A", f.producer, f.processor)
	f.must(f.processor, transformRec([]lq{{"A", "5", "KGM"}}, []lq{{"B", "5", "KGM"}}))
	f.must(f.processor, transformRec([]lq{{"B", "2", "KGM"}}, []lq{{"C", "20", "XJR"}}))
	f.must(f.processor, transformRec([]lq{{"B", "1", "KGM"}}, []lq{{"E", "1", "KGM"}}))

	expect(t, "unrelated producer", f.submit(f.producer2, recallRec("B")), 403, ledger.ErrWrongRole)
	expect(t, "distributor", f.submit(f.distributor, recallRec("B")), 403, ledger.ErrWrongRole)
	expect(t, "inspector", f.submit(f.inspector, recallRec("A")), 403, ledger.ErrWrongRole)
	expect(t, "unregistered", f.submit(f.stranger, recallRec("B")), 403, ledger.ErrNotRegistered)
	expect(t, "unknown lot", f.submit(f.producer, recallRec("NOPE")), 404, ledger.ErrUnknownLot)
	expect(t, "creator of a descendant recalls the ancestor", f.submit(f.processor, recallRec("A")), 403, ledger.ErrWrongRole)

	// The producer of an ancestor recalls B: B and its descendants are recalled, A is not.
	r := f.must(f.producer, recallRec("B"))
	for _, name := range []string{"B", "C", "E"} {
		l := f.lot(ref(name))
		if l.Status != ledger.StatusRecalled || l.Recalled == nil || l.Recalled.Seq != r.Seq || l.Recalled.Origin != ref("B") ||
			l.Recalled.Reason != "pesticide residue" || l.UpdatedSeq != r.Seq {
			t.Errorf("%s after recall: %+v recall %+v", name, l, l.Recalled)
		}
	}
	if a := f.lot(ref("A")); a.Recalled != nil || a.Status != ledger.StatusActive {
		t.Errorf("ancestor A was recalled: %+v", a)
	}
	if got := f.lotTypes(ref("B")); got[len(got)-1] != "recall" {
		t.Errorf("B history %v", got)
	}

	expect(t, "recall twice", f.submit(f.admin, recallRec("B")), 409, ledger.ErrAlreadyRecalled)
	expect(t, "recall a recalled descendant", f.submit(f.producer, recallRec("C")), 409, ledger.ErrAlreadyRecalled)

	// The admin recalls A: A is recalled, its descendants keep the first recall.
	ra := f.must(f.admin, recallRec("A"))
	if a := f.lot(ref("A")); a.Recalled == nil || a.Recalled.Seq != ra.Seq || a.Status != ledger.StatusRecalled {
		t.Errorf("A after admin recall: %+v", a)
	}
	if c := f.lot(ref("C")); c.Recalled.Seq != r.Seq || c.Recalled.Origin != ref("B") {
		t.Errorf("C recall overwritten: %+v", c.Recalled)
	}
	if d := f.lot(ref("D")); d.Recalled != nil {
		t.Errorf("unrelated lot D recalled: %+v", d)
	}

	// The creator of the lot itself may recall it (here producer2 and D).
	f.must(f.producer2, recallRec("D"))
}

func TestRecallByIntermediateCreator(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("A", "10", "KGM"))
	f.move("A", f.producer, f.processor)
	f.must(f.processor, transformRec([]lq{{"A", "5", "KGM"}}, []lq{{"B", "5", "KGM"}}))
	f.must(f.processor, transformRec([]lq{{"B", "5", "KGM"}}, []lq{{"C", "5", "KGM"}}))
	f.move("C", f.processor, f.retailer)
	// The processor created B, an ancestor of C, though C is now held by the retailer.
	f.must(f.processor, recallRec("C"))
	if c := f.lot(ref("C")); c.Status != ledger.StatusRecalled || c.Holder != f.retailer.hex() {
		t.Errorf("C: %+v", c)
	}
	if b := f.lot(ref("B")); b.Recalled != nil {
		t.Errorf("B recalled by a recall of its child")
	}
}

func TestIdempotency(t *testing.T) {
	f := newFixture(t)
	rec := harvestRec("ID1", "10", "KGM")
	f.fill(rec)
	env := signRecord(t, f.producer, rec)
	first := f.submitEnv(env)
	expect(t, "first submission", first, 201, nil)

	again := f.submitEnv(env)
	expect(t, "identical envelope", again, 200, nil)
	if !again.Result.Existing || again.Result.Seq != first.Result.Seq || again.Result.Hash != first.Result.Hash || again.Result.Signer != f.producer.addr {
		t.Errorf("repeat answered %+v, want seq %d hash %x", again.Result, first.Result.Seq, first.Result.Hash)
	}

	// The lot moves on and is used up; the retry still gets 200 with the
	// original entry, before any rule runs.
	f.move("ID1", f.producer, f.processor)
	f.must(f.processor, transformRec([]lq{{"ID1", "10", "KGM"}}, []lq{{"ID1-OUT", "10", "KGM"}}))
	f.must(f.admin, recallRec("ID1"))
	late := f.submitEnv(env)
	expect(t, "identical envelope after the lot moved on", late, 200, nil)
	if late.Result.Seq != first.Result.Seq || late.Result.Hash != first.Result.Hash {
		t.Errorf("late repeat answered seq %d, want %d", late.Result.Seq, first.Result.Seq)
	}
	// Also when the signer has lost their registration.
	f.must(f.admin, participantRec(f.producer.addr, "retailer"))
	expect(t, "identical envelope after losing the role", f.submitEnv(env), 200, nil)

	// Ids are unique per signer: another signer may use the same id.
	other := harvestRec("ID2", "10", "KGM")
	other["id"] = rec["id"]
	expect(t, "same id by another signer", f.submit(f.producer2, other), 201, nil)
	// Same id, different content: 409 id_reused, even when the record would
	// otherwise be accepted.
	other2 := harvestRec("ID3", "10", "KGM")
	other2["id"] = other["id"]
	expect(t, "id reused", f.submit(f.producer2, other2), 409, ledger.ErrIDReused)
	other4 := transferRec("ID2", f.distributor)
	other4["id"] = other["id"]
	expect(t, "id reused for a transfer", f.submit(f.producer2, other4), 409, ledger.ErrIDReused)
	// A rule that fails earlier answers first.
	other3 := transferRec("ID1-OUT", f.distributor)
	other3["id"] = other["id"]
	expect(t, "id reused by a non-holder", f.submit(f.producer2, other3), 403, ledger.ErrNotHolder)
	other5 := transferRec("NOPE", f.distributor)
	other5["id"] = other["id"]
	expect(t, "id reused on an unknown lot", f.submit(f.producer2, other5), 404, ledger.ErrUnknownLot)
	// A refused envelope leaves no trace of its id: once the rule that
	// refused it holds, the very same envelope is accepted.
	late2 := harvestRec("ID4", "1", "KGM")
	f.fill(late2)
	early := signRecord(t, f.stranger, late2)
	expect(t, "harvest before registration", f.submitEnv(early), 403, ledger.ErrNotRegistered)
	f.must(f.admin, participantRec(f.stranger.addr, "producer"))
	expect(t, "same envelope after registration", f.submitEnv(early), 201, nil)
	// The lot of the refused harvest was not created.
	if got := f.lotTypes(ref("ID3")); len(got) != 0 {
		t.Errorf("refused harvest left entries %v", got)
	}
}

func TestCheckOrder(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("O1", "10", "KGM"))

	// 404 comes before 403: an unknown lot answers 404 even for an unregistered signer.
	for _, rec := range []map[string]any{transferRec("NOPE", f.distributor), receiveRec("NOPE"), inspectRec("NOPE", "pass"),
		recallRec("NOPE"), transformRec([]lq{{"NOPE", "1", "KGM"}}, []lq{{"NEW", "1", "KGM"}})} {
		expect(t, fmt.Sprintf("%s of an unknown lot by a stranger", rec["type"]), f.submit(f.stranger, rec), 404, ledger.ErrUnknownLot)
	}
	// 400 comes before 401: a bad field answers 400 even with a bad signature.
	bad := harvestRec("O2", "-1", "KGM")
	f.fill(bad)
	env := signRecord(t, f.producer, bad)
	env.Signature = "0x" + fmt.Sprintf("%0130x", 1)
	expect(t, "bad field and bad signature", f.submitEnv(env), 400, ledger.ErrInvalidAmount)
	// 401 comes before 404: a wrong signer on an unknown lot answers 401.
	rec := transferRec("NOPE", f.distributor)
	rec["signer"] = f.producer.hex()
	expect(t, "signed by another key, unknown lot", f.submit(f.stranger, rec), 401, ledger.ErrSignerMismatch)
	// 403 comes before 409: a non-holder's transfer to an unregistered recipient.
	expect(t, "not holder and unregistered recipient", f.submit(f.distributor, transferRec("O1", f.stranger)), 403, ledger.ErrNotHolder)
	// A harvest of an existing lot by an unregistered signer is 403.
	expect(t, "unregistered harvest of an existing lot", f.submit(f.stranger, harvestRec("O1", "1", "KGM")), 403, ledger.ErrNotRegistered)
}

func TestRefusalChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.must(f.producer, harvestRec("R1", "10", "KGM"))
	f.must(f.producer, transferRec("R1", f.distributor))
	refusals := []struct {
		signer *key
		rec    map[string]any
	}{
		{f.producer, harvestRec("R1", "1", "KGM")},                                     // 409 lot exists
		{f.producer, transferRec("R1", f.retailer)},                                    // 409 double transfer
		{f.retailer, receiveRec("R1")},                                                 // 403 not recipient
		{f.stranger, harvestRec("R2", "1", "KGM")},                                     // 403 not registered
		{f.producer, receiveRec("NOPE")},                                               // 404
		{f.producer, harvestRec("R3", "0", "KGM")},                                     // 400
		{f.producer2, recallRec("R1")},                                                 // 403 wrong role
		{f.producer, transformRec([]lq{{"R1", "1", "KGM"}}, []lq{{"R4", "1", "KGM"}})}, // 409 in transit
	}
	for i, r := range refusals {
		before, size := f.head(), f.size()
		o := f.submit(r.signer, r.rec)
		if o.Status < 400 {
			t.Errorf("refusal %d: accepted with %d", i, o.Status)
		}
		if after := f.head(); after != before || f.size() != size {
			t.Errorf("refusal %d (%v) moved the head from %+v to %+v", i, o.Err, before, after)
		}
	}

	// In a batch, a refused envelope between two accepted ones takes no seq.
	var envs []*ledger.Admitted
	for _, r := range []struct {
		signer *key
		rec    map[string]any
	}{{f.producer, harvestRec("B1", "1", "KGM")}, {f.producer, harvestRec("B1", "2", "KGM")}, {f.producer2, harvestRec("B2", "1", "KGM")}} {
		f.fill(r.rec)
		adm, err := ledger.Admit(signRecord(t, r.signer, r.rec), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, adm)
	}
	size := f.size()
	res := f.apply(&ledger.Command{Kind: ledger.CmdRecords, Time: genesisTime.Add(time.Hour), Envelopes: envs})
	if len(res) != 3 || res[0].Err != nil || !errors.Is(res[1].Err, ledger.ErrLotExists) || res[2].Err != nil {
		t.Fatalf("batch results %+v", res)
	}
	if res[0].Seq != size || res[2].Seq != size+1 || f.size() != size+2 {
		t.Errorf("batch seqs %d, %d and size %d; want %d, %d and %d", res[0].Seq, res[2].Seq, f.size(), size, size+1, size+2)
	}
	if q := f.lot(ref("B1")).Quantity.Amount; q != "1" {
		t.Errorf("refused second harvest changed B1 to %s", q)
	}
}
