package epcisevent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The GS1 canonical event hash (EPCIS 2.0 §8.9.2, CBV 2.0 §8.9): an event
// is written as a pre-hash string, its fields in a fixed order as
// name=value with every value in a canonical form, and hashed with
// SHA-256 into the named-information URI
//
//	ni:///sha-256;<64 hex digits>?ver=CBV2.0
//
// The pre-hash string follows the reference implementation
// (github.com/RalphTro/epcis-event-hash-generator) exactly, since two
// parties agree on an event's id only if they write the very same bytes:
// the JSON event is first read as the XML binding's tree of named
// elements (lists become repeated elements, quantity lists hold
// quantityElement, extension names become {namespace}local), then
// written in propOrder, each list's elements sorted, and whatever the
// order does not name (ILMD, extensions, unknown members) appended
// sorted. recordTime, eventID, errorDeclaration and comments take no part.

// node is one element of the event read as the XML binding's tree: a
// name, a text value and child elements. A pair (the type and value of a
// bizTransaction, source or destination) is a node with pair set and its
// two members as children.
type node struct {
	name     string
	value    string
	children []*node
	pair     bool
}

// order is the order of a node's children in the pre-hash string: each
// named child, with the order of its own children.
type order []orderItem

type orderItem struct {
	name string
	sub  order
	// pair marks the list of (type, value) pairs, which the reference
	// implementation never matches and so writes among the unordered
	// members; it is kept to say so.
	pair bool
}

var quantityOrder = order{{name: "quantityElement", sub: order{{name: "epcClass"}, {name: "quantity"}, {name: "uom"}}}}

// propOrder is the field order of the pre-hash string (EPCIS 2.0 §8.9.2).
var propOrder = order{
	{name: "eventTime"},
	{name: "eventTimeZoneOffset"},
	{name: "certificationInfo"},
	{name: "parentID"},
	{name: "epcList", sub: order{{name: "epc"}}},
	{name: "inputEPCList", sub: order{{name: "epc"}}},
	{name: "childEPCs", sub: order{{name: "epc"}}},
	{name: "quantityList", sub: quantityOrder},
	{name: "childQuantityList", sub: quantityOrder},
	{name: "inputQuantityList", sub: quantityOrder},
	{name: "outputEPCList", sub: order{{name: "epc"}}},
	{name: "outputQuantityList", sub: quantityOrder},
	{name: "action"},
	{name: "transformationID"},
	{name: "bizStep"},
	{name: "disposition"},
	{name: "persistentDisposition", sub: order{{name: "set"}, {name: "unset"}}},
	{name: "readPoint", sub: order{{name: "id"}}},
	{name: "bizLocation", sub: order{{name: "id"}}},
	{name: "bizTransactionList", pair: true},
	{name: "sourceList", pair: true},
	{name: "destinationList", pair: true},
	{name: "sensorElementList", sub: order{{name: "sensorElement", sub: order{
		{name: "sensorMetadata", sub: order{
			{name: "time"}, {name: "startTime"}, {name: "endTime"}, {name: "deviceID"},
			{name: "deviceMetadata"}, {name: "rawData"}, {name: "dataProcessingMethod"}, {name: "bizRules"},
		}},
		{name: "sensorReport", sub: order{
			{name: "type"}, {name: "exception"}, {name: "deviceID"}, {name: "deviceMetadata"},
			{name: "rawData"}, {name: "dataProcessingMethod"}, {name: "time"}, {name: "microorganism"},
			{name: "chemicalSubstance"}, {name: "value"}, {name: "component"}, {name: "stringValue"},
			{name: "booleanValue"}, {name: "hexBinaryValue"}, {name: "uriValue"}, {name: "minValue"},
			{name: "maxValue"}, {name: "meanValue"}, {name: "sDev"}, {name: "percRank"},
			{name: "percValue"}, {name: "uom"}, {name: "coordinateReferenceSystem"},
		}},
	}}}},
}

// hashSuffix is the query string of every event hash: the version of
// the canonicalisation rules.
const hashSuffix = "?ver=CBV2.0"

