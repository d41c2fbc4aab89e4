package ledger_test

import (
	"strings"
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

func TestIsCanonical(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"a":1,"b":[true,false,null],"c":"Vải thiều"}`, true},
		{`{"amount":12.5,"unit":"KGM"}`, true},
		{`42`, true},
		{`{"b":1,"a":2}`, false},    // order
		{`{"a":1,"a":2}`, false},    // duplicate
		{`{"a": 1}`, false},         // white space
		{`{"a":"x\ny"}`, false},     // raw control character
		{`{"a":"x\\ny"}`, false},    // an escape: left to jcs
		{`{"a":1.50}`, false},       // not how ECMAScript prints 1.5
		{`{"a":1e21}`, false},       // 1e+21
		{`{"a":-0}`, false},         // 0
		{`{"é":1}`, false},          // non-ASCII name: left to jcs
		{`{"a":1}x`, false},         // trailing
		{`{"a":tru}`, false},        // bad literal
		{"{\"a\":\"\xff\"}", false}, // invalid UTF-8
		{strings.Repeat("[", ledger.MaxDepth) + strings.Repeat("]", ledger.MaxDepth), true},
		{strings.Repeat("[", ledger.MaxDepth+1) + strings.Repeat("]", ledger.MaxDepth+1), false},
	} {
		if got := ledger.IsCanonical([]byte(tc.in)); got != tc.want {
			t.Errorf("IsCanonical(%q) = %v, want %v", tc.in, got, tc.want)
		}
		// Whatever the fast path says, Canonicalize agrees with itself.
		if tc.want {
			out, err := ledger.Canonicalize([]byte(tc.in))
			if err != nil || string(out) != tc.in {
				t.Errorf("Canonicalize(%q) = %q, %v; want it unchanged", tc.in, out, err)
			}
		}
	}
}
