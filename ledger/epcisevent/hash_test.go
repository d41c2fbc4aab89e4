package epcisevent

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHashReference computes the event hash of every event of the GS1
// reference files (testdata/hash, from the epcis-event-hash-generator
// conformance set) and compares it, and its pre-hash string where the
// set gives one, with the reference line by line.
func TestHashReference(t *testing.T) {
	files, err := filepath.Glob("testdata/hash/*.jsonld")
	if err != nil || len(files) == 0 {
		t.Fatalf("no reference files: %v", err)
	}
	for _, f := range files {
		base := strings.TrimSuffix(f, ".jsonld")
		t.Run(filepath.Base(base), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, err := SplitDocument(raw)
			if err != nil {
				t.Fatal(err)
			}
			events := d.Events
			want := readLines(t, base+".hashes")
			pre := readLines(t, base+".prehashes")
			if len(events) != len(want) {
				t.Fatalf("%d events, %d reference hashes", len(events), len(want))
			}
			for i, ev := range events {
				ignore := ignoreFields(t, raw)
				// Some reference pre-hash lines are damaged (they do not hash
				// to their reference hash); those that do must match too.
				if i < len(pre) && niSHA256(pre[i]) == want[i] {
					got, err := PreHash(ev, d.Context, ignore...)
					if err != nil {
						t.Fatalf("event %d: %v", i, err)
					}
					if got != pre[i] {
						t.Errorf("event %d pre-hash:\n got %s\nwant %s", i, got, pre[i])
					}
				}
				h, err := Hash(ev, d.Context, ignore...)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if h != want[i] {
					t.Errorf("event %d: hash %s, want %s", i, h, want[i])
				}
			}
		})
	}
}

func niSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "ni:///sha-256;" + hex.EncodeToString(sum[:]) + "?ver=CBV2.0"
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// ignoreFields returns the members a reference document asks to leave out
// of the hash (a "…:ignoreFields" member of the document or its query
// results, a convention of the reference set, not of the standard).
func ignoreFields(t *testing.T, raw []byte) []string {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	find := func(m map[string]json.RawMessage) []string {
		for k, v := range m {
			if strings.HasSuffix(k, ":ignoreFields") {
				var out []string
				if err := json.Unmarshal(v, &out); err != nil {
					t.Fatal(err)
				}
				return out
			}
		}
		return nil
	}
	if f := find(doc); f != nil {
		return f
	}
	var body struct {
		QR map[string]json.RawMessage `json:"queryResults"`
	}
	_ = json.Unmarshal(doc["epcisBody"], &body)
	return find(body.QR)
}
