package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/redact"
)

// ValidatorConfig configures path validation for every producer.
type ValidatorConfig struct {
	// Domains is the allowlist: exact host names ("static.example.com") or
	// wildcards ("*.example.com", which matches any subdomain at any depth
	// but not example.com itself). Required.
	Domains []string
	// DefaultScheme is used for paths given without a scheme: "https"
	// (default) or "http".
	DefaultScheme string
	// MaxPathLength caps a normalised path; 0 means apiclient.CDN().Caps.PathLength.
	MaxPathLength int
	// MaxPaths caps the paths in one job; 0 means DefaultMaxPaths.
	MaxPaths int
}

// DefaultMaxPaths is the default cap on paths in one job. The worker splits
// jobs into API-sized batches; the cap keeps one message well under the NATS
// payload limit.
const DefaultMaxPaths = 5000

// Validator checks and normalises jobs against the domain allowlist. It is
// safe for concurrent use.
type Validator struct {
	exact    map[string]int // host -> index in ValidatorConfig.Domains
	suffixes []suffix       // longest first
	scheme   string
	maxLen   int
	maxPaths int
}

// NewValidator builds a Validator; it refuses an empty allowlist or a
// malformed entry, naming it.
func NewValidator(cfg ValidatorConfig) (*Validator, error) {
	v := &Validator{exact: map[string]int{}, scheme: strings.ToLower(cfg.DefaultScheme), maxLen: cfg.MaxPathLength, maxPaths: cfg.MaxPaths}
	if v.scheme == "" {
		v.scheme = "https"
	}
	if v.scheme != "http" && v.scheme != "https" {
		return nil, fmt.Errorf("default scheme %q: want http or https", cfg.DefaultScheme)
	}
	if v.maxLen <= 0 || v.maxLen > apiclient.CDN().Caps.PathLength {
		v.maxLen = apiclient.CDN().Caps.PathLength
	}
	if v.maxPaths <= 0 {
		v.maxPaths = DefaultMaxPaths
	}
	if len(cfg.Domains) == 0 {
		return nil, errors.New("domain allowlist is empty: list the CDN domains cdnpurge may purge (exact hosts or *.example.com)")
	}
	for i, d := range cfg.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		host, wild := strings.CutPrefix(d, "*.")
		if !validHost(host) || !strings.Contains(host, ".") && wild {
			return nil, fmt.Errorf("domains[%d] %q: want a host name such as static.example.com or *.example.com", i, cfg.Domains[i])
		}
		if wild {
			v.suffixes = append(v.suffixes, suffix{"." + host, i})
		} else if _, dup := v.exact[host]; !dup {
			v.exact[host] = i
		}
	}
	// The most specific wildcard first; equal lengths keep list order.
	slices.SortStableFunc(v.suffixes, func(a, b suffix) int { return len(b.s) - len(a.s) })
	return v, nil
}

// suffix is a wildcard entry: ".example.com" for "*.example.com" at index i.
type suffix struct {
	s string
	i int
}

// Allowed reports whether host (lower case, without port) is on the
// allowlist.
func (v *Validator) Allowed(host string) bool {
	_, ok := v.Match(host)
	return ok
}

// Match returns the index in ValidatorConfig.Domains of the entry that
// lets host (lower case, without port) in: the exact entry if there is
// one, else the wildcard with the longest suffix, else the first listed
// of equals. ok is false when no entry does (Allowed is false). Config
// uses it to find which product serves a host.
func (v *Validator) Match(host string) (i int, ok bool) {
	if i, ok := v.exact[host]; ok {
		return i, true
	}
	for _, s := range v.suffixes {
		if strings.HasSuffix(host, s.s) && len(host) > len(s.s) {
			return s.i, true
		}
	}
	return -1, false
}

// Problem is one reason a job was refused.
type Problem struct {
	// Field is where the problem is, for example "refresh.paths[2]".
	Field string `json:"field"`
	// Path is the offending path as received, when the problem is a path.
	Path string `json:"path,omitempty"`
	// File is the repository file a hook mapped Path from, if any.
	File string `json:"file,omitempty"`
	// Reason says what is wrong and what is expected.
	Reason string `json:"reason"`
}

// ValidationError lists every problem of a refused job. Nothing of such a
// job is queued.
type ValidationError struct {
	JobID    string
	Problems []Problem
}

