package operations

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// statusAPI answers DescribeService with a fixed state for every target.
type statusAPI struct{ st apiclient.ServiceStatus }

func (a statusAPI) DescribeService(context.Context, apiclient.Target) (apiclient.ServiceStatus, error) {
	return a.st, nil
}

type noPause struct{}

func (noPause) Pause(time.Time, string) {}
func (noPause) Resume()                 {}

// A lock reason the checker does not know becomes "other", whatever its
// length: the reason label keeps to a fixed set.
func TestServiceLockReasonLabelIsBounded(t *testing.T) {
	t.Parallel()
	var st apiclient.ServiceStatus
	body := `{"InternetChargeType":"PayByTraffic","OperationLocks":{"LockReason":[{"LockReason":"Financial"},{"LockReason":"` + strings.Repeat("z", 10<<10) + `"}]}}`
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c, err := NewServiceChecker(statusAPI{st}, noPause{}, CheckerConfig{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					reasons[l.GetValue()] = true
				}
			}
		}
	}
	if len(reasons) != 2 || !reasons["financial"] || !reasons["other"] {
		t.Fatalf("reason labels = %v, want financial and other", reasons)
	}
}
