package operations

import (
	"context"
	"fmt"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// The operator's direct actions on the account's CDN service (the CLI's
// `service status | open | billing`): each returns what happened as data;
// cmd/cdnpurge renders it. ChangeBilling (operator.go) is the third.

// ServiceState is one service's state as DescribeCdnService (or
// DescribeDcdnIpaService) reports it.
type ServiceState struct {
	apiclient.ServiceStatus
	// ChangeAt is when the pending billing change (ChangingChargeType)
	// takes effect; zero when none is pending or the API gave no time.
	ChangeAt time.Time
}

// Opened reports whether the service is opened on the account.
func (s ServiceState) Opened() bool { return s.OpeningTime != "" || s.InternetChargeType != "" }

// ServiceReport is the CDN service's state and, when asked for, the DCDN
// IPA service's.
type ServiceReport struct {
	CDN ServiceState
	// IPA is nil unless ReadService was asked for it.
	IPA *ServiceState
}

// ReadService reads the CDN service with DescribeCdnService and, when ipa
// is true, the DCDN IPA service with DescribeDcdnIpaService. A financial
// lock is part of the state, not an error; errors are the API's.
func ReadService(ctx context.Context, api StatusAPI, ipa bool) (ServiceReport, error) {
	st, err := api.DescribeService(ctx, apiclient.CDN())
	if err != nil {
		return ServiceReport{}, fmt.Errorf("read CDN service state: %w", err)
	}
	rep := ServiceReport{CDN: serviceState(st)}
	if ipa {
		s, err := api.DescribeService(ctx, apiclient.DCDN())
		if err != nil {
			return ServiceReport{}, fmt.Errorf("read DCDN IPA service state: %w", err)
		}
		ipaSt := serviceState(s)
		rep.IPA = &ipaSt
	}
	return rep, nil
}

func serviceState(st apiclient.ServiceStatus) ServiceState {
	return ServiceState{ServiceStatus: st, ChangeAt: parseAPITime(st.ChangingAffectTime)}
}

// OpenResult is the outcome of OpenService.
type OpenResult struct {
	// ChargeType is the billing method asked for.
	ChargeType string
	// Opened is false when the account had the service already (nothing
	// changed then).
	Opened bool
	// RequestID is OpenCdnService's RequestId when Opened.
	RequestID string
}

// OpenService opens the CDN service with chargeType (PayByTraffic or
// PayByBandwidth). An account that has the service already is reported in
// the result (Opened false), not as an error.
func OpenService(ctx context.Context, api ServiceAPI, chargeType string) (OpenResult, error) {
	r := OpenResult{ChargeType: chargeType}
	if chargeType != apiclient.PayByTraffic && chargeType != apiclient.PayByBandwidth {
		return r, fmt.Errorf("--charge-type %q: want %s or %s", chargeType, apiclient.PayByTraffic, apiclient.PayByBandwidth)
	}
	opened, rid, err := openService(ctx, api, chargeType)
	if err != nil {
		return r, err
	}
	r.Opened, r.RequestID = opened, rid
	return r, nil
}
