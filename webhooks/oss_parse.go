package webhooks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// Media types of the OSS hook. EventBridge's HTTP target sends CloudEvents
// 1.0 in the structured content mode, one event or a batch (CloudEvents
// "JSON Event Format", sections 3 and 4); Function Compute's OSS trigger
// and forwarders send OSS's own notification body as application/json.
const (
	mediaCloudEvent      = "application/cloudevents+json"
	mediaCloudEventBatch = "application/cloudevents-batch+json"
)

// maxOSSEvents bounds the events of one request: each is stored on its
// own (its own idempotency key), and the answer must come before the
// sender's timeout.
const maxOSSEvents = 1000

// ossEvent is one object event, from either body.
type ossEvent struct {
	index int    // position in the request
	id    string // the CloudEvent's id; empty in OSS's own body
	// name is the OSS event name, for example ObjectCreated:PutObject.
	name   string
	time   string
	bucket string
	key    string
	etag   string
}

// object names the event's object for answers and logs.
func (e ossEvent) object() string { return e.bucket + "/" + e.key }

// ossData is the OSS part of an event: a CloudEvent's data, or one entry
// of OSS's own {"events":[...]} body. Fields as in the sample of Function
// Compute's "OSS triggers" page and EventBridge's "OSS events" page.
type ossData struct {
	EventName   string `json:"eventName"`
	EventSource string `json:"eventSource"`
	EventTime   string `json:"eventTime"`
	OSS         *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			// Key is kept raw: a key that is not UTF-8 is refused by
			// name, never mapped to the URL of another object.
			Key  json.RawMessage `json:"key"`
			ETag string          `json:"eTag"`
		} `json:"object"`
	} `json:"oss"`
}

// cloudEvent is the envelope of an EventBridge event (CloudEvents 1.0
// attributes; EventBridge's own aliyun* extensions are not read).
type cloudEvent struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Time        string          `json:"time"`
	Data        json.RawMessage `json:"data"`
}

// errNotOSSBody is a body that is none of the accepted forms.
var errNotOSSBody = errors.New(`want a CloudEvent from EventBridge (an object with specversion), a batch of them (a JSON array), or OSS's notification body {"events":[...]}`)

// parseOSS reads an OSS hook body: a structured CloudEvent, a batch of
// them, or OSS's own {"events":[...]}. A body that is none of these is an
// error (the request is refused); an entry that is malformed is a problem
// of its own (refused with its reason) and the others are kept.
func parseOSS(mediaType string, body []byte) ([]ossEvent, []jobs.Problem, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] != '{' && body[0] != '[' {
		// Message queues may carry the notification base64-encoded.
		if dec, err := base64.StdEncoding.DecodeString(string(body)); err == nil {
			body = bytes.TrimSpace(dec)
		}
	}
	if len(body) == 0 {
		return nil, nil, errors.New("empty body: " + errNotOSSBody.Error())
	}
	var entries []json.RawMessage
	native := false
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &entries); err != nil {
			return nil, nil, fmt.Errorf("batch of CloudEvents: %w", err)
		}
	case '{':
		if mediaType == mediaCloudEventBatch {
			return nil, nil, fmt.Errorf("content type %s wants a JSON array of CloudEvents", mediaCloudEventBatch)
		}
		var probe struct {
			SpecVersion json.RawMessage `json:"specversion"`
			Events      json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(body, &probe); err != nil {
			return nil, nil, fmt.Errorf("body: %w", err)
		}
		switch {
		case probe.SpecVersion != nil:
			entries = []json.RawMessage{body}
		case probe.Events != nil:
			if err := json.Unmarshal(probe.Events, &entries); err != nil {
				return nil, nil, fmt.Errorf("events: want a list of OSS events: %w", err)
			}
			native = true
		default:
			return nil, nil, errNotOSSBody
		}
	default:
		return nil, nil, errNotOSSBody
	}
	if len(entries) > maxOSSEvents {
		return nil, nil, fmt.Errorf("%d events in one request, more than %d; lower the sender's batch size", len(entries), maxOSSEvents)
	}
	var out []ossEvent
	var refused []jobs.Problem
	for i, raw := range entries {
		var ev ossEvent
		var err error
		if native {
			ev, err = parseOSSNative(raw)
		} else {
			ev, err = parseCloudEvent(raw)
		}
		if err != nil {
			p := jobs.Problem{Field: fmt.Sprintf("events[%d]", i), Reason: err.Error()}
			if ev.bucket != "" {
				p.File = jobs.ShowInvalidUTF8(ev.object())
			}
			refused = append(refused, p)
			continue
		}
		ev.index = i
		out = append(out, ev)
	}
	return out, refused, nil
}

