package digitallink

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/traceledger/traceledger/ledger"
)

// Error is why a URI is not a valid Digital Link, as one plain sentence in
// English (Error) and in Vietnamese (Message("vi")), for a shopper's page
// as much as for a developer. It wraps one of the sentinels above, and the
// ledger's refusal when there is one, for errors.Is.
type Error struct {
	kind   error // one of the sentinels
	cause  error // the ledger's refusal of the identifier, or nil
	en, vi string
}

func (e *Error) Error() string { return e.en }

// Unwrap gives errors.Is the sentinel and the ledger's refusal.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// Message is the sentence in the language lang ("vi", or English for
// anything else).
func (e *Error) Message(lang string) string {
	if lang == "vi" {
		return e.vi
	}
	return e.en
}

// Message returns err's sentence in lang when err is (or wraps) an *Error,
// and err.Error() otherwise.
func Message(err error, lang string) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message(lang)
	}
	return err.Error()
}

func newError(kind, cause error, en, vi string) *Error {
	return &Error{kind: kind, cause: cause, en: en, vi: vi}
}

// ErrNeedLot is the error for a Digital Link that names no lot (AI 10)
// where one is needed: a lot's page, its QR code, its labels.
func ErrNeedLot() error {
	return newError(ErrSyntax, nil, "This address names no lot (AI 10); a lot's page, code and labels need one.",
		"Địa chỉ này không có số lô (AI 10); trang, mã QR và nhãn của một lô cần số lô.")
}

// ErrGTINOnly is the error for a product page's address that names more
// than the GTIN.
func ErrGTINOnly() error {
	return newError(ErrSyntax, nil, "A product page's address names the GTIN alone.",
		"Địa chỉ trang sản phẩm chỉ có mã GTIN.")
}

func errNotAnAddress() error {
	return newError(ErrSyntax, nil, "This is not a valid web address.", "Đây không phải là một địa chỉ web hợp lệ.")
}

func errBadEscape() error {
	return newError(ErrSyntax, nil, "The address holds a badly written %-escape.", "Địa chỉ có một mã thoát % viết sai.")
}

func errEmptySegment() error {
	return newError(ErrSyntax, nil, "The address has an empty part (two slashes in a row).", "Địa chỉ có một phần trống (hai dấu gạch chéo liền nhau).")
}

func errNotQualifier(ai string) error {
	return newError(ErrSyntax, nil,
		fmt.Sprintf("The part %q after the GTIN is not a GS1 key qualifier (22, 10 or 21).", ai),
		fmt.Sprintf("Phần %q sau mã GTIN không phải là mã định danh phụ của GS1 (22, 10 hoặc 21).", ai))
}

func errNoGTIN() error {
	return newError(ErrNoPrimaryKey, nil, "The address holds no GTIN (01).", "Địa chỉ không có mã GTIN (01).")
}

func errOrder() error {
	return newError(ErrOrder, nil,
		"The parts of the code are out of order: after the GTIN come 22, 10 and 21, in that order, each at most once.",
		"Các phần của mã sai thứ tự: sau mã GTIN là 22, 10 và 21, theo đúng thứ tự đó, mỗi phần nhiều nhất một lần.")
}

// errGTIN says what is wrong with a GTIN that ledger.NormalizeGTIN refused.
func errGTIN(g string, cause error) error {
	digits := true
	for i := 0; i < len(g); i++ {
		digits = digits && g[i] >= '0' && g[i] <= '9'
	}
	switch {
	case !digits:
		return newError(ErrGTIN, cause,
			fmt.Sprintf("The GTIN %q holds characters other than digits.", g),
			fmt.Sprintf("Mã GTIN %q có ký tự không phải chữ số.", g))
	case len(g) != 8 && len(g) != 12 && len(g) != 13 && len(g) != 14:
		return newError(ErrGTIN, cause,
			fmt.Sprintf("The GTIN %q has %d digits; a GTIN has 8, 12, 13 or 14.", g, len(g)),
			fmt.Sprintf("Mã GTIN %q có %d chữ số; mã GTIN có 8, 12, 13 hoặc 14 chữ số.", g, len(g)))
	}
	return newError(ErrGTIN, cause,
		fmt.Sprintf("The GTIN %q has a wrong check digit: a printing or typing error, or a made-up code.", g),
		fmt.Sprintf("Mã GTIN %q có chữ số kiểm tra sai: mã in hoặc gõ nhầm, hoặc mã bịa ra.", g))
}

// errQualifier says what is wrong with a lot, serial or variant that
// ledger.CheckLot refused.
func errQualifier(ai, v string, cause error) error {
	kind, en, vi := ErrVariant, "consumer product variant", "mã biến thể sản phẩm"
	switch ai {
	case AILot:
		kind, en, vi = ErrLot, "lot code", "số lô"
	case AISerial:
		kind, en, vi = ErrSerial, "serial number", "số sê-ri"
	}
	for _, r := range v {
		if r < utf8.RuneSelf && ledger.CheckLot(string(r)) == nil {
			continue
		}
		return newError(kind, cause,
			fmt.Sprintf("The %s %q holds %q, which a GS1 code cannot hold (only letters without accents, digits and a few signs).", en, v, r),
			fmt.Sprintf("%s %q có ký tự %q, ký tự mà mã GS1 không cho phép (chỉ chữ cái không dấu, chữ số và vài dấu).", upperFirst(vi), v, r))
	}
	return newError(kind, cause,
		fmt.Sprintf("The %s %q is longer than 20 characters.", en, v),
		fmt.Sprintf("%s %q dài hơn 20 ký tự.", upperFirst(vi), v))
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r >= 'a' && r <= 'z' {
		return string(r-'a'+'A') + s[n:]
	}
	return s
}

func errAttrInQuery(ai string) error {
	return newError(ErrAttribute, nil,
		fmt.Sprintf("AI %s belongs in the path, not in the query string.", ai),
		fmt.Sprintf("AI %s phải nằm trong đường dẫn, không nằm trong chuỗi truy vấn.", ai))
}

func errAttrDate(ai, v string) error {
	return newError(ErrAttribute, nil,
		fmt.Sprintf("AI %s=%q is not a date (YYMMDD).", ai, v),
		fmt.Sprintf("AI %s=%q không phải là ngày (YYMMDD).", ai, v))
}

func errNotAI(ai string) error {
	return newError(ErrAttribute, nil,
		fmt.Sprintf("%q is not a GS1 Application Identifier.", ai),
		fmt.Sprintf("%q không phải là mã AI của GS1.", ai))
}

func errAttrLength(ai string) error {
	return newError(ErrAttribute, nil,
		fmt.Sprintf("AI %s needs a value of 1 to 90 characters.", ai),
		fmt.Sprintf("AI %s cần một giá trị dài từ 1 đến 90 ký tự.", ai))
}
