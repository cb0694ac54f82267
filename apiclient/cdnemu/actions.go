package cdnemu

import (
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

const actionDcdnIpa = apiclient.ActionDescribeDcdnIpaService

// action is one API action the emulator serves.
type action struct {
	version func(string) bool
	handle  func(e *Emulator, req *request, now time.Time) *answer
}

func isDCDNVersion(v string) bool { return v == apiclient.DCDNVersion }

// actions maps each served Action to its handler.
var actions = func() map[string]action {
	m := map[string]action{
		apiclient.ActionRefreshObjectCaches:     {isCDNVersion, handleRefresh},
		apiclient.ActionPushObjectCache:         {isCDNVersion, handlePush},
		apiclient.ActionDescribeRefreshQuota:    {isCDNVersion, handleDescribeRefreshQuota},
		apiclient.ActionDescribeRefreshTasks:    {isCDNVersion, handleDescribeRefreshTasks},
		apiclient.ActionDescribeRefreshTaskByID: {isCDNVersion, handleDescribeRefreshTaskByID},
		apiclient.ActionOpenCdnService:          {isCDNVersion, handleOpenCdnService},
		apiclient.ActionDescribeCdnService:      {isCDNVersion, handleDescribeCdnService},
		apiclient.ActionModifyCdnService:        {isCDNVersion, handleModifyCdnService},
		actionDcdnIpa:                           {isDCDNVersion, handleDescribeDcdnIpaService},
		"StartCdnDomain":                        {isCDNVersion, handleStartStopDomain},
		"StopCdnDomain":                         {isCDNVersion, handleStartStopDomain},
		"DescribeDomainConfigs":                 {isCDNVersion, handleDescribeDomainConfigs},
		"DescribeCdnDomainConfigs":              {isCDNVersion, handleDescribeDomainConfigs},
		"BatchSetCdnDomainConfig":               {isCDNVersion, handleBatchSetDomainConfig},
		actionGetCallerIdentity:                 {isSTSVersion, handleGetCallerIdentity},
		actionAssumeRole:                        {isSTSVersion, handleAssumeRole},
		actionAssumeRoleWithOIDC:                {isSTSVersion, handleAssumeRoleWithOIDC},
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
		m[name] = action{isCDNVersion, handleDomainConfig}
	}
	return m
}()
