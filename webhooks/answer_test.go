package webhooks

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// The typed answers encode byte for byte as the maps the hooks sent
// before them did: the wire format is the senders'.
func TestAnswersKeepTheirWireFormat(t *testing.T) {
	t.Parallel()
	tr := &jobs.Truncation{Reason: "the payload lists 20 of the push's 57 commits", CommitsListed: 20, CommitsTotal: 57}
	ign := []jobs.Problem{{Field: "events[0]", Reason: "nothing to do: <a> & b"}}
	withTrunc := ignored("no rule maps the listed files")
	withTrunc.Truncated = tr
	refusal := refuse(http.StatusUnprocessableEntity, "invalid_paths", "1 problem(s) <x>")
	refusal.body.Problems = []jobs.Problem{{Field: "refresh.paths[0]", Path: "https://evil.example.net/x.js", Reason: "not allowed"}}
	tests := []struct {
		name       string
		got        result
		wantStatus int
		want       any
	}{
		{"ignored", ignored("event \"issues\" not handled"), 200, map[string]string{"status": "ignored", "reason": "event \"issues\" not handled"}},
		{"ignored, truncated", withTrunc, 200, map[string]any{"status": "ignored", "reason": "no rule maps the listed files", "truncated": tr}},
		{"oss ignored", ossIgnored{Events: 2, Ignored: ign, Reason: "nothing to do", Status: "ignored"}, 200,
			map[string]any{"status": "ignored", "reason": "nothing to do", "events": 2, "ignored": ign}},
		{"oss ignored, none listed", ossIgnored{Events: 0, Reason: "nothing to do", Status: "ignored"}, 200,
			map[string]any{"status": "ignored", "reason": "nothing to do", "events": 0, "ignored": []jobs.Problem(nil)}},
		{"pong", pong{Status: "pong"}, 200, map[string]string{"status": "pong"}},
		{"refusal", refusal, 422, refusal.body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, want := httptest.NewRecorder(), httptest.NewRecorder()
			writeJSON(got, tt.got.status(), tt.got)
			writeJSON(want, tt.wantStatus, tt.want)
			if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
				t.Fatalf("answer %d %s\nwant   %d %s", got.Code, got.Body, want.Code, want.Body)
			}
			if !json.Valid(got.Body.Bytes()) {
				t.Fatalf("not JSON: %s", got.Body)
			}
		})
	}
}
