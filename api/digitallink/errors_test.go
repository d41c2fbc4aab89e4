package digitallink

import (
	"errors"
	"strings"
	"testing"

	"github.com/traceledger/traceledger/ledger"
)

// A refusal reads as one plain sentence per language, with no chain of Go
// error prefixes, and still matches its sentinel.
func TestErrorsArePlainSentences(t *testing.T) {
	for _, tc := range []struct {
		uri      string
		kind     error
		en, vi   string
		alsoKind error
	}{
		{"https://x.vn/01/08936000100026/10/A", ErrGTIN, "wrong check digit", "chữ số kiểm tra sai", ledger.ErrInvalidGTIN},
		{"https://x.vn/01/123/10/A", ErrGTIN, "has 3 digits", "có 3 chữ số", ledger.ErrInvalidGTIN},
		{"https://x.vn/01/0893600010002X/10/A", ErrGTIN, "other than digits", "không phải chữ số", ledger.ErrInvalidGTIN},
		{"https://x.vn/01/08936000100025/10/L%C3%B4-V%E1%BA%A3i-1", ErrLot, `holds 'ô'`, `Số lô "Lô-Vải-1" có ký tự 'ô'`, ledger.ErrInvalidLot},
		{"https://x.vn/01/08936000100025/10/" + strings.Repeat("A", 21), ErrLot, "longer than 20", "dài hơn 20", ledger.ErrInvalidLot},
		{"https://x.vn/01/08936000100025/21/1%201", ErrSerial, "serial number", "Số sê-ri", ledger.ErrInvalidLot},
		{"https://x.vn/01/08936000100025/21/1/10/A", ErrOrder, "out of order", "sai thứ tự", nil},
		{"https://x.vn/foo/bar", ErrNoPrimaryKey, "no GTIN", "không có mã GTIN", nil},
		{"https://x.vn/01/08936000100025/10/A?17=991399", ErrAttribute, "not a date", "không phải là ngày", nil},
		{"https://x.vn/01/08936000100025/10/A?lang=%ZZ", ErrSyntax, "%-escape", "mã thoát %", nil},
		{"ftp://x.vn/01/08936000100025", ErrSyntax, "not a valid web address", "không phải là một địa chỉ web", nil},
	} {
		_, err := Parse(tc.uri)
		if !errors.Is(err, tc.kind) || (tc.alsoKind != nil && !errors.Is(err, tc.alsoKind)) {
			t.Errorf("Parse(%q) = %v, want %v (and %v)", tc.uri, err, tc.kind, tc.alsoKind)
			continue
		}
		en, vi := Message(err, "en"), Message(err, "vi")
		if en != err.Error() {
			t.Errorf("Parse(%q): Message(en) %q differs from Error() %q", tc.uri, en, err)
		}
		for _, s := range []string{en, vi} {
			if strings.Contains(s, "digitallink") || strings.Contains(s, "invalid GTIN") || strings.Contains(s, "invalid lot code") ||
				strings.Count(s, ": ") > 1 || !strings.HasSuffix(s, ".") || strings.Count(strings.TrimSuffix(s, "."), ". ") > 0 {
				t.Errorf("Parse(%q): %q is not one plain sentence", tc.uri, s)
			}
		}
		if !strings.Contains(en, tc.en) || !strings.Contains(vi, tc.vi) {
			t.Errorf("Parse(%q):\n en %q, want %q in it\n vi %q, want %q in it", tc.uri, en, tc.en, vi, tc.vi)
		}
	}
	if got := Message(errors.New("other"), "vi"); got != "other" {
		t.Errorf("Message of a foreign error = %q, want its text", got)
	}
}