// Hash returns the canonical event hash of an EPCIS 2.0 event in the
// JSON-LD binding. ctx is the JSON-LD context in force around the event
// (the document's @context, or nil when the event carries its own); it
// maps the compact IRIs of extensions to their namespaces. ignore names
// top-level members left out of the hash besides the standard ones.
func Hash(event json.RawMessage, ctx json.RawMessage, ignore ...string) (string, error) {
	pre, err := PreHash(event, ctx, ignore...)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(pre))
	return "ni:///sha-256;" + hex.EncodeToString(sum[:]) + hashSuffix, nil
}

// PreHash returns the pre-hash string of an event, the input of Hash.
func PreHash(event json.RawMessage, ctx json.RawMessage, ignore ...string) (string, error) {
	v, err := decodeJSON(event)
	if err != nil {
		return "", err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("epcisevent: an event is a JSON object")
	}
	ns := map[string]string{}
	if len(ctx) > 0 {
		c, err := decodeJSON(ctx)
		if err != nil {
			return "", err
		}
		collectNamespaces(c, ns)
	}
	if c, ok := obj["@context"]; ok {
		collectNamespaces(c, ns)
	}
	expandVocabulary(obj)
	skip := append([]string{"@context"}, ignore...)
	root := restructure(toTree(obj, ns, skip))
	var b strings.Builder
	b.WriteString("eventType=")
	b.WriteString(root.name)
	b.WriteString(writeOrdered(&root.children, propOrder))
	var rest []*node
	for _, c := range root.children {
		switch c.name {
		case "recordTime", "eventID", "type", "errorDeclaration":
			continue
		}
		rest = append(rest, c)
	}
	b.WriteString(writeGeneric(rest))
	return b.String(), nil
}

// decodeJSON decodes with numbers kept as written.
func decodeJSON(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("epcisevent: %w", err)
	}
	return v, nil
}

// collectNamespaces records the prefixes an @context declares, as
// "{namespace}" for element names.
func collectNamespaces(ctx any, ns map[string]string) {
	list, ok := ctx.([]any)
	if !ok {
		list = []any{ctx}
	}
	for _, c := range list {
		switch c := c.(type) {
		case string:
			ns[c] = "{" + c + "}"
		case map[string]any:
			for k, v := range c {
				if s, ok := v.(string); ok {
					ns[k] = "{" + s + "}"
				}
			}
		}
	}
}

// expandNS replaces a declared prefix by its namespace: "{ns}local" for a
// name, "nslocal" for a value.
func expandNS(s string, ns map[string]string, value bool) string {
	prefix, local, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	n, ok := ns[prefix]
	if !ok {
		return s
	}
	if value {
		return strings.NewReplacer("{", "", "}", "").Replace(n) + local
	}
	return n + local
}

