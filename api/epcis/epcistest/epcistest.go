// Package epcistest checks EPCIS 2.0 documents for tests: against the
// GS1 EPCIS 2.0 JSON Schema (EPCIS-JSON-Schema.json, draft-07, compiled
// into package epcisevent) and against the terms of the EPCIS 2.0 JSON-LD
// context (epcis-context.jsonld, as published in the GS1 EPCIS repository
// and kept in testdata/epcis).
package epcistest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/traceledger/traceledger/ledger/epcisevent"
)

// Checker validates EPCIS 2.0 JSON-LD documents.
type Checker struct {
	terms map[string]bool
}

// Load reads epcis-context.jsonld from dir.
func Load(dir string) (*Checker, error) {
	ctxPath := filepath.Join(dir, "epcis-context.jsonld")
	raw, err := os.ReadFile(ctxPath)
	if err != nil {
		return nil, fmt.Errorf("epcistest: %w", err)
	}
	var ctx any
	if err := json.Unmarshal(raw, &ctx); err != nil {
		return nil, fmt.Errorf("epcistest: %s: %w", ctxPath, err)
	}
	terms := map[string]bool{}
	collectTerms(ctx, terms)
	return &Checker{terms: terms}, nil
}

// Validate checks a document against the EPCIS 2.0 JSON Schema, compiled
// into package epcisevent with its documented errata: the schema the
// ledger admits events by.
func (c *Checker) Validate(doc []byte) error {
	if err := epcisevent.ValidateSchema(doc); err != nil {
		return fmt.Errorf("epcistest: schema: %w", err)
	}
	return nil
}

// CheckTerms checks that every key of the document, outside @context, is
// a keyword, a term of the EPCIS 2.0 context, or a compact IRI whose prefix
// an @context in force there declares (the document's, or an event's own): a JSON-LD processor then drops
// nothing.
func (c *Checker) CheckTerms(doc []byte) error {
	var v map[string]any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("epcistest: %w", err)
	}
	var bad []string
	// declared adds the prefixes an object's own @context declares to
	// those in force around it (JSON-LD: contexts nest).
	declared := func(x map[string]any, outer map[string]bool) map[string]bool {
		list, ok := x["@context"].([]any)
		if !ok {
			return outer
		}
		inner := map[string]bool{}
		for k := range outer {
			inner[k] = true
		}
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				for k := range m {
					inner[k] = true
				}
			}
		}
		return inner
	}
	var walk func(path string, x any, prefixes map[string]bool)
	walk = func(path string, x any, prefixes map[string]bool) {
		switch x := x.(type) {
		case map[string]any:
			prefixes = declared(x, prefixes)
			for k, val := range x {
				if k == "@context" {
					continue
				}
				p, _, compact := strings.Cut(k, ":")
				if !strings.HasPrefix(k, "@") && !c.terms[k] && !(compact && prefixes[p]) {
					bad = append(bad, path+"/"+k)
				}
				walk(path+"/"+k, val, prefixes)
			}
		case []any:
			for i, val := range x {
				walk(fmt.Sprintf("%s/%d", path, i), val, prefixes)
			}
		}
	}
	walk("", v, nil)
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("epcistest: keys that are neither EPCIS terms nor declared extensions: %s", strings.Join(bad, ", "))
	}
	return nil
}

// collectTerms gathers the terms every (nested or scoped) context defines.
func collectTerms(x any, terms map[string]bool) {
	switch x := x.(type) {
	case map[string]any:
		ctxs := []any{x["@context"]}
		if list, ok := x["@context"].([]any); ok {
			ctxs = list
		}
		for _, c := range ctxs {
			if ctx, ok := c.(map[string]any); ok {
				for k := range ctx {
					if !strings.HasPrefix(k, "@") {
						terms[k] = true
					}
				}
			}
		}
		for _, v := range x {
			collectTerms(v, terms)
		}
	case []any:
		for _, v := range x {
			collectTerms(v, terms)
		}
	}
}
