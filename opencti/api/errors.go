package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// TransportError is a request that did not produce a GraphQL answer: the
// connection failed, or OpenCTI (or a proxy in front of it) answered with an
// HTTP error status and no GraphQL errors, or a body that is not JSON.
type TransportError struct {
	// Operation is the GraphQL operation name.
	Operation string
	// StatusCode is the HTTP status, 0 when no answer arrived.
	StatusCode int
	// Body is the start of the answer's body, for the log.
	Body string
	// Err is the underlying error.
	Err error
}

func (e *TransportError) Error() string {
	switch {
	case e.StatusCode != 0 && e.Body != "":
		return fmt.Sprintf("opencti graphql %s: HTTP %d %s: %s", e.Operation, e.StatusCode, http.StatusText(e.StatusCode), e.Body)
	case e.StatusCode != 0:
		return fmt.Sprintf("opencti graphql %s: HTTP %d %s", e.Operation, e.StatusCode, http.StatusText(e.StatusCode))
	default:
		return fmt.Sprintf("opencti graphql %s: %v", e.Operation, e.Err)
	}
}

func (e *TransportError) Unwrap() error { return e.Err }

// Temporary reports whether a retry may succeed: no answer at all, a 5xx, or
// 429 Too Many Requests. Other 4xx answers (401 bad token, 403, 404 wrong
// URL) need a configuration change.
func (e *TransportError) Temporary() bool {
	return e.StatusCode == 0 || e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// GraphQLError is an answer whose errors[] is not empty.
type GraphQLError struct {
	// Operation is the GraphQL operation name.
	Operation string
	// StatusCode is the HTTP status of the answer (200 for OpenCTI's
	// resolver errors, 400 for documents it rejects).
	StatusCode int
	// Errors are the entries of errors[].
	Errors []ErrorEntry
}

// ErrorEntry is one entry of a GraphQL answer's errors[].
type ErrorEntry struct {
	Message string
	// Code is extensions.code (OpenCTI: LOCK_ERROR, MISSING_REFERENCE_ERROR,
	// FUNCTIONAL_ERROR, AUTH_REQUIRED, GRAPHQL_VALIDATION_FAILED, ...).
	Code string
}

func (e *GraphQLError) Error() string {
	parts := make([]string, 0, len(e.Errors))
	for _, x := range e.Errors {
		if x.Code != "" {
			parts = append(parts, fmt.Sprintf("%s (%s)", x.Message, x.Code))
		} else {
			parts = append(parts, x.Message)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "empty errors[]")
	}
	return fmt.Sprintf("opencti graphql %s: %s", e.Operation, strings.Join(parts, "; "))
}

// Codes returns the distinct extensions.code values, in order.
func (e *GraphQLError) Codes() []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range e.Errors {
		if x.Code != "" && !seen[x.Code] {
			seen[x.Code] = true
			out = append(out, x.Code)
		}
	}
	return out
}

// HasCode reports whether one of the errors carries code.
func (e *GraphQLError) HasCode(code string) bool {
	for _, x := range e.Errors {
		if x.Code == code {
			return true
		}
	}
	return false
}

// IsTransient reports whether err is a *TransportError that a retry may fix.
func IsTransient(err error) bool {
	var te *TransportError
	return errors.As(err, &te) && te.Temporary()
}

// errDecode wraps a data object that does not have the shape the operation
// selected.
var errDecode = errors.New("unexpected data in the answer")
