package trainyard

import (
	"errors"
	"fmt"
)

// Code classifies an Error. Codes cross the wire unchanged, so callers branch on them and never
// on message text.
type Code string

const (
	Invalid         Code = "invalid"         // 400 the request is wrong
	Unauthenticated Code = "unauthenticated" // 401 no token or an unknown one
	Forbidden       Code = "forbidden"       // 403 the token may not do this
	NotFound        Code = "not_found"       // 404
	Conflict        Code = "conflict"        // 409 exists already, or wrong state for the action
	TooLarge        Code = "too_large"       // 413 a body over a documented limit
	Unavailable     Code = "unavailable"     // 503 retry later
	Internal        Code = "internal"        // 500 our bug or an unclassified failure
)

// Error is an error whose Message is safe to show to API callers. Err is the cause: it is
// logged, never sent.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of the first *Error in err's chain, Internal when there is none,
// and "" for a nil error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return Internal
}

// ErrorMessage returns the caller-safe message of err: the Message of its *Error, or
// "internal error" when err carries none.
func ErrorMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "internal error"
}
