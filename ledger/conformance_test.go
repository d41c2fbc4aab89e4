package ledger_test

// Conformance vectors shared with other implementations (DESIGN §3.2):
// wallet signatures, GS1 identifiers and a whole signed scenario.

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/traceledger/traceledger/ledger"
)

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type eip191Vector struct {
	Message   string `json:"message"`
	Address   string `json:"address"`
	Signature string `json:"signature"`
	Valid     bool   `json:"valid"`
	Why       string `json:"why"`
}

func TestEIP191Vectors(t *testing.T) {
	var vectors []eip191Vector
	readJSON(t, "../testdata/eip191-vectors.json", &vectors)
	if len(vectors) == 0 {
		t.Fatal("no vectors")
	}
	valid := 0
	for i, v := range vectors {
		want := common.HexToAddress(v.Address)
		sig, err := ledger.ParseSignature(v.Signature)
		var got common.Address
		if err == nil {
			got, err = ledger.Recover([]byte(v.Message), sig)
		}
		if err != nil && !errors.Is(err, ledger.ErrBadSignature) {
			t.Errorf("vector %d (%s): error %v is not ErrBadSignature", i, v.Why, err)
		}
		switch {
		case v.Valid && err != nil:
			t.Errorf("vector %d (%s): valid signature rejected: %v", i, v.Why, err)
		case v.Valid && got != want:
			t.Errorf("vector %d (%s): recovered %s, want %s", i, v.Why, got.Hex(), want.Hex())
		case !v.Valid && err == nil && got == want:
			t.Errorf("vector %d (%s): invalid signature recovers the claimed address %s", i, v.Why, want.Hex())
		}
		if v.Valid {
			valid++
		}
	}
	if valid == 0 || valid == len(vectors) {
		t.Errorf("vectors hold %d valid of %d: want both kinds", valid, len(vectors))
	}
}

type gs1Vectors struct {
	GTINs []struct {
		GTIN   string `json:"gtin"`
		Valid  bool   `json:"valid"`
		GTIN14 string `json:"gtin14"`
		Why    string `json:"why"`
	} `json:"gtins"`
	Lots []struct {
		Lot   string `json:"lot"`
		Valid bool   `json:"valid"`
		Why   string `json:"why"`
	} `json:"lots"`
}

func TestGS1Vectors(t *testing.T) {
	var v gs1Vectors
	readJSON(t, "../testdata/gs1-vectors.json", &v)
	if len(v.GTINs) == 0 || len(v.Lots) == 0 {
		t.Fatal("no vectors")
	}
	for _, g := range v.GTINs {
		got, err := ledger.NormalizeGTIN(g.GTIN)
		if !g.Valid {
			if !errors.Is(err, ledger.ErrInvalidGTIN) {
				t.Errorf("NormalizeGTIN(%q) (%s) = %q, %v; want ErrInvalidGTIN", g.GTIN, g.Why, got, err)
			}
			continue
		}
		want := g.GTIN14
		if want == "" {
			want = g.GTIN
		}
		if err != nil || got != want {
			t.Errorf("NormalizeGTIN(%q) = %q, %v; want %q", g.GTIN, got, err, want)
		}
	}
	for _, l := range v.Lots {
		err := ledger.CheckLot(l.Lot)
		if l.Valid && err != nil {
			t.Errorf("CheckLot(%q) = %v, want nil", l.Lot, err)
		}
		if !l.Valid && !errors.Is(err, ledger.ErrInvalidLot) {
			t.Errorf("CheckLot(%q) (%s) = %v, want ErrInvalidLot", l.Lot, l.Why, err)
		}
	}
}

func TestCheckDigit(t *testing.T) {
	for _, c := range []struct {
		body string
		want byte
	}{{"0893600000012", '7'}, {"0950600013435", '2'}, {"9638507", '4'}, {"0000000000000", '0'}, {"1234567890123", '1'}} {
		if got := ledger.CheckDigit(c.body); got != c.want {
			t.Errorf("CheckDigit(%q) = %c, want %c", c.body, got, c.want)
		}
	}
}

