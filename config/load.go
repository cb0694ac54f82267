package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// EnvConfigFile names the config file when --config is not given.
const EnvConfigFile = "CDNPURGE_CONFIG"

// Load reads the config file at path ("" for none), applies the CDNPURGE_*
// environment overrides read through getenv (os.Getenv when nil), reads
// secrets from their *_file paths and the credentials, fills in defaults and
// validates. Every problem found is returned, each naming its field.
func Load(path string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Config{source: path}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w (pass --config FILE or set %s to an existing file)", err, EnvConfigFile)
		}
		if err := decodeYAML(data, c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(c, getenv); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	if err := c.readSecretFiles(); err != nil {
		return nil, err
	}
	if err := c.resolveCredentials(getenv); err != nil {
		return nil, err
	}
	*c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		where := "config"
		if path != "" {
			where = "config " + path
		}
		return nil, fmt.Errorf("%s is invalid:\n%w", where, err)
	}
	return c, nil
}

// decodeYAML decodes one YAML document strictly: an unknown field is an
// error naming its path and line.
func decodeYAML(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is all defaults
		}
		return friendlyYAMLError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document; keep the whole config in one")
	}
	return nil
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// friendlyYAMLError rewrites yaml.v3's "field x not found in type
// config.NATSConfig" into "unknown field nats.x", keeping the line.
func friendlyYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	paths := typePaths()
	lines := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		e = unknownField.ReplaceAllStringFunc(e, func(m string) string {
			sm := unknownField.FindStringSubmatch(m)
			field, typ := sm[1], sm[2]
			if p, ok := paths[typ]; ok && p != "" {
				field = p + "." + field
			}
			return fmt.Sprintf("unknown field %q (check its spelling against deploy/cdnpurge.example.yaml)", field)
		})
		lines = append(lines, e)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// typePaths maps each struct type of the config ("config.NATSConfig") to
// its YAML path ("nats"), for error messages.
func typePaths() map[string]string {
	out := map[string]string{}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
			path += "[]"
		}
		if t.Kind() != reflect.Struct {
			return
		}
		name := t.String()
		if _, seen := out[name]; seen {
			return
		}
		out[name] = path
		for i := range t.NumField() {
			f := t.Field(i)
			tag, inline := yamlName(f)
			if tag == "-" || !f.IsExported() {
				continue
			}
			if inline {
				walk(f.Type, path)
				continue
			}
			walk(f.Type, joinPath(path, tag))
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// yamlName returns a field's YAML key and whether it is inlined.
func yamlName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(opts, "inline") {
		return "", true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

// readSecretFiles fills each webhook secret from its *_file path.
func (c *Config) readSecretFiles() error {
	w := &c.Webhooks
	var errs []error
	for _, s := range []struct {
		field, file string
		dst         *string
	}{
		{"github_secret", w.GitHubSecretFile, (*string)(&w.GitHubSecret)},
		{"gitlab_token", w.GitLabTokenFile, (*string)(&w.GitLabToken)},
		{"generic_token", w.GenericTokenFile, (*string)(&w.GenericToken)},
		{"generic_hmac_secret", w.GenericHMACSecretFile, (*string)(&w.GenericHMACSecret)},
	} {
		if s.file == "" {
			continue
		}
		if *s.dst != "" {
			errs = append(errs, fmt.Errorf("webhooks.%s_file: webhooks.%s is set too; set one of them", s.field, s.field))
			continue
		}
		v, err := readSecretFile(s.file)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhooks.%s_file: %w", s.field, err))
			continue
		}
		*s.dst = v
	}
	return errors.Join(errs...)
}

// readSecretFile reads a one-line secret; the trailing newline is dropped.
// Errors never contain the file's content.
func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return v, nil
}

// resolveCredentials takes the key pair from the environment when
// ALIBABA_CLOUD_ACCESS_KEY_ID is set, else from cdn.credentials_file.
// The emulator's pair is filled in later by WithDefaults.
func (c *Config) resolveCredentials(getenv func(string) string) error {
	if id := getenv(apiclient.EnvAccessKeyID); id != "" || getenv(apiclient.EnvAccessKeySecret) != "" {
		c.CDN.Credentials.Static = Credentials{
			AccessKeyID:     strings.TrimSpace(id),
			AccessKeySecret: Secret(strings.TrimSpace(getenv(apiclient.EnvAccessKeySecret))),
			SecurityToken:   Secret(strings.TrimSpace(getenv(apiclient.EnvSecurityToken))),
			Source:          "env",
		}
		return nil
	}
	if c.CDN.CredentialsFile == "" {
		return nil
	}
	cr, err := readCredentialsFile(c.CDN.CredentialsFile)
	if err != nil {
		return fmt.Errorf("cdn.credentials_file: %w", err)
	}
	c.CDN.Credentials.Static = cr
	return nil
}

// readCredentialsFile reads KEY=VALUE lines; keys are the environment
// names (ALIBABA_CLOUD_ACCESS_KEY_ID, ...) or their short forms
// (access_key_id, access_key_secret, security_token). Blank lines and
// lines starting with # are skipped. Errors never show values.
func readCredentialsFile(path string) (Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("read credentials: %w", err)
	}
	cr := Credentials{Source: "file " + path}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Credentials{}, fmt.Errorf("%s line %d: want KEY=VALUE", path, i+1)
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case strings.ToLower(apiclient.EnvAccessKeyID), "access_key_id":
			cr.AccessKeyID = v
		case strings.ToLower(apiclient.EnvAccessKeySecret), "access_key_secret":
			cr.AccessKeySecret = Secret(v)
		case strings.ToLower(apiclient.EnvSecurityToken), "security_token":
			cr.SecurityToken = Secret(v)
		default:
			return Credentials{}, fmt.Errorf("%s line %d: unknown key %q; want %s, %s or %s", path, i+1,
				strings.TrimSpace(k), apiclient.EnvAccessKeyID, apiclient.EnvAccessKeySecret, apiclient.EnvSecurityToken)
		}
	}
	return cr, nil
}
