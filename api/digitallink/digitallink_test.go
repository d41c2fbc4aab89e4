package digitallink

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type vector struct {
	URI    string `json:"uri"`
	GTIN   string `json:"gtin"`
	Lot    string `json:"lot"`
	Serial string `json:"serial"`
	Expiry string `json:"expiry"`
	Error  string `json:"error"`
	Note   string `json:"note"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "gs1-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		DigitalLinks []vector `json:"digital_links"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.DigitalLinks) == 0 {
		t.Fatal("no digital_links vectors")
	}
	return file.DigitalLinks
}

// wantSentinel maps the vectors' human "error" text to the sentinel the
// parser must return for it.
func wantSentinel(why string) error {
	switch {
	case strings.Contains(why, "check digit"), strings.Contains(why, "GTIN"):
		return ErrGTIN
	case strings.Contains(why, "order"):
		return ErrOrder
	case strings.Contains(why, "primary key"):
		return ErrNoPrimaryKey
	case strings.Contains(why, "lot"):
		return ErrLot
	case strings.Contains(why, "serial"):
		return ErrSerial
	}
	return nil
}

func TestConformanceVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.URI, func(t *testing.T) {
			l, err := Parse(v.URI)
			if v.Error != "" {
				if err == nil {
					t.Fatalf("Parse succeeded (%+v), want an error: %s", l, v.Error)
				}
				if want := wantSentinel(v.Error); want != nil && !errors.Is(err, want) {
					t.Fatalf("error %v, want errors.Is %v (%s)", err, want, v.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v (%s)", err, v.Note)
			}
			if l.GTIN != v.GTIN || l.Lot != v.Lot || l.Serial != v.Serial {
				t.Fatalf("got gtin %q lot %q serial %q, want %q %q %q", l.GTIN, l.Lot, l.Serial, v.GTIN, v.Lot, v.Serial)
			}
			if exp, _ := l.Attr(AIExpiry); exp != v.Expiry {
				t.Fatalf("expiry %q, want %q", exp, v.Expiry)
			}
		})
	}
}

func TestParseDetails(t *testing.T) {
	l, err := Parse("https://Example.ORG/prefix/01/9506000134352/22/V1/10/VT-2026%2F0001/21/S%2101?17=261231&linkType=gs1:pip&lang=en")
	if err != nil {
		t.Fatal(err)
	}
	if l.Base != "https://example.org" || l.Prefix != "/prefix" {
		t.Errorf("base %q prefix %q", l.Base, l.Prefix)
	}
	if l.Canonical() {
		t.Error("a GTIN-13 with a prefix is not canonical")
	}
	if l.GTINWritten != "9506000134352" || l.GTIN != "09506000134352" {
		t.Errorf("gtin %q written %q", l.GTIN, l.GTINWritten)
	}
	if l.Variant != "V1" || l.Lot != "VT-2026/0001" || l.Serial != "S!01" {
		t.Errorf("qualifiers %q %q %q", l.Variant, l.Lot, l.Serial)
	}
	if got := l.Params.Get("linkType"); got != "gs1:pip" {
		t.Errorf("linkType %q", got)
	}
	if got := l.Path(); got != "/01/09506000134352/22/V1/10/VT-2026%2F0001/21/S%2101" {
		t.Errorf("Path %q", got)
	}
	// The canonical path parses back to the same identifiers.
	again, err := ParsePath(l.Path(), "")
	if err != nil || again.Lot != l.Lot || again.Serial != l.Serial || !again.Canonical() {
		t.Errorf("round trip: %+v, %v", again, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		uri  string
		want error
	}{
		{"ftp://example.org/01/09506000134352", ErrSyntax},
		{"/01/09506000134352", ErrSyntax},
		{"https://example.org/01/09506000134352/10/", ErrSyntax},
		{"https://example.org/01/09506000134352/10/A/", ErrSyntax},
		{"https://example.org/01/09506000134352/99/A", ErrSyntax},
		{"https://example.org/01/0950600013435X/10/A", ErrGTIN},
		{"https://example.org/01/123/10/A", ErrGTIN},
		{"https://example.org/", ErrNoPrimaryKey},
		{"https://example.org/21/1", ErrNoPrimaryKey},
		{"https://example.org/01/09506000134352/10/A/10/B", ErrOrder},
		{"https://example.org/01/09506000134352/10/A/22/B", ErrOrder},
		{"https://example.org/01/09506000134352/10/A%20B", ErrLot},
		{"https://example.org/01/09506000134352/10/A/21/" + strings.Repeat("9", 21), ErrSerial},
		{"https://example.org/01/09506000134352/10/A?17=261331", ErrAttribute},
		{"https://example.org/01/09506000134352/10/A?17=2612", ErrAttribute},
		{"https://example.org/01/09506000134352?10=A", ErrAttribute},
	} {
		if _, err := Parse(c.uri); !errors.Is(err, c.want) {
			t.Errorf("Parse(%q) = %v, want %v", c.uri, err, c.want)
		}
	}
}

func TestEscapeValue(t *testing.T) {
	for in, want := range map[string]string{
		"LN2606A":        "LN2606A",
		"VT-2026/0001":   "VT-2026%2F0001",
		"a_%&'()*+,-./:": "a_%25%26%27%28%29%2A%2B%2C-.%2F%3A",
		"..":             "%2E%2E",
		"x.y":            "x.y",
	} {
		if got := EscapeValue(in); got != want {
			t.Errorf("EscapeValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"https://example.org/01/09506000134352/10/LN2606A/21/0001?17=261231",
		"https://example.org/p/01/9506000134352/10/VT%2F1",
		"http://x/01/96385074",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		l, err := Parse(uri)
		if err != nil {
			return
		}
		// Whatever parses re-formats to a canonical path that parses to
		// the same identifiers.
		again, err := ParsePath(l.Path(), "")
		if err != nil {
			t.Fatalf("canonical path %q of %q does not parse: %v", l.Path(), uri, err)
		}
		if again.GTIN != l.GTIN || again.Lot != l.Lot || again.Serial != l.Serial || again.Variant != l.Variant {
			t.Fatalf("round trip of %q: %+v vs %+v", uri, again, l)
		}
	})
}
