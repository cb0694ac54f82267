package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// Headers of the generic hook's HMAC scheme.
const (
	HeaderTimestamp = "X-Cdnpurge-Timestamp"
	HeaderSignature = "X-Cdnpurge-Signature"
)

// SignGeneric returns the X-Cdnpurge-Signature value for body sent at ts:
// "sha256=" + hex(HMAC-SHA256(secret, "<unix seconds>.<body>")).
func SignGeneric(secret Secret, ts time.Time, body []byte) string {
	return "sha256=" + hex.EncodeToString(genericMAC(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func genericMAC(secret Secret, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// parseGeneric reads a generic hook body: one job in the wire format.
// Operation jobs are refused: they come from the scheduler.
func parseGeneric(body []byte) (*jobs.Job, error) {
	j, err := jobs.Decode(body)
	if err != nil {
		return nil, err
	}
	if j.Kind == jobs.KindOperation {
		return nil, fmt.Errorf("operation jobs are not accepted over HTTP; configure a schedule instead")
	}
	return j, nil
}

// authGeneric accepts a bearer token or a fresh HMAC signature.
func (s *Server) authGeneric(r *http.Request, body []byte) *hookError {
	if auth := r.Header.Get("Authorization"); auth != "" && s.cfg.GenericToken != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if ok && tokenEqual(strings.TrimSpace(tok), s.cfg.GenericToken) {
			return nil
		}
		return refuse(http.StatusUnauthorized, "bad_token", "Authorization bearer token does not match")
	}
	sig, tsText := r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp)
	if s.cfg.GenericHMACSecret == "" || sig == "" || tsText == "" {
		return refuse(http.StatusUnauthorized, "missing_credentials", "send Authorization: Bearer <token>, or %s and %s (see the webhooks README)", HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return refuse(http.StatusUnauthorized, "bad_timestamp", "%s must be unix seconds", HeaderTimestamp)
	}
	if skew := s.deps.Now().Sub(time.Unix(ts, 0)); skew > s.cfg.MaxSkew || skew < -s.cfg.MaxSkew {
		return refuse(http.StatusUnauthorized, "stale_timestamp", "%s is %s away from the server clock, more than %s allowed; sign each request when sending it and check the clock", HeaderTimestamp, skew.Round(time.Second), s.cfg.MaxSkew)
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
	if err != nil || !strings.HasPrefix(sig, "sha256=") || !hmac.Equal(got, genericMAC(s.cfg.GenericHMACSecret, tsText, body)) {
		return refuse(http.StatusUnauthorized, "bad_signature", "%s does not match HMAC-SHA256 of \"<timestamp>.<body>\"", HeaderSignature)
	}
	return nil
}

// generic handles POST /hooks/generic.
func (s *Server) generic(w http.ResponseWriter, r *http.Request) (int, any) {
	if _, herr := requireJSON(r, false); herr != nil {
		return fail(herr)
	}
	body, herr := readBody(w, r, s.cfg.BodyLimit)
	if herr != nil {
		return fail(herr)
	}
	if herr := s.authGeneric(r, body); herr != nil {
		return fail(herr)
	}
	j, err := parseGeneric(body)
	if err != nil {
		// Paths that are not UTF-8 are named with their index (422), like
		// any other invalid path; other decode errors are 400.
		var ve *jobs.ValidationError
		if errors.As(err, &ve) {
			e := refuse(http.StatusUnprocessableEntity, "invalid_paths", "%d problem(s); nothing was queued, fix them and send again", len(ve.Problems))
			e.body.Problems = ve.Problems
			return fail(e)
		}
		return fail(refuse(http.StatusBadRequest, "bad_job", "%v", err))
	}
	// The time received is ours; the caller's source is kept as a detail.
	j.ReceivedAt = time.Time{}
	if j.Source != "" {
		j.Source = "generic:" + j.Source
	}
	// A job ID given by the caller is its own idempotency key;
	// Idempotency-Key works as well. Either is bound to the job's content.
	dedupe := j.ID
	if k := r.Header.Get("Idempotency-Key"); k != "" && j.ID == "" {
		dedupe = "generic:" + k
	}
	return s.accept(r, "generic", dedupe, []*jobs.Job{j}, acceptOpts{})
}
