package bloom

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

func key(i int) (h1, h2 uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	s := sha256.Sum256(b[:])
	return binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:16]) | 1
}

// TestFilter: every key added is found, across the segments the filter
// grows by, and keys never added mostly are not: the false-positive rate
// stays near the 1 % each segment is sized for.
func TestFilter(t *testing.T) {
	const added, others = 300_000, 100_000
	f := New(1 << 16) // then 2^17, 2^18: three segments
	if f.MayContain(key(0)) {
		t.Error("an empty filter holds a key")
	}
	for i := range added {
		f.Add(key(i))
	}
	if f.Segments() != 3 {
		t.Errorf("%d segments for %d keys, want 3", f.Segments(), added)
	}
	for i := range added {
		if !f.MayContain(key(i)) {
			t.Fatalf("key %d added and not found", i)
		}
	}
	fp := 0
	for i := added; i < added+others; i++ {
		if f.MayContain(key(i)) {
			fp++
		}
	}
	if rate := float64(fp) / others; rate > 0.03 { // three segments, each at most full
		t.Errorf("false-positive rate %.3f", rate)
	}
}

// TestDecode: a filter comes back from its bytes holding the same keys,
// with what follows it; bytes it did not write are refused.
func TestDecode(t *testing.T) {
	f := New(100)
	for i := range 250 { // two segments
		f.Add(key(i))
	}
	b := f.AppendBinary([]byte("head"))
	g, rest, err := Decode(append(b[4:], "tail"...))
	if err != nil || string(rest) != "tail" || g.Segments() != f.Segments() {
		t.Fatalf("Decode: %v, rest %q, %d segments", err, rest, g.Segments())
	}
	for i := range 250 {
		if !g.MayContain(key(i)) {
			t.Fatalf("key %d lost", i)
		}
	}
	if !bytes.Equal(g.AppendBinary(nil), b[4:]) {
		t.Error("the decoded filter encodes differently")
	}
	body := b[4:]
	for name, bad := range map[string][]byte{
		"empty":       nil,
		"no segments": {0, 0, 0, 0},
		"truncated":   body[:len(body)-1],
		"bits not a multiple of 64": func() []byte {
			c := bytes.Clone(body)
			c[4]++
			return c
		}(),
	} {
		if _, _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
