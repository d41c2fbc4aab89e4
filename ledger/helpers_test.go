package ledger_test

// Shared test helpers: keys, signing, an in-memory ledger and the mapping
// from a ledger outcome to the HTTP status of DESIGN §3.4.

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/badgerkv"
)

// genesisTime is the record time of every test ledger's genesis; later
// commands are stamped one second apart, so runs are reproducible.
var genesisTime = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// key is a participant's signing key.
type key struct {
	priv *ecdsa.PrivateKey
	addr common.Address
}

func newKey(t testing.TB) *key {
	t.Helper()
	priv, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &key{priv: priv, addr: crypto.PubkeyToAddress(priv.PublicKey)}
}

func (k *key) hex() string { return k.addr.Hex() }

// signRecord sets rec["signer"] to k's address unless rec already has a
// signer, and returns the envelope of rec signed by k.
func signRecord(t testing.TB, k *key, rec map[string]any) ledger.Envelope {
	t.Helper()
	if _, ok := rec["signer"]; !ok {
		rec["signer"] = k.hex()
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return signRaw(t, k, raw)
}

// signRaw signs the canonical form of raw with k.
func signRaw(t testing.TB, k *key, raw []byte) ledger.Envelope {
	t.Helper()
	canon, err := ledger.Canonicalize(raw)
	if err != nil {
		t.Fatalf("canonicalize %s: %v", raw, err)
	}
	sig, err := ledger.Sign(k.priv, canon)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Envelope{Record: raw, Signature: fmt.Sprintf("0x%x", sig)}
}

// statusOf maps an outcome to the HTTP status the API answers with.
func statusOf(t testing.TB, admitErr error, res *ledger.Result) int {
	t.Helper()
	err := admitErr
	if err == nil && res != nil {
		err = res.Err
	}
	if err != nil {
		kind, _, ok := ledger.Describe(err)
		if !ok {
			t.Fatalf("error %v is not a *ledger.Error", err)
		}
		switch kind {
		case ledger.KindInvalid:
			return http.StatusBadRequest
		case ledger.KindSignature:
			return http.StatusUnauthorized
		case ledger.KindNotFound:
			return http.StatusNotFound
		case ledger.KindForbidden:
			return http.StatusForbidden
		case ledger.KindConflict:
			return http.StatusConflict
		}
		t.Fatalf("error %v has unknown kind %d", err, kind)
	}
	if res.Existing {
		return http.StatusOK
	}
	return http.StatusCreated
}

// testLedger is a fresh in-memory ledger with a genesis entry.
type testLedger struct {
	t     testing.TB
	db    *ledger.LotMapStore // raw, with the lot-head map in memory, as a node keeps it
	raw   *badgerkv.DB
	clock time.Time
	ids   int
}

func newLedger(t testing.TB, admins ...common.Address) *testLedger {
	t.Helper()
	raw, err := badgerkv.Open(badgerkv.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	db := ledger.NewLotMapStore(raw)
	if err := db.Wait(); err != nil {
		t.Fatal(err)
	}
	l := &testLedger{t: t, db: db, raw: raw, clock: genesisTime}
	l.apply(&ledger.Command{Kind: ledger.CmdGenesis, Time: genesisTime, Admins: admins})
	return l
}

// apply applies c in one transaction and returns its results.
func (l *testLedger) apply(c *ledger.Command) []ledger.Result {
	l.t.Helper()
	var out []ledger.Result
	err := l.db.Update(func(w ledger.Writer) error {
		var err error
		out, err = ledger.Apply(w, c)
		return err
	})
	if err != nil {
		l.t.Fatalf("apply: %v", err)
	}
	return out
}

// outcome is what one submission produced.
type outcome struct {
	Status int
	Err    error // the Admit error or the rule refusal
	Result ledger.Result
}

// submitEnv admits env and, if it passes, applies it alone in a records
// command. A refused envelope must leave the store byte for byte as it was.
func (l *testLedger) submitEnv(env ledger.Envelope) outcome {
	l.t.Helper()
	before := l.dump()
	adm, err := ledger.Admit(env, time.Time{})
	if err != nil {
		o := outcome{Status: statusOf(l.t, err, nil), Err: err}
		l.assertUnchanged(before, o)
		return o
	}
	l.clock = l.clock.Add(time.Second)
	res := l.apply(&ledger.Command{Kind: ledger.CmdRecords, Time: l.clock, Envelopes: []*ledger.Admitted{adm}})
	if len(res) != 1 {
		l.t.Fatalf("apply returned %d results for 1 envelope", len(res))
	}
	o := outcome{Status: statusOf(l.t, nil, &res[0]), Err: res[0].Err, Result: res[0]}
	if o.Err != nil || res[0].Existing {
		l.assertUnchanged(before, o)
	}
	return o
}

// submit signs rec with k (setting signer, and an id and a time when rec
// has none) and submits it.
func (l *testLedger) submit(k *key, rec map[string]any) outcome {
	l.t.Helper()
	l.fill(rec)
	return l.submitEnv(signRecord(l.t, k, rec))
}

func (l *testLedger) fill(rec map[string]any) {
	if _, ok := rec["id"]; !ok {
		l.ids++
		rec["id"] = fmt.Sprintf("rec-%d", l.ids)
	}
	if _, ok := rec["time"]; !ok {
		rec["time"] = "2026-06-01T06:15:00+07:00"
	}
}

// must submits rec and fails the test unless it is accepted as new.
func (l *testLedger) must(k *key, rec map[string]any) ledger.Result {
	l.t.Helper()
	o := l.submit(k, rec)
	if o.Status != http.StatusCreated {
		l.t.Fatalf("%v: status %d (%v), want 201", rec["type"], o.Status, o.Err)
	}
	return o.Result
}

func (l *testLedger) assertUnchanged(before [32]byte, o outcome) {
	l.t.Helper()
	if after := l.dump(); after != before {
		l.t.Errorf("a refused or repeated envelope (status %d, %v) changed the store", o.Status, o.Err)
	}
}

// dump hashes every key and value in the store.
func (l *testLedger) dump() [32]byte {
	l.t.Helper()
	h := sha256.New()
	err := l.db.View(func(r ledger.Reader) error {
		return r.Scan([]byte{}, nil, func(k, v []byte) bool {
			fmt.Fprintf(h, "%d:%s=%d:%s;", len(k), k, len(v), v)
			return true
		})
	})
	if err != nil {
		l.t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (l *testLedger) view(fn func(r ledger.Reader) error) {
	l.t.Helper()
	if err := l.db.View(fn); err != nil {
		l.t.Fatal(err)
	}
}

func (l *testLedger) head() ledger.Head {
	l.t.Helper()
	var h ledger.Head
	l.view(func(r ledger.Reader) error {
		var err error
		h, err = ledger.ReadHead(r)
		return err
	})
	return h
}

func (l *testLedger) size() uint64 {
	l.t.Helper()
	var n uint64
	l.view(func(r ledger.Reader) error {
		var err error
		n, err = ledger.Size(r)
		return err
	})
	return n
}

func (l *testLedger) lot(ref ledger.LotRef) *ledger.Lot {
	l.t.Helper()
	var lot *ledger.Lot
	l.view(func(r ledger.Reader) error {
		var err error
		lot, err = ledger.GetLot(r, ref)
		return err
	})
	if lot == nil {
		l.t.Fatalf("lot %s not found", ref)
	}
	return lot
}

func (l *testLedger) participant(a common.Address) *ledger.ParticipantInfo {
	l.t.Helper()
	var p *ledger.ParticipantInfo
	l.view(func(r ledger.Reader) error {
		var err error
		p, err = ledger.GetParticipant(r, a)
		return err
	})
	return p
}

// lotTypes returns the types of the entries that name ref, in log order.
func (l *testLedger) lotTypes(ref ledger.LotRef) []string {
	l.t.Helper()
	var out []string
	l.view(func(r ledger.Reader) error {
		seqs, err := ledger.LotSeqs(r, ref)
		if err != nil {
			return err
		}
		for _, s := range seqs {
			e, _, err := ledger.GetEntry(r, s)
			if err != nil {
				return err
			}
			out = append(out, e.Type)
		}
		return nil
	})
	return out
}

// expect checks an outcome's status and, for a refusal, its sentinel.
func expect(t testing.TB, name string, o outcome, status int, sentinel error) {
	t.Helper()
	if o.Status != status {
		t.Errorf("%s: status %d (%v), want %d", name, o.Status, o.Err, status)
		return
	}
	if sentinel != nil && !errors.Is(o.Err, sentinel) {
		t.Errorf("%s: error %v, want %v", name, o.Err, sentinel)
	}
}

// Record builders. Amounts are json.Number so that the test controls their
// exact text.

const gtin = "08936000000127"

func ref(lot string) ledger.LotRef { return ledger.LotRef{GTIN: gtin, Lot: lot} }

func lotJSON(lot string) map[string]any { return map[string]any{"gtin": gtin, "lot": lot} }

func qty(amount, unit string) map[string]any {
	return map[string]any{"amount": json.Number(amount), "unit": unit}
}

func participantRec(addr common.Address, roles ...string) map[string]any {
	return map[string]any{"type": "participant", "address": addr.Hex(), "name": "Participant " + addr.Hex()[:8], "roles": roles}
}

func harvestRec(lot, amount, unit string) map[string]any {
	return map[string]any{"type": "harvest", "lot": lotJSON(lot), "product": map[string]any{"name": "Vải thiều"},
		"quantity": qty(amount, unit), "place": map[string]any{"name": "Lục Ngạn", "geo": "21.387,106.556"}}
}

func transferRec(lot string, to *key) map[string]any {
	return map[string]any{"type": "transfer", "lot": lotJSON(lot), "to": to.hex()}
}

func receiveRec(lot string) map[string]any {
	return map[string]any{"type": "receive", "lot": lotJSON(lot)}
}

type lq struct{ lot, amount, unit string }

func transformRec(inputs, outputs []lq) map[string]any {
	var ins, outs []any
	for _, in := range inputs {
		ins = append(ins, map[string]any{"lot": lotJSON(in.lot), "quantity": qty(in.amount, in.unit)})
	}
	for _, o := range outputs {
		outs = append(outs, map[string]any{"lot": lotJSON(o.lot), "product": map[string]any{"name": "Vải sấy"}, "quantity": qty(o.amount, o.unit)})
	}
	return map[string]any{"type": "transform", "inputs": ins, "outputs": outs, "process": "drying"}
}

func inspectRec(lot, result string) map[string]any {
	return map[string]any{"type": "inspect", "lot": lotJSON(lot), "result": result}
}

func recallRec(lot string) map[string]any {
	return map[string]any{"type": "recall", "lot": lotJSON(lot), "reason": "pesticide residue"}
}

// fixture is a ledger with one participant of each role registered.
type fixture struct {
	*testLedger
	admin, producer, producer2, processor, distributor, retailer, inspector, stranger *key
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{admin: newKey(t), producer: newKey(t), producer2: newKey(t), processor: newKey(t),
		distributor: newKey(t), retailer: newKey(t), inspector: newKey(t), stranger: newKey(t)}
	f.testLedger = newLedger(t, f.admin.addr)
	for _, p := range []struct {
		k    *key
		role string
	}{{f.producer, "producer"}, {f.producer2, "producer"}, {f.processor, "processor"},
		{f.distributor, "distributor"}, {f.retailer, "retailer"}, {f.inspector, "inspector"}} {
		f.must(f.admin, participantRec(p.k.addr, p.role))
	}
	return f
}

// move transfers lot from one holder to another and has it received.
func (f *fixture) move(lot string, from, to *key) {
	f.t.Helper()
	f.must(from, transferRec(lot, to))
	f.must(to, receiveRec(lot))
}
