package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/cdnpurge/cdnpurge/redact"
	"gopkg.in/yaml.v3"
)

// Redacted returns a copy of c fit for printing: every secret shows as
// Redacted and URL passwords are masked.
func (c *Config) Redacted() Config {
	r := *c
	r.NATS.URL = redact.URL(r.NATS.URL)
	r.Redis.URL = redact.URL(r.Redis.URL)
	v := reflect.ValueOf(&r).Elem()
	for _, s := range secretFieldsOf() {
		if f := v.FieldByIndex(s.index); f.String() != "" {
			f.SetString(Redacted)
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

// loadable returns a copy of c that Load reads back into c (given the same
// environment and files): secrets and credentials, which never belong in
// the file, are left out, and which of them are set is returned for a
// comment.
func (c *Config) loadable() (Config, []string) {
	r := *c
	r.NATS.URL = redact.URL(r.NATS.URL)
	r.Redis.URL = redact.URL(r.Redis.URL)
	var notes []string
	v := reflect.ValueOf(&r).Elem()
	for _, s := range secretFieldsOf() {
		if f := v.FieldByIndex(s.index); f.String() != "" {
			from := EnvName(s.path)
			if s.filePath != "" {
				from += " or " + s.filePath
			}
			notes = append(notes, fmt.Sprintf("%s: %s (from %s)", s.path, Redacted, from))
			f.SetString("")
		}
	}
	if st := r.CDN.Credentials.Static; st.AccessKeyID != "" || st.AccessKeySecret != "" {
		notes = append(notes, "cdn credentials: "+st.String())
	}
	r.CDN.Credentials.Static = Credentials{}
	return r, notes
}

// plain is Config without its marshalling methods.
type plain Config

// MarshalYAML prints the config as YAML() does: no secret, loadable.
func (c Config) MarshalYAML() (any, error) {
	r, _ := c.loadable()
	p := plain(r)
	return &p, nil
}

// MarshalJSON prints the redacted config, as JSON does.
func (c Config) MarshalJSON() ([]byte, error) { return c.JSON() }

// YAML returns the config as YAML, durations as "1s", that Load reads back
// into the same config given the same environment and files. Secrets and
// credentials are not printed: a comment at the top says which are set.
func (c *Config) YAML() ([]byte, error) {
	r, notes := c.loadable()
	p := plain(r)
	var buf bytes.Buffer
	buf.WriteString("# cdnpurge configuration as loaded, defaults filled in; `cdnpurge --config FILE config check` reads it back.\n")
	if len(notes) > 0 {
		buf.WriteString("# Secrets are never printed; these are set (from the environment or their _file):\n")
		for _, n := range notes {
			buf.WriteString("#   " + n + "\n")
		}
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&p); err != nil {
		return nil, fmt.Errorf("print config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("print config: %w", err)
	}
	return buf.Bytes(), nil
}

// JSON returns the redacted config as indented JSON with the YAML field
// names and durations as strings ("1s"), by way of the YAML form. Secrets
// that are set show as Redacted.
func (c *Config) JSON() ([]byte, error) {
	r := plain(c.Redacted())
	y, err := yaml.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("print config: %w", err)
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
