package apiclient

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Environment variables holding credentials, by the Alibaba Cloud convention.
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// ErrNoCredentials is returned when no AccessKey pair is configured.
var ErrNoCredentials = errors.New("no AccessKey pair: set " + EnvAccessKeyID + " and " + EnvAccessKeySecret)

// Credentials is an AccessKey pair and an optional STS token. Its String,
// GoString and LogValue methods never show the secret or the token, so a
// Credentials value can be logged or printed by mistake without leaking.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// CredentialsFromEnv reads the AccessKey pair and token from the environment
// through getenv (os.Getenv when nil).
func CredentialsFromEnv(getenv func(string) string) (Credentials, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Credentials{
		AccessKeyID:     strings.TrimSpace(getenv(EnvAccessKeyID)),
		AccessKeySecret: strings.TrimSpace(getenv(EnvAccessKeySecret)),
		SecurityToken:   strings.TrimSpace(getenv(EnvSecurityToken)),
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// Validate reports a missing key ID or secret.
func (c Credentials) Validate() error {
	switch {
	case c.AccessKeyID == "" && c.AccessKeySecret == "":
		return ErrNoCredentials
	case c.AccessKeyID == "":
		return fmt.Errorf("AccessKey secret is set but the key ID is empty: set %s", EnvAccessKeyID)
	case c.AccessKeySecret == "":
		return fmt.Errorf("AccessKey ID %s has no secret: set %s", c.AccessKeyID, EnvAccessKeySecret)
	}
	return nil
}

// String shows the key ID and masks the secret.
func (c Credentials) String() string {
	s := "Credentials{AccessKeyID: " + c.AccessKeyID + ", AccessKeySecret: " + mask(c.AccessKeySecret)
	if c.SecurityToken != "" {
		s += ", SecurityToken: " + mask(c.SecurityToken)
	}
	return s + "}"
}

// GoString masks the secret for %#v.
func (c Credentials) GoString() string { return c.String() }

// LogValue masks the secret for slog.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", c.AccessKeyID),
		slog.String("access_key_secret", mask(c.AccessKeySecret)),
	)
}

func mask(s string) string {
	if s == "" {
		return `""`
	}
	return "***"
}
