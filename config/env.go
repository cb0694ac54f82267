package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "CDNPURGE_"

// The environment rule: every scalar field (string, number, bool, duration,
// secret) and every list of strings can be set by CDNPURGE_ followed by its
// YAML path in upper case with "." replaced by "_": worker.linger is
// CDNPURGE_WORKER_LINGER, nats.embedded.port CDNPURGE_NATS_EMBEDDED_PORT.
// Lists are comma-separated (CDNPURGE_DOMAINS=a.example.com,b.example.com;
// domains set so are served by CDN, DCDN entries come from the file).
// Maps and lists of mappings (cdn.rate_limits, webhooks.rules, schedules)
// come from the file only. CDNPURGE_ENDPOINT (apiclient.EnvEndpoint) also
// sets cdn.endpoint; CDNPURGE_CDN_ENDPOINT wins when both are set.
// CDNPURGE_CONFIG names the file. Any other CDNPURGE_* variable is an
// error (with the closest known name), so that a typo never goes unseen.

// EnvName returns the environment variable that overrides the field at
// yamlPath ("worker.linger" → "CDNPURGE_WORKER_LINGER").
func EnvName(yamlPath string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(yamlPath))
}

// EnvVars lists every environment variable Load reads for fields, sorted.
func EnvVars() []string {
	var out []string
	walkScalars(reflect.ValueOf(&Config{}).Elem(), "", func(path string, _ reflect.Value) {
		out = append(out, EnvName(path))
	})
	out = append(out, apiclient.EnvEndpoint)
	slices.Sort(out)
	return out
}

// applyEnv sets every field whose CDNPURGE_* variable is set.
func applyEnv(c *Config, getenv func(string) string, doc *document, p *problems) {
	if v := getenv(apiclient.EnvEndpoint); v != "" {
		c.CDN.Endpoint = v
		doc.env["cdn.endpoint"] = apiclient.EnvEndpoint
		doc.set["cdn.endpoint"] = true
	}
	walkScalars(reflect.ValueOf(c).Elem(), "", func(path string, f reflect.Value) {
		name := EnvName(path)
		raw, ok := lookup(getenv, name)
		if !ok {
			return
		}
		doc.env[path] = name
		if err := setScalar(f, raw); err != nil {
			*p = append(*p, FieldError{Field: path, Env: name, Msg: err.Error()})
			delete(doc.set, path) // reported; not also as a replaced zero
			return
		}
		doc.set[path] = true
		// A list from the environment replaces the file's: its items'
		// paths no longer name what the file set.
		for q := range doc.set {
			if strings.HasPrefix(q, path+"[") {
				delete(doc.set, q)
			}
		}
	})
}

// checkEnviron reports every CDNPURGE_* variable of environ that no field
// has, with the closest known name.
func checkEnviron(environ []string, p *problems) {
	known := append(EnvVars(), EnvConfigFile)
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range slices.Compact(unknown) {
		msg := "unknown environment variable: no config field has this name"
		if s := didYouMean(name, known); s != "" {
			msg += "; did you mean " + s + "?"
		} else {
			msg += "; see docs/configuration.md for the naming rule"
		}
		p.add(name, "%s", msg)
	}
}

// lookup treats an empty variable as unset, as getenv cannot tell apart.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// walkScalars calls fn for every settable scalar or []string field under v,
// with its YAML path.
func walkScalars(v reflect.Value, path string, fn func(path string, f reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, inline := yamlName(sf)
		if name == "-" || sf.Type == credentialsType {
			continue
		}
		f := v.Field(i)
		p := joinPath(path, name)
		if inline {
			p = path
		}
		switch {
		case sf.Type == domainListType:
			fn(p, f) // names, comma-separated
		case sf.Type.Kind() == reflect.Struct:
			walkScalars(f, p, fn)
		case sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.String:
			fn(p, f)
		case sf.Type.Kind() == reflect.Map || sf.Type.Kind() == reflect.Slice || sf.Type.Kind() == reflect.Pointer:
			// From the file only.
		default:
			fn(p, f)
		}
	}
}

// setScalar parses raw into f by f's type. Errors never repeat the value,
// which may be a secret.
func setScalar(f reflect.Value, raw string) error {
	raw = strings.TrimSpace(raw)
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration; use Go syntax such as 500ms, 30s, 5m or 1h")
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(raw)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean; use true or false")
		}
		f.SetBool(b)
	case f.CanInt():
		n, err := strconv.ParseInt(raw, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		f.SetInt(n)
	case f.CanUint():
		n, err := strconv.ParseUint(raw, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a whole number >= 0")
		}
		f.SetUint(n)
	case f.CanFloat():
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("not a finite number")
		}
		f.SetFloat(x)
	case f.Type() == domainListType:
		var names []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				names = append(names, s)
			}
		}
		f.Set(reflect.ValueOf(namesAsDomains(names)))
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		list := reflect.MakeSlice(f.Type(), len(items), len(items))
		for i, s := range items {
			list.Index(i).SetString(s)
		}
		f.Set(list)
	default:
		return fmt.Errorf("type %s cannot be set from the environment", f.Type())
	}
	return nil
}
