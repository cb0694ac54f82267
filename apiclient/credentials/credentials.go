// Package credentials hands out the Alibaba Cloud credentials each request
// of apiclient is signed with: a fixed key pair, or a chain
// (credentials-go, a credentials URI, the ECS RAM role over IMDSv2) that
// caches and refreshes, so that a rotation needs no restart. It knows
// nothing about the purge APIs; apiclient imports it.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// Environment variables holding credentials, by the Alibaba Cloud convention.
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// DefaultSTSEndpoint is where roles are assumed (and apiclient asks
// GetCallerIdentity) by default.
const DefaultSTSEndpoint = "https://sts.aliyuncs.com"

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

// FromEnv reads the AccessKey pair and token from the environment
// through getenv (os.Getenv when nil).
func FromEnv(getenv func(string) string) (Credentials, error) {
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

// Provider hands out the credentials to sign one request with.
// The client asks for every attempt, so a provider that caches and
// refreshes (STS, RAM roles, a credentials URI) is picked up without a
// restart. Implementations must be safe for concurrent use.
type Provider interface {
	Credentials(ctx context.Context) (Credentials, error)
}

// StaticProvider always hands out Value. Name says where it came from
// ("env", "file /path"), for errors.
type StaticProvider struct {
	Value Credentials
	Name  string
}

// Credentials returns Value, or a *Error when it is incomplete.
func (p StaticProvider) Credentials(context.Context) (Credentials, error) {
	if err := p.Value.Validate(); err != nil {
		return Credentials{}, &Error{Provider: p.Name, Err: err}
	}
	return p.Value, nil
}

// Error says which credentials provider failed and why. It
// never holds a provider's answer: only the provider's name, the HTTP
// status, the request ID and a fixed reason (the answer, scrubbed, is
// logged at debug level). Err is a cause of cdnpurge's own words, or nil.
type Error struct {
	Provider   string
	HTTPStatus int
	RequestID  string
	Reason     string
	Err        error
}

// Error reads "credentials provider uri: refused the request (HTTP 500,
// request ID X)".
func (e *Error) Error() string {
	s := "credentials provider " + e.Provider + ": " + e.Reason
	var meta []string
	if e.HTTPStatus != 0 {
		meta = append(meta, "HTTP "+strconv.Itoa(e.HTTPStatus))
	}
	if e.RequestID != "" {
		meta = append(meta, "request ID "+e.RequestID)
	}
	if len(meta) > 0 {
		s += " (" + strings.Join(meta, ", ") + ")"
	}
	if e.Err != nil {
		if e.Reason != "" {
			s += ": "
		}
		s += e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
