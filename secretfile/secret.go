package secretfile

import "log/slog"

// Redacted is what a set Secret prints as.
const Redacted = "[redacted]"

// Secret is a string that never prints: String, GoString, LogValue,
// MarshalJSON and MarshalYAML all show Redacted (or "" when unset). Use
// Value to get the secret itself, only where it is needed. Every secret of
// the config (tokens, passwords, keys) is of this type, and the config
// loader knows secrets by it: a Secret is never read from the config file,
// only from its environment variable or its *_file.
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
