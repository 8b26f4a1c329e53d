package catalog

import (
	"errors"
	"fmt"
)

// Error is a Confluent Schema Registry error: the HTTP status is the first
// three digits of Code (409 is its own code).
type Error struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (error code %d)", e.Message, e.Code) }

// Status is the HTTP status that carries the error.
func (e *Error) Status() int {
	if e.Code < 1000 {
		return e.Code
	}
	for c := e.Code; ; c /= 10 {
		if c < 1000 {
			return c
		}
	}
}

// The error catalogue, by Confluent's codes. The constructors take the
// message Confluent writes for each.
const (
	CodeSubjectNotFound                   = 40401
	CodeVersionNotFound                   = 40402
	CodeSchemaNotFound                    = 40403
	CodeSubjectSoftDeleted                = 40404
	CodeSubjectNotSoftDeleted             = 40405
	CodeSchemaVersionSoftDeleted          = 40406
	CodeSchemaVersionNotSoftDeleted       = 40407
	CodeSubjectCompatibilityNotConfigured = 40408
	CodeSubjectModeNotConfigured          = 40409
	CodeIncompatibleSchema                = 409
	CodeInvalidSchema                     = 42201
	CodeInvalidVersion                    = 42202
	CodeInvalidCompatibilityLevel         = 42203
	CodeInvalidMode                       = 42204
	CodeOperationNotPermitted             = 42205
	CodeReferenceExists                   = 42206
	CodeIDDoesNotMatch                    = 42207
	CodeInvalidSubject                    = 42208
	CodeSchemaTooLarge                    = 42209
	CodeStoreError                        = 50001
	CodeOperationTimeout                  = 50002
	CodeForwardingFailed                  = 50003
	CodeUnknownLeader                     = 50004
	// Plain HTTP errors Confluent also answers with.
	CodeNotFound           = 404
	CodeMethodNotAllowed   = 405
	CodeUnprocessable      = 422
	CodeBadRequest         = 400
	CodeEntityTooLarge     = 413
	CodeUnsupportedMedia   = 415
	CodeInternalError      = 500
	CodeServiceUnavailable = 503
)

// Errf builds an Error.
func Errf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Constructors for the errors raised in more than one place.

func errSubjectNotFound(s string) *Error {
	return Errf(CodeSubjectNotFound, "Subject '%s' not found.", s)
}

func errVersionNotFound(s string, v int) *Error {
	return Errf(CodeVersionNotFound, "Version %d not found.", v)
}

// ErrSchemaNotFound is the 40403 of lookups by id or content.
func ErrSchemaNotFound() *Error { return Errf(CodeSchemaNotFound, "Schema not found") }

// ErrInvalidVersion is the 42202 of a version path segment.
func ErrInvalidVersion(v string) *Error {
	return Errf(CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

// ErrInvalidLevel is the 42203 of a config update.
func ErrInvalidLevel(l string) *Error {
	return Errf(CodeInvalidCompatibilityLevel, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive (got %q)", l)
}

// AsError returns err as a registry Error, wrapping unknown errors as 50001.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Errf(CodeStoreError, "Error in the backend data store: %v", err)
}
