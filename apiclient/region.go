package apiclient

// The CDN API has a central endpoint for the mainland and one in Singapore
// for international accounts; the official SDK (alibabacloud-go
// cdn-20180510, its endpoint map) sends these regions to the latter and
// every other region, the Chinese mainland ones included, to the former.
// See "Endpoints" in the CDN API reference.

// InternationalEndpoint is the CDN endpoint of international regions.
const InternationalEndpoint = "https://cdn.ap-southeast-1.aliyuncs.com"

// internationalRegions are the regions the SDK maps to InternationalEndpoint.
var internationalRegions = map[string]bool{
	"ap-northeast-1": true, "ap-south-1": true, "ap-southeast-1": true, "ap-southeast-2": true,
	"ap-southeast-3": true, "ap-southeast-5": true, "eu-central-1": true, "eu-west-1": true,
	"me-east-1": true, "us-east-1": true, "us-west-1": true,
}

// RegionEndpoint returns the CDN endpoint for a region ID: the
// international one for the regions above, the central CDN().Endpoint for
// the rest and for "".
func RegionEndpoint(region string) string {
	if internationalRegions[region] {
		return InternationalEndpoint
	}
	return CDN().Endpoint
}
