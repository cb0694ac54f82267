package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/secretfile"
)

// Headers of the generic hook's HMAC scheme (docs/webhooks-security.md).
const (
	HeaderTimestamp      = "X-Cdnpurge-Timestamp"
	HeaderSignature      = "X-Cdnpurge-Signature"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// SignGeneric returns the X-Cdnpurge-Signature value for body sent at ts
// with the given Idempotency-Key ("" when the request has none):
// "sha256=" + hex(HMAC-SHA256(secret, "<unix seconds>.<body>")), or with a
// key "sha256=" + hex(HMAC-SHA256(secret, "<unix seconds>.<key>.<body>")).
func SignGeneric(secret secretfile.Secret, ts time.Time, idempotencyKey string, body []byte) string {
	return "sha256=" + hex.EncodeToString(genericMAC(secret, strconv.FormatInt(ts.Unix(), 10), idempotencyKey, body))
}

func genericMAC(secret secretfile.Secret, ts, key string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	if key != "" {
		mac.Write([]byte(key))
		mac.Write([]byte{'.'})
	}
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

// genericAuth is what the header check of the generic hook found: a
// valid bearer token, or HMAC headers whose signature can only be checked
// once the body is read.
type genericAuth struct {
	bearer bool
	ts     string
	mac    []byte
}

// authGenericHeaders checks what needs no body: the bearer token, or the
// presence, form and age of the HMAC headers. A request it refuses is
// answered without reading its body.
func (s *Server) authGenericHeaders(r *http.Request) (genericAuth, *hookError) {
	if auth := r.Header.Get("Authorization"); auth != "" && s.cfg.GenericToken != "" {
		// The scheme is case-insensitive (RFC 7235, section 2.1).
		scheme, tok, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && tokenEqual(strings.TrimSpace(tok), s.cfg.GenericToken) {
			return genericAuth{bearer: true}, nil
		}
		return genericAuth{}, refuse(http.StatusUnauthorized, "bad_token", "Authorization bearer token does not match")
	}
	sig, tsText := r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp)
	if s.cfg.GenericHMACSecret == "" || sig == "" || tsText == "" {
		return genericAuth{}, refuse(http.StatusUnauthorized, "missing_credentials", "send Authorization: Bearer <token>, or %s and %s (see docs/webhooks-security.md)", HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return genericAuth{}, refuse(http.StatusUnauthorized, "bad_timestamp", "%s must be unix seconds", HeaderTimestamp)
	}
	skew := s.deps.Now().Sub(time.Unix(ts, 0))
	if skew > s.cfg.MaxSkew {
		return genericAuth{}, refuse(http.StatusUnauthorized, "stale_timestamp", "%s is %s behind the server clock, more than %s allowed; sign each request when sending it and check the clock", HeaderTimestamp, skew.Round(time.Second), s.cfg.MaxSkew)
	}
	if skew < -MaxFuture {
		return genericAuth{}, refuse(http.StatusUnauthorized, "future_timestamp", "%s is %s ahead of the server clock, more than %s allowed; sign each request when sending it and check the clock", HeaderTimestamp, (-skew).Round(time.Second), MaxFuture)
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	mac, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(mac) != sha256.Size {
		return genericAuth{}, refuse(http.StatusUnauthorized, "bad_signature", "%s must be sha256=<64 hex digits>", HeaderSignature)
	}
	return genericAuth{ts: tsText, mac: mac}, nil
}

// verifyGenericBody checks the HMAC over the body read, then that the
// signature was not accepted before (on any replica). remembered is the
// replay key to forget if the request ends up not stored.
func (s *Server) verifyGenericBody(r *http.Request, a genericAuth, body []byte) (remembered string, herr *hookError) {
	if a.bearer {
		return "", nil
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	if !hmac.Equal(a.mac, genericMAC(s.cfg.GenericHMACSecret, a.ts, key, body)) {
		return "", refuse(http.StatusUnauthorized, "bad_signature", "%s does not match HMAC-SHA256 of \"<timestamp>.<body>\" (\"<timestamp>.<Idempotency-Key>.<body>\" with an Idempotency-Key)", HeaderSignature)
	}
	rk := "sig-" + hex.EncodeToString(a.mac)
	first, err := s.deps.Replay.Remember(r.Context(), rk)
	if err != nil {
		s.log.Error("replay check", slog.String("error", clip(err.Error(), maxEcho)))
		return "", refuse(http.StatusServiceUnavailable, "queue_unavailable", "the request cannot be checked for replays now, nothing acknowledged; sign it again and retry later")
	}
	if !first {
		return "", refuse(http.StatusConflict, "replayed", "this signature was already accepted; sign every request afresh (a retry gets a new timestamp and signature, and the same Idempotency-Key)")
	}
	return rk, nil
}

// generic handles POST /hooks/generic. Header credentials are checked
// before anything is read; an HMAC signature after the body is read.
func (s *Server) generic(w http.ResponseWriter, r *http.Request) result {
	auth, herr := s.authGenericHeaders(r)
	if herr != nil {
		return herr
	}
	if _, herr := requireJSON(r, false); herr != nil {
		return herr
	}
	body, release, herr := s.readBody(w, r, s.cfg.BodyLimit)
	if herr != nil {
		return herr
	}
	defer release()
	replayKey, herr := s.verifyGenericBody(r, auth, body)
	if herr != nil {
		return herr
	}
	res := s.genericJob(r, body)
	if replayKey != "" && res.status() == http.StatusServiceUnavailable {
		// Nothing was stored: the same signed request may come again.
		if err := s.deps.Replay.Forget(context.WithoutCancel(r.Context()), replayKey); err != nil {
			s.log.Warn("forget signature", slog.String("error", clip(err.Error(), maxEcho)))
		}
	}
	return res
}

// genericJob turns an authenticated generic body into its job.
func (s *Server) genericJob(r *http.Request, body []byte) result {
	j, err := parseGeneric(body)
	if err != nil {
		// Paths that are not UTF-8 are named with their index (422), like
		// any other invalid path; other decode errors are 400.
		var ve *jobs.ValidationError
		if errors.As(err, &ve) {
			e := refuse(http.StatusUnprocessableEntity, "invalid_paths", "%d problem(s); nothing was queued, fix them and send again", len(ve.Problems))
			e.body.Problems = ve.Problems
			return e
		}
		return refuse(http.StatusBadRequest, "bad_job", "%v", err)
	}
	// The time received is ours; the caller's source is kept as a detail.
	j.ReceivedAt = time.Time{}
	if j.Source != "" {
		j.Source = "generic:" + j.Source
	}
	// A job ID given by the caller is its own idempotency key;
	// Idempotency-Key works as well. Either is bound to the job's content.
	dedupe := j.ID
	if k := r.Header.Get(HeaderIdempotencyKey); k != "" && j.ID == "" {
		dedupe = "generic:" + k
	}
	return s.accept(r, request{source: "generic", key: dedupe, jobs: []*jobs.Job{j}})
}
