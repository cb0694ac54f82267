package cdnemu

import (
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// productSTS names the STS actions, which belong to neither purge product.
const productSTS apiclient.Product = "sts"

// action is one API action the emulator serves.
type action struct {
	version func(string) bool
	handle  func(e *Emulator, req *request, now time.Time) *answer
	// product is what the action belongs to: faults can target one, and
	// the refresh, quota and task actions work on that product's state.
	product apiclient.Product
}

func isDCDNVersion(v string) bool { return v == dcdnVersion }

// actions maps each served Action to its handler.
var actions = func() map[string]action {
	cdn := func(h func(*Emulator, *request, time.Time) *answer) action {
		return action{isCDNVersion, h, apiclient.ProductCDN}
	}
	dcdn := func(h func(*Emulator, *request, time.Time) *answer) action {
		return action{isDCDNVersion, h, apiclient.ProductDCDN}
	}
	sts := func(h func(*Emulator, *request, time.Time) *answer) action {
		return action{isSTSVersion, h, productSTS}
	}
	m := map[string]action{
		actRefresh:                 cdn(handleRefresh),
		actPush:                    cdn(handlePush),
		actQuota:                   cdn(handleDescribeRefreshQuota),
		actTasks:                   cdn(handleDescribeRefreshTasks),
		actTaskByID:                cdn(handleDescribeRefreshTaskByID),
		actOpenCdn:                 cdn(handleOpenCdnService),
		actDescribeCdn:             cdn(handleDescribeCdnService),
		actModifyCdn:               cdn(handleModifyCdnService),
		"StartCdnDomain":           cdn(handleStartStopDomain),
		"StopCdnDomain":            cdn(handleStartStopDomain),
		"DescribeDomainConfigs":    cdn(handleDescribeDomainConfigs),
		"DescribeCdnDomainConfigs": cdn(handleDescribeDomainConfigs),
		"BatchSetCdnDomainConfig":  cdn(handleBatchSetDomainConfig),
		// DCDN (API version 2018-01-15): the same handlers on DCDN's
		// domains, quota and tasks.
		actDcdnRefresh:           dcdn(handleRefresh),
		actDcdnPreload:           dcdn(handlePush),
		actDcdnQuota:             dcdn(handleDescribeRefreshQuota),
		actDcdnTasks:             dcdn(handleDescribeRefreshTasks),
		actDcdnTaskByID:          dcdn(handleDescribeRefreshTaskByID),
		actionDcdnIpa:            dcdn(handleDescribeDcdnIpaService),
		actionGetCallerIdentity:  sts(handleGetCallerIdentity),
		actionAssumeRole:         sts(handleAssumeRole),
		actionAssumeRoleWithOIDC: sts(handleAssumeRoleWithOIDC),
	}
	// The domain configuration actions of the CDN API reference: each
	// takes DomainName and is recorded against the domain.
	for _, name := range []string{
		"SetOptimizeConfig", "SetPageCompressConfig", "SetIgnoreQueryStringConfig", "SetRangeConfig",
		"SetVideoSeekConfig", "SetSourceHostConfig", "SetErrorPageConfig", "SetForceRedirectConfig",
		"SetRefererConfig", "SetFileCacheExpiredConfig", "SetPathCacheExpiredConfig",
		"ModifyFileCacheExpiredConfig", "ModifyPathCacheExpiredConfig", "DeleteCacheExpiredConfig",
		"SetReqAuthConfig", "SetHttpHeaderConfig", "ModifyHttpHeaderConfig", "DeleteHttpHeaderConfig",
		"SetDomainServerCertificate", "SetIpBlackListConfig", "SetDynamicConfig", "ModifyCdnDomain",
		"DeleteSpecificConfig",
	} {
		m[name] = cdn(handleDomainConfig)
	}
	return m
}()