// Error lists the problems on one line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s refused, %d problem(s): ", e.JobID, len(e.Problems))
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Field)
		if p.Path != "" {
			fmt.Fprintf(&b, " %q", p.Path)
		}
		b.WriteString(": ")
		b.WriteString(p.Reason)
	}
	return b.String()
}

func (e *ValidationError) add(field, path, reason string) {
	e.Problems = append(e.Problems, Problem{Field: field, Path: path, Reason: reason})
}

// Validate checks j and normalises its paths in place (duplicates after
// normalisation are dropped, order kept). On any problem it leaves j
// unchanged and returns a *ValidationError listing all of them.
func (v *Validator) Validate(j *Job) error {
	ve := &ValidationError{JobID: j.ID}
	if err := checkShape(j); err != nil {
		ve.add("kind", "", strings.TrimPrefix(err.Error(), ErrDecode.Error()+": "))
		return ve
	}
	switch {
	case j.ID == "":
		ve.add("id", "", "missing job ID")
	case !validToken(j.ID) || j.ID == InvalidToken:
		ve.add("id", "", fmt.Sprintf("%q: use 1-64 letters, digits, '-' or '_' (it becomes a subject token), not %q", j.ID, InvalidToken))
	case ReservedID(j.ID):
		ve.add("id", "", fmt.Sprintf("%q: IDs starting with %q are the scheduler's; choose another ID or leave it out", j.ID, ReservedIDPrefix))
	}
	if j.Version != WireVersion {
		ve.add("v", "", fmt.Sprintf("version %d: want %d", j.Version, WireVersion))
	}
	if j.Priority.Rank() < 0 {
		ve.add("priority", "", fmt.Sprintf("%q: want high, normal or low (or leave it out for normal)", j.Priority))
	}
	// The source is shown to operators (jobs list, logs): a control byte
	// there could clear a terminal or forge a table row.
	if redact.NeedsEscape(j.Source) {
		ve.add("source", "", fmt.Sprintf("%s: holds a control character, U+FFFD or a byte that is not UTF-8; send plain text", redact.Clip(redact.Escape(j.Source), 128)))
	}
	var norm []string
	switch j.Kind {
	case KindRefresh:
		norm = v.validateRefresh(j.Refresh, ve)
	case KindPush:
		norm = v.validatePush(j.Push, ve)
	case KindOperation:
		validateOperation(j.Operation, ve)
	}
	if len(ve.Problems) > 0 {
		return ve
	}
	switch j.Kind {
	case KindRefresh:
		ot, _ := apiclient.ParseObjectType(j.Refresh.ObjectType)
		j.Refresh.ObjectType = string(ot)
		j.Refresh.Paths = norm
	case KindPush:
		j.Push.Paths = norm
	}
	return nil
}

func (v *Validator) validateRefresh(r *RefreshSpec, ve *ValidationError) []string {
	ot, err := apiclient.ParseObjectType(r.ObjectType)
	if err != nil {
		ve.add("refresh.object_type", "", err.Error())
		return nil
	}
	if r.Force != nil && ot == apiclient.ObjectFile {
		ve.add("refresh.force", "", "force only applies to Directory, Regex and ExQuery; leave it out for File")
	}
	if ot == apiclient.ObjectRegex && len(r.Paths) != 1 {
		ve.add("refresh.paths", "", fmt.Sprintf("a Regex job carries exactly one rule, got %d; send one job per rule", len(r.Paths)))
	}
	return v.normalizeAll("refresh.paths", r.Paths, ot, ve)
}

func (v *Validator) validatePush(p *PushSpec, ve *ValidationError) []string {
	switch p.Area {
	case "", "domestic", "overseas":
	default:
		ve.add("push.area", "", fmt.Sprintf("%q: want domestic, overseas or empty", p.Area))
	}
	if p.WithHeader != "" {
		var h map[string]string
		if err := json.Unmarshal([]byte(p.WithHeader), &h); err != nil {
			ve.add("push.with_header", "", "want a JSON object of header names to string values, for example {\"Accept-Encoding\":\"gzip\"}")
		}
	}
	return v.normalizeAll("push.paths", p.Paths, apiclient.ObjectFile, ve)
}

func validateOperation(o *OperationSpec, ve *ValidationError) {
	if o.Action == "" {
		ve.add("operation.action", "", "missing API action, for example ModifyCdnService")
	} else if !validToken(o.Action) {
		ve.add("operation.action", "", fmt.Sprintf("%q: want an API action name such as ModifyCdnService", o.Action))
	}
	if o.Schedule != "" && !validToken(o.Schedule) {
		ve.add("operation.schedule", "", fmt.Sprintf("%q: use 1-64 letters, digits, '-' or '_'", o.Schedule))
	}
}

