package config

import (
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/cdnpurge/cdnpurge/secretfile"
	"github.com/cdnpurge/cdnpurge/worker"
)

// EnvConfigFile names the config file when --config is not given.
const EnvConfigFile = "CDNPURGE_CONFIG"

// LoadOption changes how Load reads the environment.
type LoadOption func(*loadOptions)

type loadOptions struct {
	environ      []string
	checkEnviron bool
}

// WithEnviron gives Load the whole environment ("KEY=value" entries, as
// os.Environ returns them), so that a CDNPURGE_* variable no field has is
// reported (with "did you mean") instead of silently ignored.
func WithEnviron(environ []string) LoadOption {
	return func(o *loadOptions) { o.environ, o.checkEnviron = environ, true }
}

// Load reads the config file at path ("" for none), applies the CDNPURGE_*
// environment overrides read through getenv (os.Getenv when nil, and then
// os.Environ is checked for unknown CDNPURGE_* names too), reads secrets
// from their *_file paths and the credentials, fills in defaults and
// validates. Every problem found, in the file, the environment and the
// values, is returned at once as Problems (in document order), each naming
// its field path and its line or variable.
func Load(path string, getenv func(string) string, opts ...LoadOption) (*Config, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	if getenv == nil {
		getenv = os.Getenv
		if !o.checkEnviron {
			o.environ, o.checkEnviron = os.Environ(), true
		}
	}
	c := &Config{source: path}
	doc := newDocument()
	var p problems
	if path != "" {
		// Bounded like a secret file (a FIFO or /dev/zero is refused, not
		// read forever); it holds no secret, so its mode is not checked.
		data, err := secretfile.Read(path, secretfile.Options{AllowLoose: true, Max: 4 << 20, What: "config file"})
		if err != nil {
			return nil, fmt.Errorf("read config: %w (pass --config FILE or set %s to an existing file)", err, EnvConfigFile)
		}
		if err := decodeYAML(data, c, doc, &p); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	checkURLSecrets(c, doc, &p)
	applyEnv(c, getenv, doc, &p)
	if o.checkEnviron {
		checkEnviron(o.environ, &p)
	}
	c.readSecretFiles(&p)
	c.resolveCredentials(getenv, &p)
	if !doc.set["worker.recent_window"] {
		// A zero is allowed here (off), so the default is set only when
		// the field is absent.
		c.Worker.RecentWindow = worker.DefaultRecentWindow
	}
	raw := *c
	*c = c.WithDefaults()
	checkReplaced(reflect.ValueOf(raw), reflect.ValueOf(*c), doc, &p)
	c.validate(&p)
	if len(p) > 0 {
		where := "config"
		if path != "" {
			where = "config " + path
		}
		return nil, fmt.Errorf("%s is invalid:\n%w", where, p.where(doc))
	}
	return c, nil
}

// urlFields are the URLs that may carry a password; in the file they must
// not (the environment variable is the place for it).
var urlFields = []string{"nats.url", "redis.url"}

// checkURLSecrets refuses a password or token inside a URL in the file.
func checkURLSecrets(c *Config, doc *document, p *problems) {
	for _, path := range urlFields {
		v, ok := valueAt(reflect.ValueOf(c).Elem(), path)
		if !ok || !doc.set[path] {
			continue
		}
		for part := range strings.SplitSeq(v.String(), ",") {
			u, err := url.Parse(strings.TrimSpace(part))
			if err != nil || u.User == nil {
				continue
			}
			if _, has := u.User.Password(); has || u.User.Username() != "" {
				p.add(path, "holds a password or token; secrets never belong in the config file: set %s instead", EnvName(path))
				break
			}
		}
	}
}

// checkReplaced reports a value given in the file or the environment that
// WithDefaults replaced (linger: 0s becoming 1s): a zero or negative that
// means "default" must not be written out, so that it is never taken
// silently. Absent fields take their defaults as usual.
func checkReplaced(raw, def reflect.Value, doc *document, p *problems) {
	paths := make([]string, 0, len(doc.set))
	for path := range doc.set {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		rv, ok1 := valueAt(raw, path)
		dv, ok2 := valueAt(def, path)
		if !ok1 || !ok2 || isComposite(rv.Type()) || reflect.DeepEqual(rv.Interface(), dv.Interface()) {
			continue
		}
		p.add(path, "%s is not allowed here: it would silently become the default %s; remove the field to take the default, or set another value",
			show(rv), show(dv))
	}
}

func isComposite(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Map, reflect.Struct, reflect.Pointer, reflect.Interface:
		return true
	case reflect.Slice:
		return !isScalarKind(t.Elem().Kind())
	}
	return false
}

// show prints a value for an error message; secrets never print.
func show(v reflect.Value) string {
	switch {
	case isSecretType(v.Type()):
		return "this secret"
	case v.Type() == durationType:
		return fmt.Sprint(v.Interface())
	case v.Kind() == reflect.String:
		return fmt.Sprintf("%q", v.String())
	case v.Kind() == reflect.Slice && v.Len() == 0:
		return "[]"
	}
	return fmt.Sprint(v.Interface())
}

// valueAt returns the value at a YAML path ("webhooks.rules[2].branch",
// "cdn.rate_limits.RefreshObjectCaches") under v.
func valueAt(v reflect.Value, path string) (reflect.Value, bool) {
	for path != "" {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		if strings.HasPrefix(path, "[") {
			end := strings.IndexByte(path, ']')
			var i int
			if end < 0 || v.Kind() != reflect.Slice {
				return reflect.Value{}, false
			}
			if _, err := fmt.Sscanf(path[1:end], "%d", &i); err != nil || i < 0 || i >= v.Len() {
				return reflect.Value{}, false
			}
			v, path = v.Index(i), strings.TrimPrefix(path[end+1:], ".")
			continue
		}
		name := path
		if i := strings.IndexAny(path, ".["); i >= 0 {
			name, path = path[:i], strings.TrimPrefix(path[i:], ".")
		} else {
			path = ""
		}
		switch v.Kind() {
		case reflect.Struct:
			f, ok := fieldsOf(v.Type())[name]
			if !ok {
				return reflect.Value{}, false
			}
			v = v.FieldByIndex(f.index)
		case reflect.Map:
			if v.Type().Key().Kind() != reflect.String {
				return reflect.Value{}, false
			}
			v = v.MapIndex(reflect.ValueOf(name).Convert(v.Type().Key()))
			if !v.IsValid() {
				return reflect.Value{}, false
			}
		default:
			return reflect.Value{}, false
		}
	}
	return v, true
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
