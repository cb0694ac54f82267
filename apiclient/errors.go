package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
)

// Class is what a caller should do about an error.
type Class int

// Error classes, from the error codes of the CDN API reference pages
// (RefreshObjectCaches, PushObjectCache, "Common error codes") and of the
// DCDN API reference ("Error codes", RefreshDcdnObjectCaches,
// PreloadDcdnObjectCaches), which use the same codes.
const (
	// ClassUnknown: not an API error we recognise; treat as not retryable.
	ClassUnknown Class = iota
	// ClassRetryable: 500, 503, network errors. Retry with a new nonce.
	ClassRetryable
	// ClassThrottled: Throttling*. Retry after backoff.
	ClassThrottled
	// ClassBusy: ServiceBusy (the domain is being configured) or
	// SystemUpgrading. Retry later.
	ClassBusy
	// ClassQuota: daily or per-minute quota spent, push queue full. Defer
	// until it frees; never drop.
	ClassQuota
	// ClassBadInput: the request is wrong (malformed path, unknown domain,
	// missing parameter). Report it; do not retry.
	ClassBadInput
	// ClassTooBig: SingleRequest.OverLimit, a batching bug. Report it.
	ClassTooBig
	// ClassAccount: InsufficientBalance, OperationDenied,
	// CdnServiceNotFound. Pause and alert.
	ClassAccount
	// ClassCredentials: signature, nonce, clock or key problems. Alert, do
	// not hammer.
	ClassCredentials
	// ClassDomainDown: the domain is on the account but stopped
	// (InvalidDomain.Offline) or being configured or checked. It passes:
	// defer with backoff, never reject.
	ClassDomainDown
)

var classNames = [...]string{"unknown", "retryable", "throttled", "busy", "quota", "bad_input", "too_big", "account", "credentials", "domain_down"}

// String names the class for logs and metric labels.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// retryable reports whether the same request may be sent again (re-signed).
func (c Class) retryable() bool {
	return c == ClassRetryable || c == ClassThrottled || c == ClassBusy
}

// Error is an error answer of the CDN API.
type Error struct {
	Action     string
	HTTPStatus int
	Code       string
	Message    string
	RequestID  string
	HostID     string
}

// Error names the action, status, code, message and RequestId; it never
// holds request parameters, so no secret can reach it.
func (e *Error) Error() string {
	s := fmt.Sprintf("%s: HTTP %d %s: %s", e.Action, e.HTTPStatus, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (RequestId " + e.RequestID + ")"
	}
	return s
}

// Class classifies the error by its code, then by its HTTP status.
func (e *Error) Class() Class {
	code := e.Code
	switch {
	// TooManyRequests is ESA's throttling answer (ESA API reference,
	// "GetPurgeQuota", "Error codes").
	case strings.HasPrefix(code, "Throttling"), code == "TooManyRequests":
		return ClassThrottled
	case code == "ServiceBusy", code == "SystemUpgrading":
		return ClassBusy
	// QuotaExceeded.Refresh and QuotaExceeded.Preload (DCDN's spent
	// prefetch quota), the per-minute limit, and TooMany.Refresh (the
	// refresh queue is full).
	case strings.HasPrefix(code, "QuotaExceeded"), strings.HasPrefix(code, "QuotaPerMinuteExceeded"),
		strings.HasPrefix(code, "TooMany.Refresh"), code == "PreloadQueueFull":
		return ClassQuota
	case code == "SingleRequest.OverLimit":
		return ClassTooBig
	case code == "InsufficientBalance", code == "OperationDenied", strings.HasPrefix(code, "OperationDenied."),
		code == "CdnServiceNotFound":
		return ClassAccount
	case code == "SignatureDoesNotMatch", code == "SignatureNonceUsed", strings.HasPrefix(code, "InvalidTimeStamp"),
		strings.HasPrefix(code, "InvalidAccessKeyId"), code == "IncompleteSignature", code == "InvalidSecurityToken.Expired",
		strings.HasPrefix(code, "InvalidSecurityToken"), code == "Forbidden.RAM", code == "Forbidden.AccessKeyDisabled":
		return ClassCredentials
	case isDomainDown(code):
		return ClassDomainDown
	case code == "InternalError", code == "ServiceUnAvailable", code == "ServiceUnavailable":
		return ClassRetryable
	case strings.HasPrefix(code, "Invalid"), strings.HasPrefix(code, "MissingParameter"), strings.HasPrefix(code, "InvalidParameter"),
		code == "UnsupportedOperation", code == "UnsupportedParameter", strings.HasPrefix(code, "InvalidObjectPath"),
		code == "IllegalOperationDomain":
		return ClassBadInput
	}
	switch {
	case e.HTTPStatus >= 500:
		return ClassRetryable
	case e.HTTPStatus == 429:
		return ClassThrottled
	case e.HTTPStatus == 400, e.HTTPStatus == 404:
		return ClassBadInput
	}
	return ClassUnknown
}

// isDomainDown tells the codes of a domain that is stopped or in the middle
// of a change, from the error codes of the CDN API reference
// (RefreshObjectCaches, "Error codes"): InvalidDomain.Offline and the
// configuring or checking states. InvalidDomain.NotFound is not one of
// them: that domain is gone.
func isDomainDown(code string) bool {
	rest, ok := strings.CutPrefix(code, "InvalidDomain.")
	if !ok {
		return false
	}
	for _, s := range []string{"Offline", "Configuring", "Checking"} {
		if strings.HasPrefix(rest, s) {
			return true
		}
	}
	return false
}

// DomainNotFound reports whether err says a domain is not on the account
// (InvalidDomain.NotFound): the only domain answer that rejects a job.
// DCDN answers a domain it does not serve (one on CDN, say) with the same
// code, and CDN a DCDN domain.
func DomainNotFound(err error) bool { return Code(err) == "InvalidDomain.NotFound" }

// NetworkError is a failure to get any answer from the API.
type NetworkError struct {
	Action string
	Err    error
}

// Error names the action and the transport failure.
func (e *NetworkError) Error() string {
	return e.Action + ": no answer from the CDN API: " + e.Err.Error()
}

// Unwrap returns the transport error.
func (e *NetworkError) Unwrap() error { return e.Err }

// Classify returns the class of any error the client returns.
func Classify(err error) Class {
	if err == nil {
		return ClassUnknown
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Class()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ClassUnknown
	}
	var ce *credentials.Error
	if errors.As(err, &ce) {
		// No key to sign with: pause and alert rather than hammer the
		// provider; credentials-go refreshes ahead of expiry, so a blip
		// clears by the next try.
		return ClassCredentials
	}
	var ne *NetworkError
	if errors.As(err, &ne) {
		return ClassRetryable
	}
	var co *circuitOpenError
	if errors.As(err, &co) {
		return ClassRetryable
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return ClassRetryable
	}
	return ClassUnknown
}

// Code returns the API error code of err, or "" when it is not an API error.
func Code(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}