// parseCloudEvent reads one EventBridge event.
func parseCloudEvent(raw []byte) (ossEvent, error) {
	var ce cloudEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		return ossEvent{}, fmt.Errorf("not a CloudEvent: %w", err)
	}
	switch {
	case ce.SpecVersion != "1.0":
		return ossEvent{}, fmt.Errorf("specversion %q: want 1.0", clip(ce.SpecVersion, maxEchoValue))
	case ce.ID == "":
		return ossEvent{}, errors.New("id missing: every CloudEvent has one")
	case ce.Source != "acs.oss":
		return ossEvent{}, fmt.Errorf("source %q is not acs.oss: send only OSS events here (filter the EventBridge rule on source acs.oss)", clip(ce.Source, maxEchoValue))
	case len(ce.Data) == 0 || string(ce.Data) == "null":
		return ossEvent{}, errors.New("data missing: the event must be delivered whole (EventBridge target transform: complete event)")
	}
	name, ok := strings.CutPrefix(ce.Type, "oss:")
	if !ok {
		return ossEvent{}, fmt.Errorf("type %q: want oss:<event>, such as oss:ObjectCreated:PutObject", clip(ce.Type, maxEchoValue))
	}
	ev, err := ossFromData(ce.Data, name)
	ev.id = ce.ID
	if ev.time == "" {
		ev.time = ce.Time
	}
	return ev, err
}

// parseOSSNative reads one entry of OSS's own notification body.
func parseOSSNative(raw []byte) (ossEvent, error) {
	return ossFromData(raw, "")
}

// ossFromData reads the OSS fields of an event. name is the CloudEvent's
// type without "oss:" (empty: data.eventName). Events that are not about
// objects (buckets, monitoring) need no bucket or key.
func ossFromData(raw []byte, name string) (ossEvent, error) {
	var d ossData
	if err := json.Unmarshal(raw, &d); err != nil {
		return ossEvent{}, fmt.Errorf("data: %w", err)
	}
	if name == "" {
		name = d.EventName
	}
	ev := ossEvent{name: name, time: d.EventTime}
	switch {
	case name == "":
		return ev, errors.New("eventName missing")
	case !strings.HasPrefix(name, "Object"):
		return ev, nil // not about an object: answered "nothing to do"
	case d.OSS == nil:
		return ev, errors.New("oss missing: an object event names its bucket and object under oss")
	}
	ev.bucket = d.OSS.Bucket.Name
	ev.etag = d.OSS.Object.ETag
	if ev.bucket == "" {
		return ev, errors.New("oss.bucket.name missing")
	}
	raw = d.OSS.Object.Key
	if len(raw) == 0 || string(raw) == "null" {
		return ev, errors.New("oss.object.key missing")
	}
	if err := json.Unmarshal(raw, &ev.key); err != nil {
		return ev, fmt.Errorf("oss.object.key: %w", err)
	}
	if !jobs.ValidJSONString(raw) {
		ev.key = string(bytes.Trim(bytes.TrimSpace(raw), `"`))
		return ev, errors.New("oss.object.key is not valid UTF-8; it was not mapped to a URL")
	}
	if ev.key == "" {
		return ev, errors.New("oss.object.key is empty")
	}
	return ev, nil
}

// ossChange classifies an OSS event name: created or removed (the object
// served at its URL changed), or "" with the reason nothing changed.
// Names as listed on EventBridge's "OSS events" page and OSS's "Event
// notifications" page.
func ossChange(name string) (change, none string) {
	class, op, _ := strings.Cut(name, ":")
	switch class {
	case "ObjectCreated":
		switch op {
		case "InitiateMultipartUpload", "UploadPart", "UploadPartCopy":
			return "", "a part of a multipart upload: the object changes at CompleteMultipartUpload"
		}
		return ossCreated, ""
	case "ObjectRemoved":
		if op == "AbortMultipartUpload" {
			return "", "an aborted multipart upload changes no object"
		}
		return ossRemoved, ""
	case "ObjectReplication":
		switch op {
		case "ObjectCreated", "ObjectModified":
			return ossCreated, ""
		case "ObjectRemoved":
			return ossRemoved, ""
		}
	}
	return "", fmt.Sprintf("event %s changes no object's content", clip(name, maxEchoValue))
}
