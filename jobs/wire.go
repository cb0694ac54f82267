package jobs

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrDecode marks a message that is not a well-formed job in the wire
// format. Decode errors wrap it; they are never worth retrying.
var ErrDecode = errors.New("not a valid cdnpurge job")

// idEncoding is lower-case Crockford-free base32 without padding: subject
// safe, URL safe and sortable when the leading bytes are a timestamp.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewID returns a new job ID: 26 characters, sortable by creation time
// (millisecond timestamp followed by 80 random bits), safe as a subject
// token.
func NewID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		// crypto/rand does not fail on supported platforms; a panic here
		// is better than two jobs sharing an ID.
		panic(fmt.Sprintf("jobs: read random bytes for job ID: %v", err))
	}
	return idEncoding.EncodeToString(b[:])
}

// IDFromKey returns a job ID derived from key, the same for the same key.
// Producers use it when the sender gives a delivery ID, so a redelivery
// reports the same job IDs the first delivery did.
func IDFromKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return idEncoding.EncodeToString(sum[:16])
}

// OpName returns the name an operation job is published under: the
// schedule's name when it came from one, the action otherwise.
func (j *Job) OpName() string {
	if j.Operation == nil {
		return ""
	}
	if j.Operation.Schedule != "" {
		return j.Operation.Schedule
	}
	return j.Operation.Action
}

// Encode returns the wire form of j. It writes WireVersion when j has no
// version set.
func Encode(j *Job) ([]byte, error) {
	c := *j
	if c.Version == 0 {
		c.Version = WireVersion
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode job %s: %w", j.ID, err)
	}
	return b, nil
}

// Decode parses a job in the wire format. It refuses, with an error wrapping
// ErrDecode: malformed JSON, trailing data, unknown fields (a typo such as
// "object_typ" would otherwise silently change what is purged), a version
// newer than WireVersion, a missing or unknown kind, and a section that does
// not match the kind. A missing "v" is read as version 1. A path that is
// not valid UTF-8 in the raw message (which JSON decoding would rewrite to
// U+FFFD) is refused with an error that also wraps a *ValidationError
// naming the path's index. Decode does not otherwise validate paths; use
// Validator.Validate for that.
func Decode(data []byte) (*Job, error) { return DecodeKind(data, "") }

// DecodeKind is Decode where defaultKind is used when the message has no
// "kind" (for example when the subject already says what it is).
func DecodeKind(data []byte, defaultKind Kind) (*Job, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j Job
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrDecode, describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object; send exactly one job per message", ErrDecode)
	}
	if j.Version == 0 {
		j.Version = WireVersion
	}
	if j.Version < 0 || j.Version > WireVersion {
		return nil, fmt.Errorf("%w: wire version %d is not supported (this build reads up to %d); upgrade cdnpurge or publish version %d", ErrDecode, j.Version, WireVersion, WireVersion)
	}
	if j.Kind == "" {
		j.Kind = defaultKind
	}
	if err := checkShape(&j); err != nil {
		return nil, err
	}
	// Decoding replaced invalid UTF-8 with U+FFFD; look at the raw bytes so
	// that such a path is refused, never purged as another URL.
	if ps := checkRawPaths(data); len(ps) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrDecode, &ValidationError{JobID: j.ID, Problems: ps})
	}
	return &j, nil
}

// checkShape makes sure exactly the section matching the kind is present.
func checkShape(j *Job) error {
	sections := map[Kind]bool{
		KindRefresh:   j.Refresh != nil,
		KindPush:      j.Push != nil,
		KindOperation: j.Operation != nil,
	}
	if _, ok := sections[j.Kind]; !ok {
		if j.Kind == "" {
			return fmt.Errorf("%w: missing \"kind\"; set it to refresh, push or operation", ErrDecode)
		}
		return fmt.Errorf("%w: unknown kind %q; want refresh, push or operation", ErrDecode, j.Kind)
	}
	if !sections[j.Kind] {
		return fmt.Errorf("%w: kind %q needs a %q section", ErrDecode, j.Kind, string(j.Kind))
	}
	var extra []string
	for _, k := range []Kind{KindRefresh, KindPush, KindOperation} {
		if k != j.Kind && sections[k] {
			extra = append(extra, string(k))
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("%w: kind %q must not carry a %s section; send one job per kind", ErrDecode, j.Kind, strings.Join(extra, " or "))
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: got JSON %s, want %s", typ.Field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF):
		return "empty message; send one JSON job object"
	}
	return err.Error()
}

// Prepare fills what a producer may leave out: the version, an ID (NewID),
// the source and the time received (now). Fields already set are kept.
func (j *Job) Prepare(source string, now time.Time) {
	if j.Version == 0 {
		j.Version = WireVersion
	}
	if j.ID == "" {
		j.ID = NewID()
	}
	if j.Source == "" {
		j.Source = source
	}
	if j.ReceivedAt.IsZero() {
		j.ReceivedAt = now.UTC()
	}
}