func (v *Validator) normalizeAll(field string, paths []string, ot apiclient.ObjectType, ve *ValidationError) []string {
	if len(paths) == 0 {
		ve.add(field, "", "no paths; give at least one URL")
		return nil
	}
	if len(paths) > v.maxPaths {
		ve.add(field, "", fmt.Sprintf("%d paths, at most %d per job; split the job", len(paths), v.maxPaths))
		return nil
	}
	out := make([]string, 0, len(paths))
	seen := make(map[string]bool, len(paths))
	for i, p := range paths {
		n, err := v.Normalize(p, ot)
		if err != nil {
			ve.add(fmt.Sprintf("%s[%d]", field, i), p, err.Error())
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Normalize checks one path of the given object type and returns its
// normal form: scheme and host lower case (the default scheme added when
// missing), a path of at least "/", fragments dropped, spaces and non-ASCII
// bytes percent-encoded (not for Regex, whose rule is kept verbatim), and a
// trailing "/" for directories. The error says what is wrong.
func (v *Validator) Normalize(raw string, ot apiclient.ObjectType) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("empty path")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", fmt.Errorf("control character %U inside the path; send one path per entry, without newlines or tabs", r)
		}
	}
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	scheme := v.scheme
	rest := s
	if i := strings.Index(s, "://"); i >= 0 {
		scheme = strings.ToLower(s[:i])
		rest = s[i+3:]
		if scheme != "http" && scheme != "https" {
			return "", fmt.Errorf("scheme %q: want http or https", s[:i])
		}
	} else if strings.HasPrefix(s, "/") {
		return "", errors.New("no host: give a full URL such as https://static.example.com/a.css")
	}
	hostport, path := rest, "/"
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		hostport, path = rest[:i], rest[i:]
		if path[0] != '/' {
			path = "/" + path
		}
	}
	if strings.Contains(hostport, "@") {
		return "", errors.New("user info in the URL is not allowed")
	}
	hostport = strings.ToLower(hostport)
	host, port, hasPort := strings.Cut(hostport, ":")
	if hasPort && !validPort(port) {
		return "", fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	if !validHost(host) {
		return "", fmt.Errorf("host %q is not a valid host name", host)
	}
	if !v.Allowed(host) {
		return "", fmt.Errorf("host %q is not on the domain allowlist; add it to the config or fix the URL", host)
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		hostport = host
	}
	if ot != apiclient.ObjectRegex {
		if i := strings.IndexByte(path, '#'); i >= 0 {
			path = path[:i]
		}
		if path == "" {
			path = "/"
		}
		path = escapePath(path)
	}
	switch ot {
	case apiclient.ObjectDirectory:
		if strings.ContainsAny(path, "?") {
			return "", errors.New("a directory cannot have a query string")
		}
		if !strings.HasSuffix(path, "/") {
			path += "/"
		}
	}
	out := scheme + "://" + hostport + path
	if len(out) > v.maxLen {
		return "", fmt.Errorf("%d characters after normalisation, at most %d", len(out), v.maxLen)
	}
	return out, nil
}

// escapePath percent-encodes spaces, quotes, angle brackets, backslashes
// and non-ASCII bytes, leaving existing escapes alone.
func escapePath(p string) string {
	need := false
	for i := 0; i < len(p); i++ {
		if mustEscape(p[i]) {
			need = true
			break
		}
	}
	if !need {
		return p
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if mustEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func mustEscape(c byte) bool {
	return c >= 0x80 || c == ' ' || c == '"' || c == '<' || c == '>' || c == '\\' || c == '`' || c == '{' || c == '}' || c == '|' || c == '^'
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n >= 1 && n <= 65535
}

// validHost accepts lower-case DNS names: labels of letters, digits and
// '-', not starting or ending with '-', at most 253 characters.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Distinct returns paths without repeats, in order of first appearance;
// paths itself is left as it is.
func Distinct(paths []string) []string {
	seen := make(map[string]struct{}, len(paths))
	out := paths[:0:0]
	for _, p := range paths {
		if _, ok := seen[p]; !ok {
			seen[p] = struct{}{}
			out = append(out, p)
		}
	}
	return out
}
