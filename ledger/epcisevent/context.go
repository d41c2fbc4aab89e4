package epcisevent

import (
	_ "embed"
	"encoding/json"
	"strings"
	"sync"
)

// contextJSON is the normative EPCIS 2.0 JSON-LD context
// (https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld), as
// published in the GS1 EPCIS repository.
//
//go:embed epcis-context.jsonld
var contextJSON []byte

// ContextURL is the URL of the EPCIS 2.0 JSON-LD context.
const ContextURL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

// vocabularies maps the path of every member whose values the context
// types "@vocab" (bizStep, disposition, bizTransactionList/type,
// sensorElementList/sensorReport/type …) to the terms it defines for
// them: the bare CBV and GS1 words and the IRIs they stand for.
type vocabularies map[string]map[string]string

// loadVocabularies reads the context once; it is immutable afterwards.
var loadVocabularies = sync.OnceValue(func() vocabularies {
	var doc struct {
		Context map[string]any `json:"@context"`
	}
	if err := json.Unmarshal(contextJSON, &doc); err != nil {
		panic("epcisevent: embedded EPCIS context: " + err.Error()) // a build defect, caught by every test
	}
	prefixes := map[string]string{}
	for k, v := range doc.Context {
		if s, ok := v.(string); ok && (strings.HasSuffix(s, "/") || strings.HasSuffix(s, ":")) {
			prefixes[k] = s
		}
	}
	expand := func(s string) string {
		if p, local, ok := strings.Cut(s, ":"); ok {
			if iri, ok := prefixes[p]; ok {
				return iri + local
			}
		}
		return s
	}
	out := vocabularies{}
	var walk func(path string, defs map[string]any, inherited map[string]string)
	walk = func(path string, defs map[string]any, inherited map[string]string) {
		for term, def := range defs {
			d, ok := def.(map[string]any)
			if !ok {
				continue
			}
			terms := map[string]string{}
			for k, v := range inherited {
				terms[k] = v
			}
			var nested []map[string]any
			switch c := d["@context"].(type) {
			case map[string]any:
				nested = append(nested, c)
			case []any:
				for _, e := range c {
					if m, ok := e.(map[string]any); ok {
						nested = append(nested, m)
					}
				}
			}
			for _, c := range nested {
				for k, v := range c {
					if s, ok := v.(string); ok && !strings.HasPrefix(k, "@") && strings.Contains(s, ":") &&
						!strings.HasSuffix(s, "/") {
						terms[k] = expand(s)
					}
				}
			}
			p := term
			if path != "" {
				p = path + "/" + term
			}
			if d["@type"] == "@vocab" {
				out[p] = terms
			}
			for _, c := range nested {
				walk(p, c, terms)
			}
		}
	}
	walk("", doc.Context, nil)
	return out
})

// vocabulary returns the terms of the member at path, or nil.
func vocabulary(path string) map[string]string { return loadVocabularies()[path] }

// expandVocabulary replaces, in place, every bare CBV or GS1 word in a
// member the context types "@vocab" by the IRI it stands for, as JSON-LD
// expansion does: "shipping" in bizStep is
// https://ref.gs1.org/cbv/BizStep-shipping.
func expandVocabulary(event map[string]any) { expandAt("", event) }

func expandAt(path string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			p := k
			if path != "" {
				p = path + "/" + k
			}
			v[k] = expandAt(p, c)
		}
		return v
	case []any:
		for i, c := range v {
			v[i] = expandAt(path, c)
		}
		return v
	case string:
		if iri, ok := vocabulary(path)[v]; ok {
			return iri
		}
		return v
	}
	return v
}
