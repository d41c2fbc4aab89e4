package epcisevent

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaJSON is the GS1 EPCIS 2.0 JSON Schema (draft-07), as published in
// the GS1 EPCIS repository (https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json).
// Its root validates an EPCISDocument, an EPCISQueryDocument, or one event
// that carries its own @context.
//
//go:embed EPCIS-JSON-Schema.json
var schemaJSON []byte

const schemaURL = "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"

// ErrInvalid is the error of every event or document that is not valid
// EPCIS 2.0; a *FieldError wraps it with the member at fault.
var ErrInvalid = errors.New("not valid EPCIS 2.0")

// FieldError names the member of an event or document that breaks a rule
// of the schema or of the CBV, as a JSON pointer ("/bizStep",
// "/quantityList/0/quantity"; "" for the event itself).
type FieldError struct {
	Pointer string
	Reason  string
}

func (e *FieldError) Error() string {
	at := e.Pointer
	if at == "" {
		at = "the event"
	}
	return fmt.Sprintf("%s: %s", at, e.Reason)
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

// compileSchema compiles the schema once; the compiled schema is
// immutable and safe for concurrent use.
var compileSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("epcisevent: embedded schema: %w", err)
	}
	if err := applyErrata(doc); err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	// The schema's patterns are ECMA-262 regular expressions, as JSON
	// Schema specifies; one uses a lookahead that Go's regexp lacks.
	c.UseRegexpEngine(ecmaRegexp)
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("epcisevent: add schema: %w", err)
	}
	return c.Compile(schemaURL)
})

// ValidateSchema checks a JSON document or event against the EPCIS 2.0
// JSON Schema. A violation is a *FieldError naming the deepest member at
// fault.
func ValidateSchema(raw []byte) error {
	sch, err := compileSchema()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return &FieldError{Reason: "not JSON: " + err.Error()}
	}
	err = sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return deepest(ve)
	}
	return err
}

// deepest turns a schema verdict into the error a client can act on: the
// failure deepest in the instance, since the schema's if/then and anyOf
// branches report every alternative they tried at the outer levels.
func deepest(ve *jsonschema.ValidationError) *FieldError {
	var best *jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			if best == nil || len(e.InstanceLocation) > len(best.InstanceLocation) {
				best = e
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	ptr := ""
	for _, s := range best.InstanceLocation {
		ptr += "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
	}
	if req, ok := best.ErrorKind.(*kind.Required); ok && len(req.Missing) > 0 {
		return &FieldError{Pointer: ptr + "/" + req.Missing[0], Reason: "missing, and required here"}
	}
	return &FieldError{Pointer: ptr, Reason: best.ErrorKind.LocalizedString(message.NewPrinter(language.English))}
}

// applyErrata relaxes three places where the 2.0.0 schema is stricter
// than the EPCIS 2.0 standard it encodes, and than the events partners'
// systems emit (the OpenEPCIS conformance documents among them):
//
//   - persistentDisposition: EPCIS 2.0 §7.4 gives it to every event type;
//     the schema lists it for ObjectEvent and TransformationEvent only.
//   - sensorReport.type: optional in the standard (§7.3.7.4: a report may
//     carry only an exception or a value of another kind); the schema
//     requires it.
//   - sensorReport.type values: besides the GS1 terms and URIs, a bare
//     word outside the GS1 list (a JSON-LD processor reads it as a
//     relative IRI) is kept as written rather than refused.
//
// Everything else is the schema as published.
func applyErrata(doc any) error {
	root, _ := doc.(map[string]any)
	defs, _ := root["definitions"].(map[string]any)
	if defs == nil {
		return fmt.Errorf("epcisevent: embedded schema has no definitions")
	}
	for _, name := range []string{"AggregationEvent", "TransactionEvent", "AssociationEvent"} {
		ev, _ := defs[name].(map[string]any)
		all, _ := ev["allOf"].([]any)
		patched := false
		for _, part := range all {
			p, _ := part.(map[string]any)
			props, _ := p["properties"].(map[string]any)
			names, _ := p["propertyNames"].(map[string]any)
			anyOf, _ := names["anyOf"].([]any)
			if props == nil || len(anyOf) != 2 {
				continue
			}
			enum, _ := anyOf[1].(map[string]any)
			list, _ := enum["enum"].([]any)
			props["persistentDisposition"] = map[string]any{"$ref": "#/definitions/persistentDisposition"}
			enum["enum"] = append(list, "persistentDisposition")
			patched = true
		}
		if !patched {
			return fmt.Errorf("epcisevent: embedded schema: %s has no property list to amend", name)
		}
	}
	report, _ := defs["sensorReport"].(map[string]any)
	mt, _ := defs["measurementType"].(map[string]any)
	alts, _ := mt["anyOf"].([]any)
	if report == nil || alts == nil {
		return fmt.Errorf("epcisevent: embedded schema: no sensorReport or measurementType")
	}
	delete(report, "required")
	mt["anyOf"] = append(alts, map[string]any{"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"})
	return nil
}

// cbvURIs are the URI forms of CBV terms, web and URN, per field.
var cbvURIs = map[string][]string{
	"bizStep":     {"https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:"},
	"disposition": {"https://ref.gs1.org/cbv/Disp-", "urn:epcglobal:cbv:disp:"},
}

// checkCBV applies the CBV 2.0 rule for bizStep and disposition (CBV 2.0
// §7.1, §7.2): the value is a CBV term, or a URI; a URI in the CBV's own
// space (https://ref.gs1.org/cbv/… or urn:epcglobal:cbv:…) must name a
// term the CBV defines. The schema checks bare words and URI syntax.
func checkCBV(field, value string) error {
	terms := vocabulary(field)
	if _, ok := terms[value]; ok {
		return nil
	}
	for _, prefix := range cbvURIs[field] {
		if term, ok := strings.CutPrefix(value, prefix); ok {
			if _, known := terms[term]; !known {
				return &FieldError{Pointer: "/" + field, Reason: fmt.Sprintf("%q is not a CBV 2.0 %s", value, field)}
			}
			return nil
		}
	}
	if !strings.Contains(value, ":") {
		return &FieldError{Pointer: "/" + field, Reason: fmt.Sprintf("%q is neither a CBV 2.0 %s nor a URI", value, field)}
	}
	return nil
}

// knownEventTypes are the five event types of EPCIS 2.0 §7.4.
var knownEventTypes = []string{"ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent"}

// IsEventType reports whether t names an EPCIS 2.0 event type.
func IsEventType(t string) bool { return slices.Contains(knownEventTypes, t) }

type ecma regexp2.Regexp

func (re *ecma) MatchString(s string) bool {
	ok, err := (*regexp2.Regexp)(re).MatchString(s)
	return err == nil && ok
}

func (re *ecma) String() string { return (*regexp2.Regexp)(re).String() }

func ecmaRegexp(s string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(s, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return (*ecma)(re), nil
}
