package ethos

import (
	"errors"
	"fmt"
)

// Error codes a user may see. Each maps to one HTTP status and one CLI exit
// code in a single place (http and cmd/ethos).
const (
	ECONFLICT       = "conflict"        // the resource exists or changed underneath
	EINTERNAL       = "internal"        // a fault of ours; details go to the operator log only
	EINVALID        = "invalid"         // the input is malformed or breaks a rule
	ENOTFOUND       = "not_found"       // no such resource
	EUNAUTHORIZED   = "unauthorized"    // no valid credentials
	EFORBIDDEN      = "forbidden"       // credentials valid, the access policy denies
	ECONSENT        = "consent"         // the use is not covered by consent
	ENOTIMPLEMENTED = "not_implemented" // the feature is not built yet
)

// Error is an error with a code and a message safe to show to a user. The
// message must never contain a patient identifier.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err: the message of the first
// *Error in its chain, or a generic text for any other error.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "internal error"
}
