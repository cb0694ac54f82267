package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Decide is the one mapping from an API error to a verdict; the table is
// the error codes of the refresh and push API reference pages as
// apiclient classifies them.
func TestDecideMapsEachClassOnce(t *testing.T) {
	t.Parallel()
	apiErr := func(status int, code string) error {
		return fmt.Errorf("wrapped: %w", &apiclient.Error{Action: "RefreshObjectCaches", HTTPStatus: status, Code: code})
	}
	for _, tc := range []struct {
		err  error
		want Verdict
	}{
		{apiErr(400, "QuotaExceeded.Refresh"), QuotaSpent},
		{apiErr(429, "QuotaPerMinuteExceeded.Domain"), NextMinute},
		{apiErr(400, "InvalidDomain.Offline"), DomainStopped},
		{apiErr(400, "InvalidDomain.Configuring"), DomainStopped},
		{apiErr(503, "ServiceBusy"), DomainStopped},
		{apiErr(404, "InvalidDomain.NotFound"), DomainUnknown},
		{apiErr(400, "InvalidObjectPath.Malformed"), Refused},
		{apiErr(400, "SingleRequest.OverLimit"), Refused},
		{apiErr(400, "InsufficientBalance"), PauseAccount},
		{apiErr(403, "InvalidAccessKeyId.NotFound"), PauseAccount},
		{apiErr(500, "InternalError"), RetryLater},
		{apiErr(429, "Throttling.User"), RetryLater},
		{&apiclient.NetworkError{Action: "RefreshObjectCaches", Err: errors.New("connection refused")}, RetryLater},
		{apiErr(403, "SomethingNew"), Unrecognised},
		{context.Canceled, Unrecognised},
	} {
		if got := Decide(tc.err); got != tc.want {
			t.Errorf("Decide(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