func TestCheckUnit(t *testing.T) {
	for _, u := range []string{"KGM", "GRM", "LTR", "H87", "XBX", "XJR", "TNE", "MLT"} {
		if err := ledger.CheckUnit(u); err != nil {
			t.Errorf("CheckUnit(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"", "kg", "KG", "kgm", "Kgm", "KGM ", "XXX", "LITRE"} {
		if err := ledger.CheckUnit(u); !errors.Is(err, ledger.ErrInvalidUnit) {
			t.Errorf("CheckUnit(%q) = %v, want ErrInvalidUnit", u, err)
		}
	}
	if got := ledger.UnitSymbol("KGM"); got != "kg" {
		t.Errorf("UnitSymbol(KGM) = %q", got)
	}
	if got := ledger.UnitSymbol("ZZZ"); got != "ZZZ" {
		t.Errorf("UnitSymbol(ZZZ) = %q", got)
	}
}

type scenario struct {
	Admin        string        `json:"admin"`
	Lot          ledger.LotRef `json:"lot"`
	HolderAtEnd  string        `json:"holder_at_end"`
	HistoryTypes []string      `json:"history_types_at_end"`
	Steps        []struct {
		Name      string          `json:"name"`
		Envelope  ledger.Envelope `json:"envelope"`
		Canonical string          `json:"canonical"`
		Expect    int             `json:"expect"`
	} `json:"steps"`
}

func loadScenario(t testing.TB) *scenario {
	t.Helper()
	var s scenario
	readJSON(t, "../testdata/scenario-public.json", &s)
	if len(s.Steps) == 0 {
		t.Fatal("scenario has no steps")
	}
	return &s
}

func TestScenarioCanonical(t *testing.T) {
	s := loadScenario(t)
	for i, st := range s.Steps {
		got, err := ledger.Canonicalize(st.Envelope.Record)
		if err != nil {
			t.Errorf("step %d (%s): %v", i, st.Name, err)
			continue
		}
		if string(got) != st.Canonical {
			t.Errorf("step %d (%s):\n got %s\nwant %s", i, st.Name, got, st.Canonical)
		}
	}
}

func TestScenarioReplay(t *testing.T) {
	s := loadScenario(t)
	l := newLedger(t, common.HexToAddress(s.Admin))
	var firstHarvest ledger.Result
	for i, st := range s.Steps {
		o := l.submitEnv(st.Envelope)
		if o.Status != st.Expect {
			t.Errorf("step %d (%s): status %d (%v), want %d", i, st.Name, o.Status, o.Err, st.Expect)
		}
		if o.Status == 201 && firstHarvest.Hash == ([32]byte{}) {
			var h struct{ Type string }
			json.Unmarshal(st.Envelope.Record, &h)
			if h.Type == ledger.TypeHarvest {
				firstHarvest = o.Result
			}
		}
		if o.Status == 200 && (o.Result.Seq != firstHarvest.Seq || o.Result.Hash != firstHarvest.Hash) {
			t.Errorf("step %d (%s): repeated envelope answered seq %d, want the original %d", i, st.Name, o.Result.Seq, firstHarvest.Seq)
		}
	}
	lot := l.lot(s.Lot)
	if lot.Holder != common.HexToAddress(s.HolderAtEnd).Hex() {
		t.Errorf("holder at end = %s, want %s", lot.Holder, s.HolderAtEnd)
	}
	if lot.Status != ledger.StatusActive {
		t.Errorf("status at end = %s, want active", lot.Status)
	}
	if got := l.lotTypes(s.Lot); !reflect.DeepEqual(got, s.HistoryTypes) {
		t.Errorf("history types = %v, want %v", got, s.HistoryTypes)
	}

	// Replaying the same scenario into a second ledger reaches the same
	// Merkle root: Apply is deterministic.
	l2 := newLedger(t, common.HexToAddress(s.Admin))
	for _, st := range s.Steps {
		l2.submitEnv(st.Envelope)
	}
	if h1, h2 := l.head(), l2.head(); h1 != h2 {
		t.Errorf("two replays differ: %+v vs %+v", h1, h2)
	}
}
