package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/secretfile"
)

// secretField is a secret of the config and the *_file field that may name
// a file holding it. Any field of type secretfile.Secret is one; a
// string field next to it named like it plus "_file" is its file.
type secretField struct {
	path, filePath string
	index          []int
	fileIndex      []int
}

// secretFieldsOf lists the secrets of the Config type (outside lists).
var secretFieldsOf = sync.OnceValue(func() []secretField {
	var out []secretField
	var walk func(t reflect.Type, path string, prefix []int)
	walk = func(t reflect.Type, path string, prefix []int) {
		fields := fieldsOf(t)
		for name, f := range fields {
			fpath := joinPath(path, name)
			idx := append(append([]int(nil), prefix...), f.index...)
			switch {
			case f.typ == credentialsType:
			case isSecretType(f.typ):
				s := secretField{path: fpath, index: idx}
				if ff, ok := fields[name+"_file"]; ok && ff.typ.Kind() == reflect.String {
					s.filePath = fpath + "_file"
					s.fileIndex = append(append([]int(nil), prefix...), ff.index...)
				}
				out = append(out, s)
			case f.typ.Kind() == reflect.Struct && f.typ != durationType:
				walk(f.typ, fpath, idx)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	slices.SortFunc(out, func(a, b secretField) int { return strings.Compare(a.path, b.path) })
	return out
})

// secretFilePaths is the set of *_file fields that hold a secret.
func secretFilePaths() map[string]bool {
	out := map[string]bool{}
	for _, s := range secretFieldsOf() {
		if s.filePath != "" {
			out[s.filePath] = true
		}
	}
	return out
}

// readSecretFiles fills each secret from its *_file path.
func (c *Config) readSecretFiles(p *problems) {
	v := reflect.ValueOf(c).Elem()
	for _, s := range secretFieldsOf() {
		if s.filePath == "" {
			continue
		}
		file := v.FieldByIndex(s.fileIndex).String()
		if file == "" {
			continue
		}
		dst := v.FieldByIndex(s.index)
		if dst.String() != "" {
			p.add(s.filePath, "%s is set too (%s); set one of them", s.path, EnvName(s.path))
			continue
		}
		secret, err := c.readSecretFile(file)
		if err != nil {
			p.add(s.filePath, "%v", err)
			continue
		}
		dst.SetString(secret)
	}
}

// SecretFilesConfig is secret_files: how files holding secrets are read.
type SecretFilesConfig struct {
	// AllowLoosePermissions accepts secret files their group or others
	// may read. Kubernetes mounts Secrets 0644 (behind a 0755 symlink)
	// unless the volume sets defaultMode, Docker 0444; elsewhere chmod
	// 600 them instead. See docs/security.md.
	AllowLoosePermissions bool `yaml:"allow_loose_permissions" json:"allow_loose_permissions"`
}

// readOpts are the bounds every secret file of c is read with.
func (c *Config) readOpts(what string) secretfile.Options {
	return secretfile.Options{AllowLoose: c.SecretFiles.AllowLoosePermissions, What: what}
}

// readSecretFile reads a secret file: a regular file of at most 64 KiB
// (secretfile.Read), exactly one line, a trailing newline allowed. Errors
// name the file and never its content or how many lines it has.
func (c *Config) readSecretFile(path string) (string, error) {
	data, err := secretfile.Read(path, c.readOpts("secret file"))
	if err != nil {
		return "", err
	}
	s := string(data)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	switch {
	case strings.ContainsAny(s, "\r\n"):
		return "", fmt.Errorf("secret file %s holds more than one line; a secret file holds the secret alone on one line (a trailing newline is fine)", path)
	case strings.TrimSpace(s) == "":
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}

// resolveCredentials takes the key pair from the environment when
// ALIBABA_CLOUD_ACCESS_KEY_ID or _SECRET is set, else from
// cdn.credentials_file. The emulator's pair is filled in later by
// WithDefaults.
func (c *Config) resolveCredentials(getenv func(string) string, p *problems) {
	// credentials-go's variable for the URI is read where cdn.credentials.uri
	// is not set: it must pass the same rule.
	if u := getenv("ALIBABA_CLOUD_CREDENTIALS_URI"); u != "" && c.CDN.Credentials.URI == "" &&
		(c.CDN.Credentials.Type == credentials.ModeDefault || c.CDN.Credentials.Type == credentials.ModeCredentialsURI) {
		if err := credentials.CheckURL(u); err != nil {
			p.add("ALIBABA_CLOUD_CREDENTIALS_URI", "%v", err)
		}
	}
	if id := getenv(credentials.EnvAccessKeyID); id != "" || getenv(credentials.EnvAccessKeySecret) != "" {
		c.CDN.Credentials.Static = Credentials{
			AccessKeyID:     strings.TrimSpace(id),
			AccessKeySecret: secretfile.Secret(strings.TrimSpace(getenv(credentials.EnvAccessKeySecret))),
			SecurityToken:   secretfile.Secret(strings.TrimSpace(getenv(credentials.EnvSecurityToken))),
			Source:          "env",
		}
		return
	}
	if c.CDN.CredentialsFile == "" {
		return
	}
	data, err := secretfile.Read(c.CDN.CredentialsFile, c.readOpts("credentials file"))
	if err != nil {
		p.add("cdn.credentials_file", "%v", err)
		return
	}
	cr, err := parseCredentialsFile(c.CDN.CredentialsFile, data)
	if err != nil {
		p.add("cdn.credentials_file", "%v", err)
		return
	}
	c.CDN.Credentials.Static = cr
}

// credentialFileKeys maps the accepted keys of a credentials file (lower
// case) to the field they set.
var credentialFileKeys = map[string]string{
	strings.ToLower(credentials.EnvAccessKeyID): "id",
	"access_key_id": "id",
	strings.ToLower(credentials.EnvAccessKeySecret): "secret",
	"access_key_secret":                             "secret",
	strings.ToLower(credentials.EnvSecurityToken):   "token",
	"security_token":                                "token",
}

// parseCredentialsFile reads KEY=VALUE lines; keys are the environment
// names (ALIBABA_CLOUD_ACCESS_KEY_ID, ...) or their short forms
// (access_key_id, access_key_secret, security_token). Blank lines and
// lines starting with # are skipped. Errors name the file and the line,
// never any part of a line: a malformed line may be a pasted secret.
func parseCredentialsFile(path string, data []byte) (Credentials, error) {
	cr := Credentials{Source: "file " + path}
	seen := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Credentials{}, fmt.Errorf("%s line %d: want KEY=VALUE (the line is not shown, it may hold a secret)", path, i+1)
		}
		which, ok := credentialFileKeys[strings.ToLower(strings.TrimSpace(k))]
		if !ok {
			return Credentials{}, fmt.Errorf("%s line %d: unknown key (not shown, it may hold a secret); want %s, %s or %s",
				path, i+1, credentials.EnvAccessKeyID, credentials.EnvAccessKeySecret, credentials.EnvSecurityToken)
		}
		if prev, dup := seen[which]; dup {
			return Credentials{}, fmt.Errorf("%s line %d: the same key as line %d; keep one", path, i+1, prev)
		}
		seen[which] = i + 1
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch which {
		case "id":
			cr.AccessKeyID = v
		case "secret":
			cr.AccessKeySecret = secretfile.Secret(v)
		case "token":
			cr.SecurityToken = secretfile.Secret(v)
		}
	}
	return cr, nil
}
