package ledger_test

// Checkpoints: the C2SP tlog-checkpoint text, its signatures as notes,
// cosignature merging, majority trust and forward-only storage.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/traceledger/traceledger/ledger"
)

// nodeKey is a node's checkpoint signing key (a note key).
type nodeKey struct {
	name     string
	signer   note.Signer
	verifier string // the verifier key text a client trusts
}

func newNodeKey(t testing.TB, name string) *nodeKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &nodeKey{name: name, signer: s, verifier: vkey}
}

func newNodeKeys(t testing.TB, n int) []*nodeKey {
	t.Helper()
	var out []*nodeKey
	for i := 0; i < n; i++ {
		out = append(out, newNodeKey(t, fmt.Sprintf("node-%d.traceledger.test", i+1)))
	}
	return out
}

func verifierKeys(ks ...*nodeKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.verifier)
	}
	return out
}

func signCP(t testing.TB, c ledger.Checkpoint, k *nodeKey) []byte {
	t.Helper()
	msg, err := ledger.SignCheckpoint(c, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// cosign returns c signed by every key in ks, merged into one note.
func cosign(t testing.TB, c ledger.Checkpoint, ks ...*nodeKey) []byte {
	t.Helper()
	var notes [][]byte
	for _, k := range ks {
		notes = append(notes, signCP(t, c, k))
	}
	msg, err := ledger.MergeCosignatures(notes...)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// sigLines returns the signature lines of a note, each with its newline.
func sigLines(msg []byte) []string {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	lines := strings.SplitAfter(string(msg[i+2:]), "\n")
	return lines[:len(lines)-1] // after the final newline: ""
}

func testCheckpoint(size uint64) ledger.Checkpoint {
	return ledger.Checkpoint{Origin: "traceledger/4f0c2a9b1e7d3c55", Size: size,
		Root: tlog.Hash(sha256.Sum256([]byte(fmt.Sprint("root ", size))))}
}

func TestCheckpointTextRoundTrip(t *testing.T) {
	for _, size := range []uint64{0, 1, 1234, math.MaxUint64} {
		c := testCheckpoint(size)
		text := ledger.FormatCheckpoint(c)
		want := fmt.Sprintf("%s\n%d\n%s\n", c.Origin, size, base64.StdEncoding.EncodeToString(c.Root[:]))
		if string(text) != want {
			t.Errorf("FormatCheckpoint = %q, want %q", text, want)
		}
		got, err := ledger.ParseCheckpoint(text)
		if err != nil || got != c {
			t.Errorf("ParseCheckpoint(%q) = %+v, %v; want %+v", text, got, err, c)
		}
		// Extension lines after the root are allowed and ignored.
		ext := append(append([]byte(nil), text...), "extension line\nanother\n"...)
		if got, err := ledger.ParseCheckpoint(ext); err != nil || got != c {
			t.Errorf("ParseCheckpoint with extension lines = %+v, %v", got, err)
		}
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	cases := map[string]string{
		"empty":                 "",
		"origin only":           "traceledger/x\n",
		"no root line":          "traceledger/x\n12\n",
		"no final newline":      "traceledger/x\n12\n" + root,
		"empty origin":          "\n12\n" + root + "\n",
		"origin leading space":  " traceledger/x\n12\n" + root + "\n",
		"origin trailing space": "traceledger/x \n12\n" + root + "\n",
		"size 01":               "traceledger/x\n01\n" + root + "\n",
		"size -1":               "traceledger/x\n-1\n" + root + "\n",
		"size +1":               "traceledger/x\n+1\n" + root + "\n",
		"size empty":            "traceledger/x\n\n" + root + "\n",
		"size with space":       "traceledger/x\n12 \n" + root + "\n",
		"size hex":              "traceledger/x\n0x10\n" + root + "\n",
		"size overflow":         "traceledger/x\n18446744073709551616\n" + root + "\n",
		"root not base64":       "traceledger/x\n12\n!!notbase64!!\n",
		"root unpadded":         "traceledger/x\n12\n" + strings.TrimRight(root, "=") + "\n",
		"root url alphabet":     "traceledger/x\n12\n" + strings.Repeat("_", 43) + "=\n",
		"root 31 bytes":         "traceledger/x\n12\n" + short + "\n",
		"root 33 bytes":         "traceledger/x\n12\n" + long + "\n",
		"root empty":            "traceledger/x\n12\n\n",
		"root hex":              "traceledger/x\n12\n" + strings.Repeat("ab", 32) + "\n",
		"lines swapped":         "traceledger/x\n" + root + "\n12\n",
	}
	for name, text := range cases {
		if c, err := ledger.ParseCheckpoint([]byte(text)); !errors.Is(err, ledger.ErrCheckpoint) {
			t.Errorf("%s: ParseCheckpoint(%q) = %+v, %v; want ErrCheckpoint", name, text, c, err)
		}
	}
}

func TestSignAndMergeCosignatures(t *testing.T) {
	ks := newNodeKeys(t, 3)
	c := testCheckpoint(42)
	var notes [][]byte
	for _, k := range ks {
		msg := signCP(t, c, k)
		v, err := note.NewVerifier(k.verifier)
		if err != nil {
			t.Fatal(err)
		}
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			t.Fatalf("note.Open of a checkpoint signed by %s: %v", k.name, err)
		}
		if n.Text != string(ledger.FormatCheckpoint(c)) || len(n.Sigs) != 1 || n.Sigs[0].Name != k.name {
			t.Errorf("signed note %q: text %q, sigs %+v", msg, n.Text, n.Sigs)
		}
		notes = append(notes, msg)
	}

	merged, err := ledger.MergeCosignatures(notes...)
	if err != nil {
		t.Fatal(err)
	}
	var vs []note.Verifier
	for _, k := range ks {
		v, _ := note.NewVerifier(k.verifier)
		vs = append(vs, v)
	}
	n, err := note.Open(merged, note.VerifierList(vs...))
	if err != nil {
		t.Fatalf("note.Open of the merged note: %v\n%s", err, merged)
	}
	if n.Text != string(ledger.FormatCheckpoint(c)) {
		t.Errorf("merged text %q", n.Text)
	}
	var names []string
	for _, s := range n.Sigs {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{ks[0].name, ks[1].name, ks[2].name}; !slices.Equal(names, want) {
		t.Errorf("merged note signed by %v, want %v", names, want)
	}
	if len(n.UnverifiedSigs) != 0 {
		t.Errorf("merged note has unverified signatures %+v", n.UnverifiedSigs)
	}

	// Stable order, and merging is idempotent.
	again, err := ledger.MergeCosignatures(notes[2], notes[0], notes[1])
	if err != nil || !bytes.Equal(again, merged) {
		t.Errorf("merge in another order = %q, %v; want %q", again, err, merged)
	}
	twice, err := ledger.MergeCosignatures(merged, notes[1], merged)
	if err != nil || !bytes.Equal(twice, merged) {
		t.Errorf("merging a merged note again = %q, %v; want %q", twice, err, merged)
	}
	if got := len(sigLines(merged)); got != 3 {
		t.Errorf("merged note has %d signature lines, want 3", got)
	}

	// Notes over different checkpoints never merge.
	other := signCP(t, testCheckpoint(43), ks[1])
	if _, err := ledger.MergeCosignatures(notes[0], other); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Errorf("merging notes over different texts: %v, want ErrCheckpoint", err)
	}
	forked := c
	forked.Root[0] ^= 1
	if _, err := ledger.MergeCosignatures(notes[0], signCP(t, forked, ks[1])); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Errorf("merging notes over different roots: %v, want ErrCheckpoint", err)
	}
	if _, err := ledger.MergeCosignatures(notes[0], []byte("not a note")); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Errorf("merging a malformed note: %v, want ErrCheckpoint", err)
	}
}

// corruptSig flips one bit of the signature bytes (not the key hash) of
// the first signature line of msg.
func corruptSig(t testing.TB, msg []byte) []byte {
	t.Helper()
	lines := sigLines(msg)
	body := strings.TrimSuffix(strings.TrimPrefix(lines[0], "— "), "\n")
	name, b64, _ := strings.Cut(body, " ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 0x01
	lines[0] = "— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
	i := bytes.LastIndex(msg, []byte("\n\n"))
	return append(append([]byte(nil), msg[:i+2]...), strings.Join(lines, "")...)
}

// withSigFrom returns msg's text with the first signature line carrying
// the name and key hash of msg's signer but the signature bytes from other.
func withSigFrom(t testing.TB, msg, other []byte) []byte {
	t.Helper()
	parse := func(line string) (string, []byte) {
		name, b64, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(line, "— "), "\n"), " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		return name, raw
	}
	name, mine := parse(sigLines(msg)[0])
	_, theirs := parse(sigLines(other)[0])
	sig := append(append([]byte(nil), mine[:4]...), theirs[4:]...)
	i := bytes.LastIndex(msg, []byte("\n\n"))
	return append(append([]byte(nil), msg[:i+2]...), "— "+name+" "+base64.StdEncoding.EncodeToString(sig)+"\n"...)
}

func TestOpenCheckpoint(t *testing.T) {
	ks := newNodeKeys(t, 5)
	trusted := verifierKeys(ks[0], ks[1], ks[2])
	c := testCheckpoint(7)

	got, names, err := ledger.OpenCheckpoint(cosign(t, c, ks[0], ks[2]), trusted)
	slices.Sort(names)
	if err != nil || got != c || !slices.Equal(names, []string{ks[0].name, ks[2].name}) {
		t.Errorf("2 of 3: %+v, %v, %v; want %+v signed by %s and %s", got, names, err, c, ks[0].name, ks[2].name)
	}
	if got, names, err := ledger.OpenCheckpoint(cosign(t, c, ks[0], ks[1], ks[2]), trusted); err != nil || got != c || len(names) != 3 {
		t.Errorf("3 of 3: %+v, %v, %v", got, names, err)
	}
	// A signature by a key nobody trusts is ignored, not fatal.
	if _, names, err := ledger.OpenCheckpoint(cosign(t, c, ks[0], ks[1], ks[3]), trusted); err != nil || len(names) != 2 {
		t.Errorf("2 of 3 and an untrusted signature: %v, %v", names, err)
	}

	refused := []struct {
		name    string
		msg     []byte
		trusted []string
	}{
		{"1 of 3", signCP(t, c, ks[1]), trusted},
		{"1 of 3 and untrusted keys", cosign(t, c, ks[1], ks[3], ks[4]), trusted},
		{"2 of 4", cosign(t, c, ks[0], ks[1]), verifierKeys(ks[0], ks[1], ks[2], ks[3])},
		{"untrusted keys only", cosign(t, c, ks[3], ks[4]), trusted},
		{"no trusted keys", cosign(t, c, ks[0], ks[1]), nil},
		{"corrupted signature by a trusted key", corruptSig(t, cosign(t, c, ks[0], ks[1], ks[2])), trusted},
		{"trusted key's line with another key's signature", withSigFrom(t, signCP(t, c, ks[0]), signCP(t, c, ks[3])), verifierKeys(ks[0])},
		{"trusted key's signature over another checkpoint", withSigFrom(t, signCP(t, c, ks[0]), signCP(t, testCheckpoint(8), ks[0])), verifierKeys(ks[0])},
		{"text changed after signing", bytes.Replace(cosign(t, c, ks[0], ks[1], ks[2]), []byte("\n7\n"), []byte("\n8\n"), 1), trusted},
		{"not a note", ledger.FormatCheckpoint(c), trusted},
		{"bad trusted key", cosign(t, c, ks[0], ks[1]), []string{"not a key", ks[0].verifier, ks[1].verifier}},
		{"duplicate trusted key", cosign(t, c, ks[0]), verifierKeys(ks[0], ks[0], ks[1])},
	}
	for _, r := range refused {
		got, _, err := ledger.OpenCheckpoint(r.msg, r.trusted)
		if !errors.Is(err, ledger.ErrCheckpoint) {
			t.Errorf("%s: OpenCheckpoint = %+v, %v; want ErrCheckpoint", r.name, got, err)
		}
		t.Logf("%s: %v", r.name, err)
	}

	// A majority that signed a malformed text is still refused.
	var bad []byte
	for _, k := range ks[:3] {
		n, err := note.Sign(&note.Note{Text: "traceledger/x\n01\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"}, k.signer)
		if err != nil {
			t.Fatal(err)
		}
		if bad == nil {
			bad = n
		} else if bad, err = ledger.MergeCosignatures(bad, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ledger.OpenCheckpoint(bad, trusted); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Errorf("well-signed malformed checkpoint: %v, want ErrCheckpoint", err)
	}
}

func TestPutCheckpointMovesForward(t *testing.T) {
	ks := newNodeKeys(t, 3)
	st := ledger.NewMemStore()
	put := func(msg []byte) error {
		return st.Update(func(w ledger.Writer) error { return ledger.PutCheckpoint(w, msg) })
	}
	latest := func() (ledger.Checkpoint, []byte, bool) {
		var (
			c   ledger.Checkpoint
			msg []byte
			ok  bool
		)
		err := st.View(func(r ledger.Reader) error {
			var err error
			c, msg, ok, err = ledger.LatestCheckpoint(r)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return c, msg, ok
	}
	if _, _, ok := latest(); ok {
		t.Fatal("an empty store has a latest checkpoint")
	}

	m5 := cosign(t, testCheckpoint(5), ks...)
	steps := []struct {
		name string
		msg  []byte
		want []byte
	}{
		{"first", m5, m5},
		{"smaller", cosign(t, testCheckpoint(3), ks...), m5},
		{"same size, other root", cosign(t, ledger.Checkpoint{Origin: "traceledger/4f0c2a9b1e7d3c55", Size: 5}, ks...), m5},
		{"larger", cosign(t, testCheckpoint(9), ks[:2]...), nil},
		{"zero", cosign(t, testCheckpoint(0), ks...), nil},
	}
	steps[3].want, steps[4].want = steps[3].msg, steps[3].msg
	for _, s := range steps {
		if err := put(s.msg); err != nil {
			t.Fatalf("%s: PutCheckpoint: %v", s.name, err)
		}
		c, msg, ok := latest()
		wantCP, _ := ledger.ParseCheckpoint(s.want[:bytes.LastIndex(s.want, []byte("\n\n"))+1])
		if !ok || !bytes.Equal(msg, s.want) || c != wantCP {
			t.Errorf("after %s: latest %+v %q (%v), want %+v", s.name, c, msg, ok, wantCP)
		}
	}
	if err := put([]byte("traceledger/x\n-1\nAAAA\n\n— x y\n")); !errors.Is(err, ledger.ErrCheckpoint) {
		t.Errorf("PutCheckpoint of a malformed note: %v, want ErrCheckpoint", err)
	}
	if _, msg, _ := latest(); !bytes.Equal(msg, steps[3].msg) {
		t.Errorf("a refused checkpoint changed the latest: %q", msg)
	}
}

func TestOrigin(t *testing.T) {
	st := ledger.NewMemStore()
	st.View(func(r ledger.Reader) error {
		if o, err := ledger.Origin(r); err != nil || o != "" {
			t.Errorf("origin of an empty ledger: %q, %v", o, err)
		}
		return nil
	})
	a, b := newLedger(t, newKey(t).addr), newLedger(t, newKey(t).addr)
	var oa, ob string
	a.view(func(r ledger.Reader) (err error) { oa, err = ledger.Origin(r); return err })
	b.view(func(r ledger.Reader) (err error) { ob, err = ledger.Origin(r); return err })
	if !strings.HasPrefix(oa, "traceledger/") || len(oa) != len("traceledger/")+16 || oa == ob {
		t.Errorf("origins %q and %q: want traceledger/ and 16 hex digits, distinct per ledger", oa, ob)
	}
}

// TestPutCheckpointUnsignedText: PutCheckpoint stores cosigned notes. A
// bare checkpoint text (no signature block) must either be refused or be
// readable back; storing it where LatestCheckpoint then reports corrupt
// state would break every later read of the latest checkpoint.
func TestPutCheckpointUnsignedText(t *testing.T) {
	st := ledger.NewMemStore()
	err := st.Update(func(w ledger.Writer) error {
		return ledger.PutCheckpoint(w, ledger.FormatCheckpoint(testCheckpoint(4)))
	})
	if err != nil {
		if !errors.Is(err, ledger.ErrCheckpoint) {
			t.Errorf("PutCheckpoint of an unsigned text: %v, want ErrCheckpoint", err)
		}
		return
	}
	st.View(func(r ledger.Reader) error {
		if _, _, _, err := ledger.LatestCheckpoint(r); err != nil {
			t.Errorf("PutCheckpoint accepted an unsigned text, then LatestCheckpoint: %v", err)
		}
		return nil
	})
}
