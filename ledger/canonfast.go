package ledger

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// isCanonical reports whether raw is certainly already in RFC 8785 form,
// without building the canonical form: every node checks every logged
// record, and records are nearly always canonical already (admission
// stores nothing else; wallets and the CLI sign canonical bytes). It is
// conservative: false means "not sure", and the caller canonicalises to
// decide. It says true only for a single JSON value with no white space
// outside strings, strings without escapes or control characters, object
// members in strictly ascending order of ASCII names (for ASCII the UTF-16
// order of §3.2.3 is the byte order), numbers exactly as ECMAScript prints
// them (§3.2.2.3), and nesting within MaxDepth.
func isCanonical(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	c := canonChecker{b: raw}
	return c.value(0) && c.i == len(raw)
}

type canonChecker struct {
	b []byte
	i int
}

// value checks the value at c.i; depth is how many arrays and objects
// enclose it.
func (c *canonChecker) value(depth int) bool {
	if c.i >= len(c.b) {
		return false
	}
	if (c.b[c.i] == '{' || c.b[c.i] == '[') && depth+1 > MaxDepth {
		return false
	}
	switch c.b[c.i] {
	case '"':
		_, ok := c.str()
		return ok
	case '{':
		c.i++
		if c.i < len(c.b) && c.b[c.i] == '}' {
			c.i++
			return true
		}
		var prev []byte
		for first := true; ; first = false {
			if c.i >= len(c.b) || c.b[c.i] != '"' {
				return false
			}
			k, ok := c.str()
			if !ok || (!first && bytes.Compare(prev, k) >= 0) {
				return false
			}
			for _, ch := range k {
				if ch >= utf8.RuneSelf {
					return false // UTF-16 order differs from byte order beyond ASCII
				}
			}
			prev = k
			if c.i >= len(c.b) || c.b[c.i] != ':' {
				return false
			}
			c.i++
			if !c.value(depth + 1) {
				return false
			}
			if c.i >= len(c.b) {
				return false
			}
			switch c.b[c.i] {
			case ',':
				c.i++
			case '}':
				c.i++
				return true
			default:
				return false
			}
		}
	case '[':
		c.i++
		if c.i < len(c.b) && c.b[c.i] == ']' {
			c.i++
			return true
		}
		for {
			if !c.value(depth + 1) {
				return false
			}
			if c.i >= len(c.b) {
				return false
			}
			switch c.b[c.i] {
			case ',':
				c.i++
			case ']':
				c.i++
				return true
			default:
				return false
			}
		}
	case 't':
		return c.lit("true")
	case 'f':
		return c.lit("false")
	case 'n':
		return c.lit("null")
	}
	return c.number()
}

// str reads a string with no escapes and no control characters and
// returns its contents.
func (c *canonChecker) str() ([]byte, bool) {
	start := c.i + 1
	for j := start; j < len(c.b); j++ {
		switch ch := c.b[j]; {
		case ch == '"':
			c.i = j + 1
			return c.b[start:j], true
		case ch == '\\' || ch < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (c *canonChecker) lit(s string) bool {
	if !bytes.HasPrefix(c.b[c.i:], []byte(s)) {
		return false
	}
	c.i += len(s)
	return true
}

// number accepts a number token only if ECMAScript prints its value the
// same way.
func (c *canonChecker) number() bool {
	start := c.i
	for c.i < len(c.b) {
		ch := c.b[c.i]
		if (ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' || ch == 'e' || ch == 'E' {
			c.i++
			continue
		}
		break
	}
	tok := string(c.b[start:c.i])
	if tok == "" || (tok[0] != '-' && (tok[0] < '0' || tok[0] > '9')) {
		return false
	}
	f, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		return false
	}
	es, err := jcs.NumberToJSON(f)
	return err == nil && es == tok
}
