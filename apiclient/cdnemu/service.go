package cdnemu

import (
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// service is the account's CDN service: open or not, billing method and a
// pending change of it, and the financial lock; plus the DCDN IPA service.
type service struct {
	opened        bool
	chargeType    string
	openingTime   time.Time
	changingType  string
	changingAt    time.Time
	instanceID    string
	financialLock bool
	ipaEnabled    bool
}

func newService(o Options, now time.Time) service {
	s := service{
		chargeType:    o.InternetChargeType,
		instanceID:    o.InstanceID,
		financialLock: o.FinancialLock,
		ipaEnabled:    o.DcdnIpaEnabled,
	}
	if !o.ServiceNotOpened {
		s.opened = true
		s.openingTime = now.UTC().Truncate(time.Second)
	}
	return s
}

// apply makes a pending billing change take effect once its time came.
func (s *service) apply(now time.Time) {
	if s.changingType != "" && !now.Before(s.changingAt) {
		s.chargeType, s.changingType, s.changingAt = s.changingType, "", time.Time{}
	}
}

// refuse is the answer to a call that changes something when the service is
// not open or the account is overdue (the CDN API reference, "API behavior
// for accounts in outstanding payment").
func (s *service) refuse() *answer {
	if !s.opened {
		return fail("OperationDenied")
	}
	if s.financialLock {
		return fail("InsufficientBalance")
	}
	return nil
}

// status is the body of DescribeCdnService.
func (s *service) status(chargeType string, opening time.Time) map[string]any {
	locks := []map[string]string{}
	if s.financialLock {
		locks = append(locks, map[string]string{"LockReason": apiclient.LockReasonFinancial})
	}
	body := map[string]any{
		"InternetChargeType": chargeType,
		"OpeningTime":        "",
		"ChangingChargeType": s.changingType,
		"ChangingAffectTime": "",
		"InstanceId":         s.instanceID,
		"OperationLocks":     map[string]any{"LockReason": locks},
	}
	if !opening.IsZero() {
		body["OpeningTime"] = opening.Format(timestampFormat)
	}
	if !s.changingAt.IsZero() {
		body["ChangingAffectTime"] = s.changingAt.Format(timestampFormat)
	}
	return body
}

func chargeTypeParam(req *request) (string, *answer) {
	ct := trimmed(req.params, "InternetChargeType")
	if ct == "" {
		return "", missing("InternetChargeType")
	}
	if !validChargeType(ct) {
		return "", fail("InvalidInternetChargeType.ValueNotSupported")
	}
	return ct, nil
}

// handleOpenCdnService opens the service once; an overdue account may open.
func handleOpenCdnService(e *Emulator, req *request, now time.Time) *answer {
	ct, a := chargeTypeParam(req)
	if a != nil {
		return a
	}
	s := &e.service
	if s.opened {
		return fail("CdnService.HasOpened")
	}
	s.opened, s.chargeType, s.openingTime = true, ct, now.UTC().Truncate(time.Second)
	return ok(nil)
}

// handleDescribeCdnService reports the service; a service never opened has
// an empty billing method and opening time.
func handleDescribeCdnService(e *Emulator, _ *request, now time.Time) *answer {
	s := &e.service
	s.apply(now)
	if !s.opened {
		return ok(s.status("", time.Time{}))
	}
	return ok(s.status(s.chargeType, s.openingTime))
}

// handleModifyCdnService schedules a billing change for the next 00:00
// Asia/Shanghai; the latest change wins, and changing back to the current
// method cancels a pending one.
func handleModifyCdnService(e *Emulator, req *request, now time.Time) *answer {
	ct, a := chargeTypeParam(req)
	if a != nil {
		return a
	}
	s := &e.service
	s.apply(now)
	if a := s.refuse(); a != nil {
		return a
	}
	if ct == s.chargeType {
		s.changingType, s.changingAt = "", time.Time{}
	} else {
		s.changingType, s.changingAt = ct, nextShanghaiMidnight(now)
	}
	return ok(nil)
}

// handleDescribeDcdnIpaService reports the DCDN IPA service, when enabled.
func handleDescribeDcdnIpaService(e *Emulator, _ *request, _ time.Time) *answer {
	s := &e.service
	if !s.ipaEnabled {
		return fail("DcdnIpaServiceNotFound")
	}
	body := s.status(apiclient.PayByTraffic, s.openingTime)
	body["ChangingChargeType"], body["ChangingAffectTime"] = "", ""
	if s.openingTime.IsZero() {
		body["OpeningTime"] = ""
	}
	return ok(body)
}

// notCommon reports a parameter that belongs to the call, not the protocol.
func notCommon(name string) bool {
	switch name {
	case "Action", "Version", "AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
		"SignatureNonce", "Timestamp", "Format", "SecurityToken":
		return false
	}
	return true
}

func (e *Emulator) recordConfig(d *domain, req *request, now time.Time) {
	params := map[string]string{}
	for k, v := range req.params {
		if notCommon(k) && len(v) > 0 {
			params[k] = v[0]
		}
	}
	d.configs = append(d.configs, ConfigChange{Time: now, Action: req.action, Params: params})
}

// domainParam finds the domain of DomainName.
func (e *Emulator) domainParam(req *request) (*domain, *answer) {
	name := trimmed(req.params, "DomainName")
	if name == "" {
		return nil, missing("DomainName")
	}
	d := e.cdn.account.byName(name)
	if d == nil {
		return nil, fail("InvalidDomain.NotFound", "The domain "+name+" does not belong to this account.")
	}
	return d, nil
}

// handleDomainConfig accepts and records a Set*/Modify*/Delete* config call.
func handleDomainConfig(e *Emulator, req *request, now time.Time) *answer {
	d, a := e.domainParam(req)
	if a != nil {
		return a
	}
	if d.state == domainConfiguring {
		return fail("ServiceBusy")
	}
	e.recordConfig(d, req, now)
	return ok(nil)
}

// handleStartStopDomain brings a domain online or takes it offline; an
// overdue account cannot start one.
func handleStartStopDomain(e *Emulator, req *request, now time.Time) *answer {
	d, a := e.domainParam(req)
	if a != nil {
		return a
	}
	if req.action == "StartCdnDomain" {
		if e.service.financialLock {
			return fail("InsufficientBalance")
		}
		d.state = domainOnline
	} else {
		d.state = domainOffline
	}
	e.recordConfig(d, req, now)
	return ok(nil)
}

// handleBatchSetDomainConfig takes DomainNames (comma-separated) and
// Functions, and records the call against every domain.
func handleBatchSetDomainConfig(e *Emulator, req *request, now time.Time) *answer {
	names := trimmed(req.params, "DomainNames")
	if names == "" {
		return missing("DomainNames")
	}
	if trimmed(req.params, "Functions") == "" {
		return missing("Functions")
	}
	var ds []*domain
	for _, n := range strings.Split(names, ",") {
		d := e.cdn.account.byName(n)
		if d == nil {
			return fail("InvalidDomain.NotFound", "The domain "+strings.TrimSpace(n)+" does not belong to this account.")
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		e.recordConfig(d, req, now)
	}
	return ok(nil)
}

// handleDescribeDomainConfigs lists the configuration calls recorded for a
// domain (the emulator's own shape) and its DomainStatus.
func handleDescribeDomainConfigs(e *Emulator, req *request, _ time.Time) *answer {
	d, a := e.domainParam(req)
	if a != nil {
		return a
	}
	list := make([]map[string]any, 0, len(d.configs))
	for _, c := range d.configs {
		list = append(list, map[string]any{"Action": c.Action, "Params": c.Params,
			"Time": c.Time.UTC().Format(timestampFormat)})
	}
	return ok(map[string]any{
		"DomainName":    d.name,
		"DomainStatus":  [...]string{"online", "offline", "configuring"}[d.state],
		"DomainConfigs": map[string]any{"DomainConfig": list},
	})
}

// SetFinancialLock marks the account overdue or clears it. While locked,
// RefreshObjectCaches, PushObjectCache, ModifyCdnService and StartCdnDomain
// answer 400 InsufficientBalance and DescribeCdnService shows the lock
// reason "financial".
func (e *Emulator) SetFinancialLock(locked bool) {
	e.mu.Lock()
	e.service.financialLock = locked
	e.mu.Unlock()
}

// SetDcdnIpa enables or disables the DCDN IPA service.
func (e *Emulator) SetDcdnIpa(enabled bool) {
	e.mu.Lock()
	e.service.ipaEnabled = enabled
	e.mu.Unlock()
}

// ChargeType returns the billing method in force on the emulator clock and
// the pending one ("" when none).
func (e *Emulator) ChargeType() (current, pending string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.service.apply(e.now())
	return e.service.chargeType, e.service.changingType
}
