package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/secretfile"
)

// document is what Load learned of where each value came from: the line of
// every key in the file, the leaves the file or the environment gave a
// value, and the variable of each leaf set from the environment.
type document struct {
	lines map[string]int
	set   map[string]bool
	env   map[string]string
}

func newDocument() *document {
	return &document{lines: map[string]int{}, set: map[string]bool{}, env: map[string]string{}}
}

// maxNodes bounds the nodes one config may expand to, aliases included,
// so that an alias bomb is refused instead of decoded.
const maxNodes = 100_000

// decoder fills a Config from a yaml.Node tree field by field, so that
// every problem names its path and line and one bad value does not hide
// the others.
type decoder struct {
	doc   *document
	p     *problems
	nodes int
}

// decodeYAML decodes one YAML document into c. A syntax error is returned
// as the error (nothing else can be read); every other problem goes to p.
func decodeYAML(data []byte, c *Config, doc *document, p *problems) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is all defaults
		}
		return fmt.Errorf("not valid YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document; keep the whole config in one")
	}
	n := &root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	d := &decoder{doc: doc, p: p}
	d.value(n, reflect.ValueOf(c).Elem(), "")
	return nil
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	secretType      = reflect.TypeFor[secretfile.Secret]()
	credentialsType = reflect.TypeFor[Credentials]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// isSecretType reports whether values of t are secrets: those of type
// secretfile.Secret, the one type every package keeps its secrets in.
func isSecretType(t reflect.Type) bool { return t == secretType }

func (d *decoder) problem(n *yaml.Node, path, format string, args ...any) {
	*d.p = append(*d.p, FieldError{Field: path, Msg: fmt.Sprintf(format, args...), Line: n.Line})
}

// value decodes n into v, whose YAML path is path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.problem(n, or(path, "config"), "more than %d values (aliases expanding?); keep the config plain", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if path != "" {
		if _, ok := d.doc.lines[path]; !ok {
			d.doc.lines[path] = n.Line
		}
	}
	if isNull(n) {
		return // a key without a value is the same as no key: the default
	}
	t := v.Type()
	switch {
	case t == credentialsType:
		d.problem(n, path, "%v", errCredentialsInYAML)
		return
	case isSecretType(t):
		d.secret(n, v, path)
		return
	case t == domainType:
		d.domain(n, v, path)
		return
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(n, v.Elem(), path)
		return
	case reflect.PointerTo(t).Implements(unmarshalerType) || t == durationType || isScalarKind(t.Kind()):
		d.scalar(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Map:
		d.dict(n, v, path)
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.problem(n, path, "%s", yamlMsg(err))
		}
		d.doc.set[path] = true
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func isScalarKind(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// secret refuses a secret written into the file, without repeating it. An
// empty value is accepted (what `config check` prints for a secret).
func (d *decoder) secret(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && n.Value == "" {
		return
	}
	d.problem(n, path, "%s", secretInFileMsg(path, v))
}

// secretInFileMsg says where a secret goes instead of the file.
func secretInFileMsg(path string, _ reflect.Value) string {
	msg := "secrets never belong in the config file: set " + EnvName(path)
	if fileField := path + "_file"; secretFilePaths()[fileField] {
		msg += " or point " + fileField + " at a file holding it"
	}
	return msg
}

// scalar decodes a single value; a type error says what was expected.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	if n.Kind != yaml.ScalarNode && !custom {
		d.problem(n, path, "want %s, got %s", describeType(t), describeNode(n))
		return
	}
	tmp := reflect.New(t)
	if err := n.Decode(tmp.Interface()); err != nil {
		if custom {
			d.problem(n, path, "%s", yamlMsg(err))
			return
		}
		d.problem(n, path, "%s", typeMismatch(n, t))
		return
	}
	if t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64 {
		// .nan and .inf are YAML floats but never a setting.
		if f := tmp.Elem().Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			d.problem(n, path, "%s is not a finite number", n.Value)
			return
		}
	}
	v.Set(tmp.Elem())
	d.doc.set[path] = true
}

