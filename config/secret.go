package config

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"gopkg.in/yaml.v3"
)

// Redacted is what a set secret prints as.
const Redacted = "[redacted]"

// Secret is a string that never prints: String, GoString, LogValue,
// MarshalJSON and MarshalYAML all show Redacted (or "" when unset). Use
// Value to get the secret itself, only where it is needed.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String masks the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString masks the secret for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue masks the secret for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON masks the secret in JSON dumps.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML masks the secret in YAML dumps.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Credentials are the CDN API key pair and optional STS token, with where
// they came from. They are never read from the config file.
type Credentials struct {
	AccessKeyID     string `yaml:"access_key_id,omitempty" json:"access_key_id,omitempty"`
	AccessKeySecret Secret `yaml:"access_key_secret,omitempty" json:"access_key_secret,omitempty"`
	SecurityToken   Secret `yaml:"security_token,omitempty" json:"security_token,omitempty"`
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
