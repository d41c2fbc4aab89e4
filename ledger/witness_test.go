package ledger_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/traceledger/traceledger/ledger"
)

// testWitness signs cosignature/v1 (c2sp.org/tlog-cosignature) as a
// witness does.
type testWitness struct {
	name string
	priv ed25519.PrivateKey
	hash uint32
	vkey string
}

func newTestWitness(t testing.TB, name string) *testWitness {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte{0x04}, pub...)
	sum := sha256.Sum256(append([]byte(name+"\n"), key...))
	w := &testWitness{name: name, priv: priv, hash: binary.BigEndian.Uint32(sum[:4])}
	w.vkey = fmt.Sprintf("%s+%08x+%s", name, w.hash, base64.StdEncoding.EncodeToString(key))
	return w
}

func (w *testWitness) Name() string    { return w.name }
func (w *testWitness) KeyHash() uint32 { return w.hash }
func (w *testWitness) Sign(msg []byte) ([]byte, error) {
	const ts = 1_780_000_000
	sig := binary.BigEndian.AppendUint64(nil, ts)
	return append(sig, ed25519.Sign(w.priv, fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", ts, msg))...), nil
}

// witnessCosign adds w's cosignatures to a checkpoint note.
func witnessCosign(t testing.TB, msg []byte, ws ...*testWitness) []byte {
	t.Helper()
	text, _, _ := ledger.SplitNote(msg)
	notes := [][]byte{msg}
	for _, w := range ws {
		n, err := note.Sign(&note.Note{Text: string(text)}, w)
		if err != nil {
			t.Fatal(err)
		}
		notes = append(notes, n)
	}
	out, err := ledger.MergeCosignatures(notes...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWitnessPolicy(t *testing.T) {
	w1, w2, w3, y1 := newTestWitness(t, "x.example/w1"), newTestWitness(t, "x.example/w2"), newTestWitness(t, "x.example/w3"), newTestWitness(t, "y.example/y1")
	nodes := newNodeKeys(t, 1)
	policy := fmt.Sprintf(`# two of the X witnesses and the Y one
log %s
witness X1 %s https://x.example/w1/
witness X2 %s
	witness X3 %s
witness Y1 %s
group X 2 X1 X2 X3
group XY all X Y1
quorum XY
`, nodes[0].verifier, w1.vkey, w2.vkey, w3.vkey, y1.vkey)
	p, err := ledger.ParseWitnessPolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Witnesses) != 4 || p.Witnesses[0].URL != "https://x.example/w1" || p.Quorum() != "XY" {
		t.Fatalf("parsed %+v", p)
	}
	cp := ledger.Checkpoint{Origin: "traceledger/0011223344556677", Size: 5}
	msg := cosign(t, cp, nodes...)
	for _, c := range []struct {
		name string
		ws   []*testWitness
		ok   bool
	}{
		{"none", nil, false},
		{"two X, no Y", []*testWitness{w1, w2}, false},
		{"one X and Y", []*testWitness{w1, y1}, false},
		{"two X and Y", []*testWitness{w1, w3, y1}, true},
		{"all", []*testWitness{w1, w2, w3, y1}, true},
	} {
		names, err := p.CheckQuorum(witnessCosign(t, msg, c.ws...))
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ledger.ErrWitnessQuorum)) || len(names) != len(c.ws) {
			t.Errorf("%s: cosigners %v, err %v; want ok=%v", c.name, names, err, c.ok)
		}
	}
	// A cosignature that claims a witness's key but does not verify.
	forged := witnessCosign(t, msg, w1, w2, y1)
	text, sigs, _ := ledger.SplitNote(forged)
	other := witnessCosign(t, cosign(t, ledger.Checkpoint{Origin: cp.Origin, Size: 6}, nodes...), y1)
	_, osigs, _ := ledger.SplitNote(other)
	var ylines []string
	for _, l := range strings.SplitAfter(string(osigs), "\n") {
		if strings.HasPrefix(l, "— y.example/y1 ") {
			ylines = append(ylines, l)
		}
	}
	var kept []string
	for _, l := range strings.SplitAfter(string(sigs), "\n") {
		if l != "" && !strings.HasPrefix(l, "— y.example/y1 ") {
			kept = append(kept, l)
		}
	}
	bad := append(append([]byte{}, text...), '\n')
	bad = append(bad, strings.Join(append(kept, ylines...), "")...)
	if _, err := p.CheckQuorum(bad); err == nil {
		t.Error("a cosignature of another checkpoint is accepted")
	}
	// "quorum none" needs nothing.
	if none, err := ledger.ParseWitnessPolicy([]byte("quorum none\n")); err != nil {
		t.Error(err)
	} else if _, err := none.CheckQuorum(msg); err != nil {
		t.Errorf("quorum none: %v", err)
	}

	for name, bad := range map[string]string{
		"no quorum":              "witness X1 " + w1.vkey + "\n",
		"two quorums":            "quorum none\nquorum none\n",
		"undefined quorum":       "quorum X1\n",
		"member used before":     "group G any X1\nwitness X1 " + w1.vkey + "\nquorum G\n",
		"member twice":           "witness X1 " + w1.vkey + "\ngroup G 1 X1 X1\nquorum G\n",
		"threshold too high":     "witness X1 " + w1.vkey + "\ngroup G 2 X1\nquorum G\n",
		"threshold zero":         "witness X1 " + w1.vkey + "\ngroup G 0 X1\nquorum G\n",
		"name twice":             "witness X1 " + w1.vkey + "\nwitness X1 " + w2.vkey + "\nquorum X1\n",
		"key twice":              "witness X1 " + w1.vkey + "\nwitness X2 " + w1.vkey + "\nquorum X1\n",
		"node key as a witness":  "witness X1 " + nodes[0].verifier + "\nquorum X1\n",
		"wrong key hash":         "witness X1 " + strings.Replace(w1.vkey, fmt.Sprintf("+%08x+", w1.hash), "+00000000+", 1) + "\nquorum X1\n",
		"unknown keyword":        "witnesses X1 " + w1.vkey + "\nquorum none\n",
		"control character":      "quorum none\r\n",
		"none as a group member": "group G any none\nquorum G\n",
	} {
		if _, err := ledger.ParseWitnessPolicy([]byte(bad)); !errors.Is(err, ledger.ErrWitnessPolicy) {
			t.Errorf("%s: err %v, want ErrWitnessPolicy", name, err)
		}
	}
}

// TestPutCheckpointWitnessCosignatures: cosignatures over a stored
// checkpoint are merged into it and make it the witnessed checkpoint;
// a different note of the same size changes nothing.
func TestPutCheckpointWitnessCosignatures(t *testing.T) {
	st := ledger.NewMemStore()
	nodes := newNodeKeys(t, 3)
	w := newTestWitness(t, "x.example/w1")
	cp5 := ledger.Checkpoint{Origin: "traceledger/0011223344556677", Size: 5}
	cp6 := ledger.Checkpoint{Origin: cp5.Origin, Size: 6}
	m5, m6 := cosign(t, cp5, nodes...), cosign(t, cp6, nodes...)
	put := func(msg []byte) {
		t.Helper()
		if err := st.Update(func(wr ledger.Writer) error { return ledger.PutCheckpoint(wr, msg) }); err != nil {
			t.Fatal(err)
		}
	}
	put(m5)
	put(m6)
	put(witnessCosign(t, m5, w)) // older than the latest: merged into c/5 only
	var latest, witnessed []byte
	var wc ledger.Checkpoint
	view := func() {
		t.Helper()
		st.View(func(r ledger.Reader) (err error) {
			_, latest, _, err = ledger.LatestCheckpoint(r)
			if err != nil {
				return err
			}
			wc, witnessed, _, err = ledger.WitnessedCheckpoint(r)
			return err
		})
	}
	view()
	if string(latest) != string(m6) || wc.Size != 5 || !strings.Contains(string(witnessed), "— x.example/w1 ") {
		t.Fatalf("after cosigning 5: latest %q, witnessed %d %q", latest, wc.Size, witnessed)
	}
	put(witnessCosign(t, m6, w))
	view()
	if !strings.Contains(string(latest), "— x.example/w1 ") || wc.Size != 6 {
		t.Fatalf("after cosigning 6: latest %q, witnessed %d", latest, wc.Size)
	}
	// Another text at size 6 (another root) is ignored.
	fork := cp6
	fork.Root[0] = 1
	put(witnessCosign(t, cosign(t, fork, nodes...), w))
	view()
	if c, err := ledger.ParseCheckpoint(latest[:strings.Index(string(latest), "\n\n")+1]); err != nil || c != cp6 || wc.Size != 6 {
		t.Fatalf("a fork at size 6 changed the stored checkpoint: %+v %v", c, err)
	}
}

// FuzzParseWitnessPolicy: any input parses or is refused with
// ErrWitnessPolicy, and a parsed policy evaluates a note without panic.
func FuzzParseWitnessPolicy(f *testing.F) {
	w := newTestWitness(f, "x.example/w1")
	f.Add([]byte("witness w1 " + w.vkey + " https://x.example/w1\ngroup g any w1\nquorum g\n"))
	f.Add([]byte("quorum none\n"))
	f.Add([]byte("# comment\n\tlog x+00000000+AAAA\nquorum none"))
	msg := witnessCosign(f, cosign(f, ledger.Checkpoint{Origin: "o", Size: 1}, newNodeKeys(f, 1)...), w)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ledger.ParseWitnessPolicy(data)
		if err != nil {
			if !errors.Is(err, ledger.ErrWitnessPolicy) {
				t.Fatalf("error outside ErrWitnessPolicy: %v", err)
			}
			return
		}
		if p.Quorum() == "" {
			t.Fatal("a parsed policy without a quorum")
		}
		p.CheckQuorum(msg)
	})
}

// FuzzParseCheckpoint: any text parses or is refused with ErrCheckpoint,
// and what parses formats back to text that parses to the same.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("traceledger/0011223344556677\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nlot-heads AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ledger.ParseCheckpoint(text)
		if err != nil {
			if !errors.Is(err, ledger.ErrCheckpoint) {
				t.Fatalf("error outside ErrCheckpoint: %v", err)
			}
			return
		}
		again, err := ledger.ParseCheckpoint(ledger.FormatCheckpoint(c))
		if err != nil || again != c {
			t.Fatalf("%+v formats to text that parses to %+v, %v", c, again, err)
		}
	})
}
