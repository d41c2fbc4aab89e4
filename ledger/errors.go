package ledger

import (
	"errors"
	"fmt"
)

// Kind classifies why the ledger refused something. The classes follow the
// order in which checks run (DESIGN §3.3): shape and field validity, then the
// signature, then existence, then permission, then conflicts with the ledger.
// The HTTP layer maps each Kind to one status code.
type Kind int

const (
	KindInvalid   Kind = iota + 1 // malformed envelope or invalid field (400)
	KindSignature                 // bad signature or signer mismatch (401)
	KindNotFound                  // unknown lot, participant or entry (404)
	KindForbidden                 // signer not allowed (403)
	KindConflict                  // conflicts with the ledger (409)
)

// Error is a refusal with a stable snake_case code that clients may branch
// on. Sentinel values of *Error are declared below; functions return them
// wrapped with detail, so callers use errors.Is against the sentinel and
// errors.As to read the Kind and Code.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Detail wraps e with a more specific message while keeping errors.Is(err, e).
func (e *Error) Detail(format string, args ...any) error {
	return &detailed{base: e, msg: fmt.Sprintf(format, args...)}
}

type detailed struct {
	base *Error
	msg  string
}

func (d *detailed) Error() string { return d.base.Message + ": " + d.msg }
func (d *detailed) Unwrap() error { return d.base }

// Describe returns the Kind and Code of err if it is (or wraps) an *Error.
func Describe(err error) (Kind, string, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, e.Code, true
	}
	return 0, "", false
}

func sentinel(k Kind, code, msg string) *Error { return &Error{Kind: k, Code: code, Message: msg} }

// Shape and field validity (400).
var (
	ErrMalformed     = sentinel(KindInvalid, "malformed", "malformed envelope")
	ErrUnknownField  = sentinel(KindInvalid, "unknown_field", "unknown field")
	ErrMissingField  = sentinel(KindInvalid, "missing_field", "missing field")
	ErrInvalidField  = sentinel(KindInvalid, "invalid_field", "invalid field")
	ErrUnknownType   = sentinel(KindInvalid, "unknown_type", "unknown record type")
	ErrInvalidGTIN   = sentinel(KindInvalid, "invalid_gtin", "invalid GTIN")
	ErrInvalidLot    = sentinel(KindInvalid, "invalid_lot", "invalid lot code")
	ErrInvalidUnit   = sentinel(KindInvalid, "invalid_unit", "unit is not a UN/ECE Recommendation 20 code")
	ErrInvalidAmount = sentinel(KindInvalid, "invalid_quantity", "invalid quantity")
	ErrInvalidTime   = sentinel(KindInvalid, "invalid_time", "invalid time")
	ErrInvalidAddr   = sentinel(KindInvalid, "invalid_address", "invalid address")
	ErrDuplicateKey  = sentinel(KindInvalid, "duplicate_key", "a JSON object names a member twice")
	ErrForbiddenChar = sentinel(KindInvalid, "forbidden_character", "string contains a control or bidirectional formatting character")
)

// Signature (401).
var (
	ErrBadSignature   = sentinel(KindSignature, "bad_signature", "bad signature")
	ErrSignerMismatch = sentinel(KindSignature, "signer_mismatch", "signature does not match the signer")
)

// Existence (404).
var (
	ErrUnknownLot         = sentinel(KindNotFound, "unknown_lot", "unknown lot")
	ErrUnknownParticipant = sentinel(KindNotFound, "unknown_participant", "unknown participant")
	ErrUnknownEntry       = sentinel(KindNotFound, "unknown_entry", "unknown entry")
)

// Permission (403).
var (
	ErrNotRegistered = sentinel(KindForbidden, "not_registered", "signer is not a registered participant")
	ErrWrongRole     = sentinel(KindForbidden, "wrong_role", "signer does not have the required role")
	ErrNotHolder     = sentinel(KindForbidden, "not_holder", "signer does not hold the lot")
	ErrNotRecipient  = sentinel(KindForbidden, "not_recipient", "signer is not the named recipient")
)

// Conflicts with the ledger (409).
var (
	ErrIDReused              = sentinel(KindConflict, "id_reused", "record id already used by this signer with different content")
	ErrLotExists             = sentinel(KindConflict, "lot_exists", "lot already exists")
	ErrDoubleTransfer        = sentinel(KindConflict, "double_transfer", "lot is already in transit")
	ErrUnregisteredRecipient = sentinel(KindConflict, "unregistered_recipient", "recipient is not a registered participant")
	ErrLotInTransit          = sentinel(KindConflict, "lot_in_transit", "lot is in transit")
	ErrLotConsumed           = sentinel(KindConflict, "lot_consumed", "lot has been fully consumed")
	ErrLotRecalled           = sentinel(KindConflict, "lot_recalled", "lot has been recalled")
	ErrInsufficient          = sentinel(KindConflict, "insufficient_quantity", "quantity exceeds what remains of the lot")
	ErrUnitMismatch          = sentinel(KindConflict, "unit_mismatch", "unit differs from the lot's unit")
	ErrAlreadyRecalled       = sentinel(KindConflict, "already_recalled", "lot is already recalled")
	ErrStale                 = sentinel(KindConflict, "stale", "the lot has changed since the record's \"after\" entry")
	ErrWrongLedger           = sentinel(KindConflict, "wrong_ledger", "the record names another ledger")
	ErrWriteTooLarge         = sentinel(KindConflict, "too_large_for_ledger", "the record's effects on the ledger are too large to write at once")
)

// ErrCorrupt reports stored state that does not decode or does not add up.
// It is never caused by a client; audit reports it, and a node that meets it
// while applying the log stops rather than diverge from its peers.
var ErrCorrupt = errors.New("ledger: corrupt state")

func errCorrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
