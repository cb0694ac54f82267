package apiclient

import "testing"

func TestClassOfDomainStates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code   string
		status int
		want   Class
	}{
		{"InvalidDomain.Offline", 404, ClassDomainDown},
		{"InvalidDomain.Configuring", 403, ClassDomainDown},
		{"InvalidDomain.Checking", 403, ClassDomainDown},
		{"ServiceBusy", 403, ClassBusy},
		{"InvalidDomain.NotFound", 404, ClassBadInput},
		{"InvalidObjectPath.Malformed", 400, ClassBadInput},
	} {
		e := &Error{Action: "RefreshObjectCaches", HTTPStatus: tc.status, Code: tc.code}
		if got := e.Class(); got != tc.want {
			t.Errorf("%s: class %s, want %s", tc.code, got, tc.want)
		}
	}
	if !DomainNotFound(&Error{Code: "InvalidDomain.NotFound"}) || DomainNotFound(&Error{Code: "InvalidDomain.Offline"}) {
		t.Error("DomainNotFound tells the wrong codes")
	}
	if ClassDomainDown.String() != "domain_down" {
		t.Errorf("name %q", ClassDomainDown.String())
	}
}

// The codes DCDN's refresh and preload actions answer ("Error codes",
// RefreshDcdnObjectCaches and PreloadDcdnObjectCaches in the DCDN API
// reference) are classified like CDN's, and the helpers tell them apart.
func TestClassOfDCDNCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code      string
		status    int
		want      Class
		notFound  bool
		perMinute bool
	}{
		{"InvalidDomain.NotFound", 404, ClassBadInput, true, false},
		{"InvalidDomain.Offline", 404, ClassDomainDown, false, false},
		{"InvalidDomain.Configuring", 403, ClassDomainDown, false, false},
		{"ServiceBusy", 403, ClassBusy, false, false},
		{"SystemUpgrading", 403, ClassBusy, false, false},
		{"IllegalOperationDomain", 400, ClassBadInput, false, false},
		{"InvalidObjectPath.Malformed", 400, ClassBadInput, false, false},
		{"InvalidObjectPath.Size.Malformed", 400, ClassBadInput, false, false},
		{"InvalidObjectType.Malformed", 400, ClassBadInput, false, false},
		{"InvalidExtensiveDomain.ValueNotSupported", 400, ClassBadInput, false, false},
		{"MissingParameter", 400, ClassBadInput, false, false},
		{"SingleRequest.OverLimit", 400, ClassTooBig, false, false},
		{"QuotaExceeded.Refresh", 400, ClassQuota, false, false},
		{"QuotaExceeded.Preload", 400, ClassQuota, false, false},
		{"QuotaPerMinuteExceeded.Refresh", 400, ClassQuota, false, true},
		{"TooMany.Refresh", 400, ClassQuota, false, false},
		{"PreloadQueueFull", 403, ClassQuota, false, false},
		{"Throttling", 400, ClassThrottled, false, false},
		{"Throttling.User", 400, ClassThrottled, false, false},
		{"Throttling.Api", 503, ClassThrottled, false, false},
		{"InternalError", 500, ClassRetryable, false, false},
		{"ServiceUnAvailable", 503, ClassRetryable, false, false},
		{"InsufficientBalance", 400, ClassAccount, false, false},
		{"CdnServiceNotFound", 403, ClassAccount, false, false},
		{"SignatureDoesNotMatch", 400, ClassCredentials, false, false},
	} {
		for _, action := range []string{DCDN().Actions.Refresh, DCDN().Actions.Push, CDN().Actions.Refresh} {
			e := &Error{Action: action, HTTPStatus: tc.status, Code: tc.code}
			if got := Classify(e); got != tc.want {
				t.Errorf("%s %s: class %s, want %s", action, tc.code, got, tc.want)
			}
			if got := DomainNotFound(e); got != tc.notFound {
				t.Errorf("%s %s: DomainNotFound = %v", action, tc.code, got)
			}
			if got := IsPerMinuteQuota(e); got != tc.perMinute {
				t.Errorf("%s %s: IsPerMinuteQuota = %v", action, tc.code, got)
			}
		}
	}
}
