package config

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/secretfile"
)

// Redacted is what a set secret prints as.
const Redacted = secretfile.Redacted

// Credentials are the CDN API key pair and optional STS token, with where
// they came from. They are never read from the config file.
type Credentials struct {
	AccessKeyID     string            `yaml:"access_key_id,omitempty" json:"access_key_id,omitempty"`
	AccessKeySecret secretfile.Secret `yaml:"access_key_secret,omitempty" json:"access_key_secret,omitempty"`
	SecurityToken   secretfile.Secret `yaml:"security_token,omitempty" json:"security_token,omitempty"`
	// Source is "env", "file <path>" or "emulator default".
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
}

// errCredentialsInYAML steers a user who put keys into the file.
var errCredentialsInYAML = errors.New("credentials are never read from the config file: set " +
	credentials.EnvAccessKeyID + " and " + credentials.EnvAccessKeySecret + " (optionally " + credentials.EnvSecurityToken +
	") or point cdn.credentials_file at a file holding them")

// UnmarshalYAML refuses credentials in the config file.
func (c *Credentials) UnmarshalYAML(n *yaml.Node) error {
	return &yaml.TypeError{Errors: []string{"line " + strconv.Itoa(n.Line) + ": cdn.credentials: " + errCredentialsInYAML.Error()}}
}

// String shows the key ID and masks the rest.
func (c Credentials) String() string {
	if c.AccessKeyID == "" {
		return "none"
	}
	return "AccessKeyId=" + c.AccessKeyID + " AccessKeySecret=" + c.AccessKeySecret.String() + " (" + c.Source + ")"
}

// GoString masks the secret for %#v.
func (c Credentials) GoString() string { return c.String() }

// LogValue masks the secret for slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID), slog.String("source", c.Source))
}

// API returns the pair as apiclient wants it.
func (c Credentials) API() credentials.Credentials {
	return credentials.Credentials{
		AccessKeyID:     c.AccessKeyID,
		AccessKeySecret: c.AccessKeySecret.Value(),
		SecurityToken:   c.SecurityToken.Value(),
	}
}
