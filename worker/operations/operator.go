package operations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// ErrNotVerified is returned when DescribeCdnService does not show the
// billing change ModifyCdnService accepted. The worker terminates the job
// and reports it; check the account in the console.
var ErrNotVerified = errors.New("billing change not visible in DescribeCdnService")

// ErrUnknownOperation is returned for an operation job whose action or
// parameters are not in the known-actions table. It is never retried.
var ErrUnknownOperation = errors.New("operation not runnable")

// ServiceAPI is what billing changes and service checks need of the API
// client; they work on CDN (apiclient.CDN()).
type ServiceAPI interface {
	DescribeService(ctx context.Context, t apiclient.Target) (apiclient.ServiceStatus, error)
	ModifyService(ctx context.Context, t apiclient.Target, chargeType string) (string, error)
	OpenService(ctx context.Context, t apiclient.Target, chargeType string) (string, error)
}

// OperatorAPI is what Operator needs of the CDN API client; *apiclient.Client
// satisfies it.
type OperatorAPI interface {
	ServiceAPI
	Call(ctx context.Context, action string, params url.Values, out any) error
}

// OperatorConfig wires an Operator.
type OperatorConfig struct {
	// State records each schedule's last run and result; may be nil.
	State  StateStore
	Logger *slog.Logger
	// Allowlist is the domain allowlist every DomainName must be on; nil
	// refuses every domain action.
	Allowlist Allowlist
	// Now is time.Now when nil.
	Now func() time.Time
}

// Operator runs operation jobs for the worker (it implements
// worker.Operator). Errors keep their apiclient classification, so the
// worker retries, pauses or reports them as it does for purges.
type Operator struct {
	api   OperatorAPI
	state StateStore
	allow Allowlist
	log   *slog.Logger
	now   func() time.Time
}

// NewOperator returns an Operator calling api.
func NewOperator(api OperatorAPI, cfg OperatorConfig) *Operator {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Operator{api: api, state: cfg.State, allow: cfg.Allowlist, log: cfg.Logger, now: cfg.Now}
}

// Run executes the operation of j and records its result in the state
// store when j came from a schedule.
func (o *Operator) Run(ctx context.Context, j *jobs.Job) error {
	if j == nil || j.Operation == nil {
		return fmt.Errorf("job has no operation section: %w", ErrUnknownOperation)
	}
	op := j.Operation
	log := o.log.With(slog.String("job", j.ID), slog.String("action", op.Action), slog.String("schedule", op.Schedule))
	result, msg, err := o.run(ctx, log, op)
	if err != nil {
		result, msg = ResultFailed, err.Error()
	}
	o.record(ctx, log, op, result, msg)
	return err
}

func (o *Operator) run(ctx context.Context, log *slog.Logger, op *jobs.OperationSpec) (result, msg string, err error) {
	spec, ok := knownActions[op.Action]
	if !ok {
		return "", "", fmt.Errorf("action %q is not one cdnpurge runs (see KnownActions): %w", op.Action, ErrUnknownOperation)
	}
	if probs := checkParams(op.Action, spec, op.Params).Prefix("params"); len(probs) > 0 {
		lines := make([]string, len(probs))
		for i, p := range probs {
			lines[i] = p.Error()
		}
		return "", "", fmt.Errorf("%s: %v: %w", op.Action, lines, ErrUnknownOperation)
	}
	if err := CheckDomains(op.Action, op.Params, o.allow); err != nil {
		return "", "", fmt.Errorf("%s: params.%w", op.Action, err)
	}
	switch op.Action {
	case apiclient.CDN().Actions.ModifyService:
		r, err := ChangeBilling(ctx, o.api, op.Params["InternetChargeType"])
		if err != nil {
			return "", "", err
		}
		if r.Skipped {
			log.Info("billing change skipped", slog.String("reason", r.Message()))
			return ResultSkipped, r.Message(), nil
		}
		log.Info("billing change accepted and verified", slog.String("request_id", r.RequestID),
			slog.String("charge_type", r.Requested), slog.Time("takes_effect", r.EffectiveAt), slog.String("detail", r.Message()))
		return ResultOK, r.Message(), nil
	case apiclient.CDN().Actions.OpenService:
		opened, rid, err := openService(ctx, o.api, op.Params["InternetChargeType"])
		if err != nil {
			return "", "", err
		}
		if !opened {
			log.Info("CDN service is already open; nothing to do")
			return ResultSkipped, "CDN service already opened", nil
		}
		log.Info("CDN service opened", slog.String("request_id", rid))
		return ResultOK, "CDN service opened with " + op.Params["InternetChargeType"], nil
	}
	vals := url.Values{}
	for k, v := range op.Params {
		vals.Set(k, v)
	}
	var out struct {
		RequestID string `json:"RequestId"`
	}
	if err := o.api.Call(ctx, op.Action, vals, &out); err != nil {
		return "", "", fmt.Errorf("%s on %s: %w", op.Action, op.Params["DomainName"], err)
	}
	log.Info("domain operation done", slog.String("domain", op.Params["DomainName"]),
		slog.Any("params", redact(op.Params)), slog.String("request_id", out.RequestID))
	return ResultOK, fmt.Sprintf("%s on %s done (RequestId %s)", op.Action, op.Params["DomainName"], out.RequestID), nil
}