// typeMismatch reads `cannot use 30 (a number) as a duration; write it as "30s"`.
func typeMismatch(n *yaml.Node, t reflect.Type) string {
	val := n.Value
	if len(val) > 40 {
		val = val[:40] + "..."
	}
	msg := fmt.Sprintf("cannot use %s (%s) as %s", strconv.Quote(val), describeNode(n), describeType(t))
	if n.Tag == "!!int" || n.Tag == "!!float" {
		msg = fmt.Sprintf("cannot use %s (%s) as %s", val, describeNode(n), describeType(t))
	}
	switch {
	case t == durationType && (n.Tag == "!!int" || n.Tag == "!!float"):
		msg += fmt.Sprintf("; write it as \"%ss\"", val)
	case t == durationType:
		msg += "; use Go syntax such as 500ms, 30s, 5m or 1h"
	case t.Kind() == reflect.Bool:
		msg += "; write true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		msg += "; write a whole number such as 10"
	}
	return msg
}

// describeType names what a field holds, for error messages.
func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "a whole number"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return "a whole number >= 0"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a mapping (key: value lines)"
	}
	return t.String()
}

// describeNode names what the file holds at n.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!str":
		return "a string"
	}
	return "a " + strings.TrimPrefix(n.Tag, "!!")
}

// yamlMsg strips yaml.v3's prefixes ("yaml: unmarshal errors:\n  line 3: ").
func yamlMsg(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			if _, rest, ok := strings.Cut(e, ": "); ok && strings.HasPrefix(e, "line ") {
				e = rest
			}
			msgs[i] = e
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// mapping decodes a struct, field by field.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n, or(path, "config"), "want a mapping (key: value lines), got %s", describeNode(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name := k.Value
		fpath := joinPath(path, name)
		if l, dup := seen[name]; dup {
			d.problem(k, fpath, "set twice (also on line %d); keep one", l)
			continue
		}
		seen[name] = k.Line
		f, ok := fields[name]
		if !ok {
			d.unknown(k, path, name, fields)
			continue
		}
		d.doc.lines[fpath] = k.Line
		d.value(val, v.FieldByIndex(f.index), fpath)
	}
}

func (d *decoder) unknown(k *yaml.Node, path, name string, fields map[string]field) {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	msg := "unknown field"
	if s := didYouMean(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", joinPath(path, s))
	} else {
		msg += "; known fields here: " + strings.Join(names, ", ")
	}
	d.problem(k, joinPath(path, name), "%s", msg)
}

// sequence decodes a list, item by item.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "want a list, got %s", describeNode(n))
		return
	}
	d.doc.set[path] = true
	if len(n.Content) == 0 {
		v.Set(reflect.Zero(v.Type())) // [] is no list, as when absent
		return
	}
	list := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, list.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(list)
}

// dict decodes a map with string keys.
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "want a mapping (key: value lines), got %s", describeNode(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.problem(n, path, "%s", yamlMsg(err))
		}
		return
	}
	d.doc.set[path] = true
	if len(n.Content) == 0 {
		v.Set(reflect.Zero(v.Type())) // {} is no map, as when absent
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kpath := joinPath(path, k.Value)
		if m.MapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key())).IsValid() {
			d.problem(k, kpath, "set twice; keep one")
			continue
		}
		d.doc.lines[kpath] = k.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(val, elem, kpath)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// field is one YAML key of a struct: the index path to its Go field
// (through inlined structs).
type field struct {
	index []int
	typ   reflect.Type
}

// fieldsOf maps each YAML key of struct type t to its field.
func fieldsOf(t reflect.Type) map[string]field {
	out := map[string]field{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, inline := yamlName(sf)
			idx := append(slices.Clone(prefix), i)
			if inline {
				walk(sf.Type, idx)
				continue
			}
			if name == "-" {
				continue
			}
			out[name] = field{index: idx, typ: sf.Type}
		}
	}
	walk(t, nil)
	return out
}
