package config

import (
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/webhooks"
)

// Redacted returns a copy of c fit for printing: every secret shows as
// Redacted and URL passwords are masked.
func (c *Config) Redacted() Config {
	r := *c
	r.NATS.URL = RedactURL(r.NATS.URL)
	r.Redis.URL = RedactURL(r.Redis.URL)
	w := &r.Webhooks.Config
	for _, s := range []*webhooks.Secret{&w.GitHubSecret, &w.GitLabToken, &w.GenericToken, &w.GenericHMACSecret} {
		if *s != "" {
			*s = Redacted
		}
	}
	if st := &r.CDN.Credentials.Static; st.AccessKeySecret != "" {
		st.AccessKeySecret = Redacted
	}
	if st := &r.CDN.Credentials.Static; st.SecurityToken != "" {
		st.SecurityToken = Redacted
	}
	return r
}

// plain is Config without its marshalling methods.
type plain Config

// MarshalYAML prints the redacted config, so that no dump shows a secret.
func (c Config) MarshalYAML() (any, error) {
	r := plain(c.Redacted())
	return &r, nil
}

// MarshalJSON prints the redacted config, as JSON does.
func (c Config) MarshalJSON() ([]byte, error) { return c.JSON() }

// YAML returns the redacted config as YAML, durations as "1s".
func (c *Config) YAML() ([]byte, error) {
	r := plain(c.Redacted())
	out, err := yaml.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("print config: %w", err)
	}
	return out, nil
}

// JSON returns the redacted config as indented JSON with the YAML field
// names and durations as strings ("1s"), by way of the YAML form.
func (c *Config) JSON() ([]byte, error) {
	y, err := c.YAML()
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := yaml.Unmarshal(y, &v); err != nil {
		return nil, fmt.Errorf("print config: %w", err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("print config: %w", err)
	}
	return out, nil
}