// RunAction runs one domain or service action now, outside any schedule
// (the CLI's direct path): the action and its parameters are checked as a
// schedule's are and every DomainName must be on the allowlist. It returns
// what happened in one line; nothing is recorded in the schedule state.
func (o *Operator) RunAction(ctx context.Context, action string, params map[string]string) (string, error) {
	log := o.log.With(slog.String("action", action))
	_, msg, err := o.run(ctx, log, &jobs.OperationSpec{Action: action, Params: params})
	return msg, err
}

// record writes the run's result unless a later tick's run is recorded.
func (o *Operator) record(ctx context.Context, log *slog.Logger, op *jobs.OperationSpec, result, msg string) {
	if o.state == nil || op.Schedule == "" {
		return
	}
	now := o.now().UTC()
	err := o.state.Update(ctx, op.Schedule, func(st *State) bool {
		if op.Tick.Before(st.LastRunTick) {
			return false
		}
		st.LastRun, st.LastRunTick, st.LastResult, st.LastMessage = now, op.Tick.UTC(), result, msg
		return true
	})
	if err != nil {
		log.Warn("could not record the run's result", slog.String("error", err.Error()))
	}
}

// BillingResult is the outcome of ChangeBilling.
type BillingResult struct {
	// Requested is the billing method asked for.
	Requested string
	// Skipped is true when the account already is, or is already changing
	// to, Requested; no ModifyCdnService call was made.
	Skipped bool
	// Before and After are DescribeCdnService before the change and after
	// it (After equals Before when skipped).
	Before, After apiclient.ServiceStatus
	// RequestID is ModifyCdnService's RequestId.
	RequestID string
	// EffectiveAt is when the pending change takes effect (zero when none
	// is pending, for example when a pending change was cancelled).
	EffectiveAt time.Time
}

// Message says what happened in one line, with the effective time in UTC
// and in Asia/Shanghai.
func (r BillingResult) Message() string {
	st := r.After
	switch {
	case r.Skipped && st.ChangingChargeType == r.Requested:
		return fmt.Sprintf("already changing to %s%s", r.Requested, when(r.EffectiveAt))
	case r.Skipped:
		return fmt.Sprintf("already billed by %s", r.Requested)
	case st.ChangingChargeType == r.Requested:
		return fmt.Sprintf("billing changes from %s to %s%s", st.InternetChargeType, r.Requested, when(r.EffectiveAt))
	}
	return fmt.Sprintf("billing stays %s; the pending change to %s was cancelled", r.Requested, r.Before.ChangingChargeType)
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf(" at %s (%s)", t.UTC().Format(time.RFC3339),
		t.In(quota.DefaultLocation()).Format("2006-01-02 15:04 MST"))
}

// ChangeBilling switches the billing method with ModifyCdnService unless the
// account already is, or is already changing to, chargeType, and verifies
// the change with DescribeCdnService. API errors are wrapped with %w and
// keep their apiclient class.
func ChangeBilling(ctx context.Context, api ServiceAPI, chargeType string) (BillingResult, error) {
	r := BillingResult{Requested: chargeType}
	if chargeType != apiclient.PayByTraffic && chargeType != apiclient.PayByBandwidth {
		return r, fmt.Errorf("billing method %q: want %s or %s: %w", chargeType, apiclient.PayByTraffic, apiclient.PayByBandwidth, ErrUnknownOperation)
	}
	before, err := api.DescribeService(ctx, apiclient.CDN())
	if err != nil {
		return r, fmt.Errorf("read the CDN service before changing billing to %s: %w", chargeType, err)
	}
	r.Before, r.After = before, before
	r.EffectiveAt = parseAPITime(before.ChangingAffectTime)
	if before.ChangingChargeType == chargeType ||
		(before.InternetChargeType == chargeType && before.ChangingChargeType == "") {
		r.Skipped = true
		return r, nil
	}
	rid, err := api.ModifyService(ctx, apiclient.CDN(), chargeType)
	if err != nil {
		return r, fmt.Errorf("change billing to %s: %w", chargeType, err)
	}
	r.RequestID = rid
	after, err := api.DescribeService(ctx, apiclient.CDN())
	if err != nil {
		return r, fmt.Errorf("verify billing change to %s (ModifyCdnService RequestId %s was accepted): %w", chargeType, rid, err)
	}
	r.After = after
	r.EffectiveAt = parseAPITime(after.ChangingAffectTime)
	if after.ChangingChargeType != chargeType && (after.InternetChargeType != chargeType || after.ChangingChargeType != "") {
		return r, fmt.Errorf("billing change to %s (RequestId %s): DescribeCdnService shows %s with pending %q; check the account in the console: %w",
			chargeType, rid, after.InternetChargeType, after.ChangingChargeType, ErrNotVerified)
	}
	return r, nil
}

// openService calls OpenCdnService; an account that has the service
// already is not an error (opened is false then).
func openService(ctx context.Context, api ServiceAPI, chargeType string) (opened bool, requestID string, err error) {
	rid, err := api.OpenService(ctx, apiclient.CDN(), chargeType)
	if apiclient.AlreadyOpened(err) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("open CDN service with %s: %w", chargeType, err)
	}
	return true, rid, nil
}

// parseAPITime parses the API's UTC timestamps; zero when empty or odd.
func parseAPITime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02T15:04:05Z", time.RFC3339, "2006-01-02T15:04Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
