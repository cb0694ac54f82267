package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReservedIDPrefix starts every message ID the scheduler uses
// (sched-<name>-<tick>). No producer-supplied job ID or dedupe key may
// start with it, so that no producer can take a tick's ID.
const ReservedIDPrefix = "sched-"

// ReservedID reports whether id is in the scheduler's ID space (compared
// without regard to case, so that lookalikes are refused too).
func ReservedID(id string) bool {
	return len(id) >= len(ReservedIDPrefix) && strings.EqualFold(id[:len(ReservedIDPrefix)], ReservedIDPrefix)
}

// Tick is what the scheduler publishes on Subjects.Sched(name): only the
// schedule's name and the tick's time. The worker takes the action, its
// parameters and the domains from its own configuration, never from the
// message (see docs/security.md).
type Tick struct {
	Version  int       `json:"v"`
	Schedule string    `json:"schedule"`
	Tick     time.Time `json:"tick"`
}

// EncodeTick returns the wire form of a tick.
func EncodeTick(t Tick) ([]byte, error) {
	if t.Version == 0 {
		t.Version = WireVersion
	}
	t.Tick = t.Tick.UTC()
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode tick of schedule %s: %w", t.Schedule, err)
	}
	return b, nil
}

// DecodeTick parses a tick message strictly: unknown fields (an action or
// parameters smuggled in), a missing schedule or time, or trailing data
// are refused with an error wrapping ErrDecode.
func DecodeTick(data []byte) (Tick, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Tick
	if err := dec.Decode(&t); err != nil {
		return Tick{}, fmt.Errorf("%w: tick message: %s", ErrDecode, describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Tick{}, fmt.Errorf("%w: data after the tick object", ErrDecode)
	}
	if t.Version == 0 {
		t.Version = WireVersion
	}
	switch {
	case t.Version != WireVersion:
		return Tick{}, fmt.Errorf("%w: tick wire version %d: want %d", ErrDecode, t.Version, WireVersion)
	case !validToken(t.Schedule):
		return Tick{}, fmt.Errorf("%w: tick message: schedule: want the name of a configured schedule", ErrDecode)
	case t.Tick.IsZero():
		return Tick{}, fmt.Errorf("%w: tick message: tick: want the RFC 3339 time of the tick", ErrDecode)
	}
	return t, nil
}