// toTree reads a JSON value as an element tree.
func toTree(v any, ns map[string]string, skip []string) *node {
	n := &node{}
	switch v := v.(type) {
	case []any:
		for _, c := range v {
			n.children = append(n.children, toTree(c, ns, nil))
		}
		sortNodes(n.children)
	case map[string]any:
		if t, ok := v["type"]; ok {
			n.name = scalarText(t, ns)
		}
		if t, ok := v["#text"]; ok {
			n.value = scalarText(t, ns)
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k == "#text" || k == "rdfs:comment" || k == "comment" || slices.Contains(skip, k) {
				continue
			}
			child := toTree(v[k], ns, nil)
			name := expandNS(k, ns, false)
			if _, isList := v[k].([]any); isList {
				for _, el := range child.children {
					n.children = append(n.children, &node{name: name, value: el.value, children: el.children})
				}
			} else {
				n.children = append(n.children, &node{name: name, value: child.value, children: child.children})
			}
		}
		_, bt := v["bizTransaction"]
		_, src := v["source"]
		_, dst := v["destination"]
		if bt || src || dst {
			// The reference keeps these members in document order; a
			// JSON object has none, so type comes before its value, the
			// order of the standard's examples and of the XML binding.
			slices.SortStableFunc(n.children, func(a, b *node) int {
				return boolInt(a.name != "type") - boolInt(b.name != "type")
			})
		} else {
			sortNodes(n.children)
		}
	default:
		n.value = scalarText(v, ns)
	}
	return n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scalarText is the text of a JSON scalar as the reference implementation
// writes it (Python's str of the decoded value).
func scalarText(v any, ns map[string]string) string {
	switch v := v.(type) {
	case string:
		return expandNS(v, ns, true)
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return string(v)
		}
		return pyFloat(f)
	case bool:
		if v {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return ""
}

// compareNodes orders nodes as Python orders the reference's tuples:
// by name, then value, then children.
func compareNodes(a, b *node) int {
	if c := strings.Compare(a.name, b.name); c != 0 {
		return c
	}
	if c := strings.Compare(a.value, b.value); c != 0 {
		return c
	}
	for i := 0; i < len(a.children) && i < len(b.children); i++ {
		if c := compareNodes(a.children[i], b.children[i]); c != 0 {
			return c
		}
	}
	return len(a.children) - len(b.children)
}

func sortNodes(ns []*node) { slices.SortStableFunc(ns, compareNodes) }

// restructure turns the JSON shapes into the XML binding's: a member
// named "…List" becomes one list element holding its entries (pairs for
// bizTransactionList, sourceList and destinationList), childEPCs one
// element of epc entries, and inputEPC/outputEPC, and quantity entries,
// take their XML names.
func restructure(n *node) *node {
	var kept []*node
	lists := map[string]*node{}
	var listOrder []string
	for _, c := range n.children {
		if strings.HasSuffix(c.name, "List") {
			l, ok := lists[c.name]
			if !ok {
				l = &node{name: c.name}
				lists[c.name] = l
				listOrder = append(listOrder, c.name)
			}
			l.children = append(l.children, &node{name: strings.TrimSuffix(c.name, "List"), value: c.value, children: c.children})
			continue
		}
		kept = append(kept, c)
	}
	for _, name := range listOrder {
		l := lists[name]
		switch name {
		case "sourceList", "destinationList", "bizTransactionList":
			for i, e := range l.children {
				p := &node{pair: true}
				p.children = append(p.children, e.children[:min(2, len(e.children))]...)
				l.children[i] = p
			}
		}
		kept = append(kept, l)
	}
	var epcs []*node
	var rest []*node
	for _, c := range kept {
		if c.name == "childEPCs" {
			epcs = append(epcs, &node{name: "epc", value: c.value})
			continue
		}
		rest = append(rest, c)
	}
	if len(epcs) > 0 {
		rest = append(rest, &node{name: "childEPCs", children: epcs})
	}
	for i, c := range rest {
		switch c.name {
		case "sourceList", "destinationList", "bizTransactionList":
		default:
			rest[i] = restructure(c)
		}
	}
	out := &node{name: n.name, value: n.value, children: rest, pair: n.pair}
	switch {
	case out.name == "inputEPC" || out.name == "outputEPC":
		out.name = "epc"
	case out.name == "inputQuantity" || out.name == "outputQuantity" || out.name == "childQuantity" ||
		(out.name == "quantity" && len(out.children) > 0):
		out.name = "quantityElement"
	}
	return out
}

// isExtension reports whether a name is an extension element's, a
// {namespace/}local name.
func isExtension(n *node) bool {
	return !n.pair && strings.Contains(n.name, "{") && strings.Contains(n.name, "/}")
}

// writeOrdered writes the children named in ord, in that order, each
// name's values sorted, and removes from *list those fully written;
// extension elements of a nested element follow its ordered children.
func writeOrdered(list *[]*node, ord order) string {
	var ext []*node
	if len(*list) > 1 && !slices.ContainsFunc(*list, func(c *node) bool {
		return !c.pair && (strings.Contains(c.name, "eventTime") || strings.Contains(c.name, "action"))
	}) {
		var keep []*node
		for _, c := range *list {
			if isExtension(c) {
				ext = append(ext, c)
			} else {
				keep = append(keep, c)
			}
		}
		*list = keep
	}
	pre := ""
	for _, item := range ord {
		if item.pair {
			// The reference's order entry for these lists never matches
			// a pair: they are written with the unordered members.
			continue
		}
		var values []string
		var keep []*node
		for _, c := range *list {
			if c.pair || c.name != item.name {
				keep = append(keep, c)
				continue
			}
			if s := writeChild(c, item.sub); s != "" {
				values = append(values, s)
			}
			if len(c.children) > 0 {
				keep = append(keep, c)
			}
		}
		*list = keep
		slices.Sort(values)
		pre += strings.Join(values, "")
	}
	if len(ext) > 0 {
		pre += writeGeneric(ext)
	}
	return pre
}

// writeChild writes one ordered element: name=value, then its children.
func writeChild(c *node, sub order) string {
	grand := ""
	if sub != nil {
		grand = writeOrdered(&c.children, sub)
	}
	text := ""
	if c.value != "" {
		text = strings.TrimSpace(c.value)
		lower := strings.ToLower(c.name)
		if strings.Contains(lower, "time") && !strings.Contains(lower, "offset") {
			text = canonicalTime(text)
		} else {
			text = canonicalValue(text)
		}
		if text != "" {
			text = "=" + text
		}
	}
	if text == "" && grand == "" {
		return ""
	}
	return c.name + text + grand
}

// writeGeneric writes elements no order names: name=value and children,
// sorted, except pairs, which keep type before value.
func writeGeneric(children []*node) string {
	var values []string
	for _, c := range children {
		if c.pair {
			values = append(values, writeGeneric(c.children))
			continue
		}
		text := strings.TrimSpace(c.value)
		if text != "" {
			text = "=" + canonicalValue(text)
		}
		values = append(values, c.name+text+writeGeneric(c.children))
	}
	if len(children) > 1 && !slices.ContainsFunc(children, func(c *node) bool {
		return !c.pair && (c.name == "bizTransaction" || c.name == "source" || c.name == "destination")
	}) {
		slices.Sort(values)
	}
	return strings.Join(values, "")
}

// cbvURNs maps the URN forms of CBV 1.x vocabularies to CBV 2.0 web URIs.
var cbvURNs = strings.NewReplacer(
	"urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-",
	"urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-",
	"urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-",
	"urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-",
	"urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-")

// canonicalValue writes a value in its canonical form: CBV web URIs for
// CBV URNs, numbers without redundant digits, GS1 keys as canonical
// Digital Link URIs.
func canonicalValue(s string) string {
	s = cbvURNs.Replace(s)
	s = canonicalNumber(s)
	if dl, ok := CanonicalDL(s); ok {
		return dl
	}
	return s
}

// canonicalNumber writes a decimal number as Python's str(float) does,
// and an integral one as an integer; anything else is returned as is.
func canonicalNumber(s string) string {
	t := strings.ReplaceAll(s, "_", "")
	if t == "" || strings.ContainsAny(t, "xXpPnNiI") || t != s && !pyUnderscores(s) {
		return s
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return s
	}
	if f == math.Trunc(f) {
		i, _ := new(big.Float).SetFloat64(f).Int(nil)
		return i.String()
	}
	return pyFloat(f)
}

// pyUnderscores reports whether the underscores in s stand between digits,
// as Python's float() allows.
func pyUnderscores(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && (i == 0 || i == len(s)-1 || !isDigit(s[i-1]) || !isDigit(s[i+1])) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// pyFloat is Python's repr of a float: the shortest digits that read back
// the same, in positional notation for exponents from -4 to 15, else in
// scientific notation with at least two exponent digits.
func pyFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	exp := 0
	if f != 0 {
		e := strconv.FormatFloat(f, 'e', -1, 64)
		exp, _ = strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	}
	if exp >= -4 && exp < 16 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, ex, _ := strings.Cut(e, "e")
	sign := ex[0]
	digits := strings.TrimLeft(ex[1:], "0")
	if len(digits) < 2 {
		digits = strings.Repeat("0", 2-len(digits)) + digits
	}
	return mant + "e" + string(sign) + digits
}

// canonicalTime writes a time in UTC with milliseconds, rounded half to
// even from the microsecond, and Z. A value that is no RFC 3339 time is
// returned as is.
func canonicalTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	t = t.UTC()
	micro := t.Nanosecond() / 1000
	ms := micro / 1000
	switch rem := micro % 1000; {
	case rem > 500, rem == 500 && ms%2 == 1:
		ms++
	}
	if ms == 1000 {
		// Python's datetime refuses a microsecond of 10⁶: the reference
		// fails; carrying into the next second is the only sane reading.
		t = t.Truncate(time.Second).Add(time.Second)
		ms = 0
	}
	return t.Format("2006-01-02T15:04:05") + fmt.Sprintf(".%03dZ", ms)
}
