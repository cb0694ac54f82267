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
