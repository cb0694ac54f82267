package config

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
)

// CredentialsConfig is cdn.credentials: the mode (type) and its non-secret
// fields, from the file or CDNPURGE_CDN_CREDENTIALS_* variables, plus the
// key pair Load read from the environment or cdn.credentials_file. See
// docs/alibaba-cloud.md for each mode.
type CredentialsConfig struct {
	credentials.Config `yaml:",inline"`

	// Static is the key pair of ALIBABA_CLOUD_ACCESS_KEY_ID /
	// ALIBABA_CLOUD_ACCESS_KEY_SECRET (/ ALIBABA_CLOUD_SECURITY_TOKEN) or
	// of cdn.credentials_file, read by Load; never from the YAML. Dumps
	// show its key ID and source only.
	Static Credentials `yaml:"static,omitempty" json:"static,omitzero"`
}

// secretKeys are keys a user might put under cdn.credentials by mistake.
var secretKeys = map[string]bool{"access_key_id": true, "access_key_secret": true, "security_token": true,
	"static": true, "sts_token": true, "oidc_token": true, "secret": true}

// UnmarshalYAML reads the mode's fields and refuses secrets and unknown
// keys, naming each with its path and line.
func (c *CredentialsConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		known := credentialKeys()
		var errs []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			switch {
			case secretKeys[k.Value]:
				errs = append(errs, "line "+strconv.Itoa(k.Line)+": cdn.credentials."+k.Value+": "+errCredentialsInYAML.Error())
			case !known[k.Value]:
				errs = append(errs, fmt.Sprintf("line %d: unknown field %q (check its spelling against deploy/cdnpurge.example.yaml)", k.Line, "cdn.credentials."+k.Value))
			}
		}
		if len(errs) > 0 {
			return &yaml.TypeError{Errors: errs}
		}
	}
	return n.Decode(&c.Config)
}

// credentialKeys are the YAML keys of credentials.Config.
func credentialKeys() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[credentials.Config]()
	for i := range t.NumField() {
		name, _ := yamlName(t.Field(i))
		out[name] = true
	}
	return out
}

var (
	accountIDShape = regexp.MustCompile(`^[0-9]{1,32}$`)
	regionShape    = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)
)

// validateCredentials checks cdn.credentials, cdn.signature, cdn.region,
// cdn.account_id and cdn.sts_endpoint: what serve would refuse at start.
func (c *Config) validateCredentials(p *problems) {
	d := c.CDN
	cr := d.Credentials
	st := cr.Static
	switch {
	case st.AccessKeyID == "" && st.AccessKeySecret != "":
		p.add("cdn.credentials", "the AccessKey secret is set (%s) but not the key ID", st.Source)
	case st.AccessKeyID != "" && st.AccessKeySecret == "":
		p.add("cdn.credentials", "the AccessKey ID is set (%s) but not the secret", st.Source)
	}
	p.addList("cdn.credentials", cr.Validate("cdn.credentials.", st.API()))
	if cr.NeedsSTS() && !strings.HasPrefix(d.STSEndpoint, "https://") {
		p.add("cdn.sts_endpoint", "%s: %s assumes roles over https only; want https://sts.aliyuncs.com or another https URL", d.STSEndpoint, cr.Type)
	}
	if u, err := url.Parse(d.STSEndpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		p.add("cdn.sts_endpoint", "%q: want a URL such as %s", d.STSEndpoint, credentials.DefaultSTSEndpoint)
	}
	if d.Region != "" && !regionShape.MatchString(d.Region) {
		p.add("cdn.region", "%q: want a region ID such as cn-hangzhou or ap-southeast-1", d.Region)
	}
	if d.AccountID != "" && !accountIDShape.MatchString(d.AccountID) {
		p.add("cdn.account_id", "%q: want the numeric Alibaba Cloud account ID (the console's account center shows it)", d.AccountID)
	}
	if n := d.DomainURLsPerMinute; n > 0 && n < c.Worker.Limits.URLsPerRefresh {
		p.add("cdn.domain_urls_per_minute", "%d is less than worker.limits.urls_per_refresh (%d): a full batch of one domain could never go; raise it or lower the batch", n, c.Worker.Limits.URLsPerRefresh)
	}
	if n, per := d.DCDNDomainURLsPerMinute, min(c.Worker.Limits.URLsPerRefresh, apiclient.DCDN().Caps.URLsPerRefresh); n > 0 && n < per && slices.Contains(c.Products(), apiclient.ProductDCDN) {
		p.add("cdn.dcdn_domain_urls_per_minute", "%d is less than a full DCDN refresh (%d URLs): a full batch of one DCDN domain could never go; raise it or lower worker.limits.urls_per_refresh", n, per)
	}
	if d.AccountID != "" && c.Redis.Account != "" && d.AccountID != c.Redis.Account {
		p.add("redis.account", "%q differs from cdn.account_id %q; redis.account is deprecated, remove it (docs/alibaba-cloud.md says how to keep old keys)", c.Redis.Account, d.AccountID)
	}
}
