package webhooks

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/secretfile"
)

// gitlabPayload is the union of the GitLab push, pipeline and deployment
// hook fields cdnpurge reads; object_kind says which it is.
type gitlabPayload struct {
	ObjectKind string `json:"object_kind"`
	// push
	Ref     string        `json:"ref"`
	After   string        `json:"after"`
	Commits []commitFiles `json:"commits"`
	// TotalCommitsCount is the number of commits pushed; GitLab lists at
	// most 20 of them in commits (GitLab's "Webhook events" page, push
	// events).
	TotalCommitsCount int `json:"total_commits_count"`
	Project           struct {
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
	// pipeline
	ObjectAttributes struct {
		Status string `json:"status"`
		Ref    string `json:"ref"`
		Tag    bool   `json:"tag"`
	} `json:"object_attributes"`
	// deployment
	Status      string `json:"status"`
	Environment string `json:"environment"`
}

const zeroSHA = "0000000000000000000000000000000000000000"

// parseGitLab reads a GitLab push, pipeline or deployment hook.
func parseGitLab(body []byte) (hookEvent, error) {
	var p gitlabPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return hookEvent{}, fmt.Errorf("gitlab payload: %w", err)
	}
	repo := p.Project.PathWithNamespace
	switch p.ObjectKind {
	case "push":
		if repo == "" {
			return hookEvent{}, fmt.Errorf("push hook: project.path_with_namespace missing")
		}
		branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
		if !ok {
			return hookEvent{ignore: fmt.Sprintf("ref %q is not a branch", p.Ref)}, nil
		}
		if p.After == zeroSHA {
			return hookEvent{ignore: "branch deleted"}, nil
		}
		ev := &changeEvent{source: "gitlab", repo: repo, branch: branch}
		if listed := len(p.Commits); p.TotalCommitsCount > listed {
			ev.truncated = &jobs.Truncation{Reason: fmt.Sprintf("the payload lists %d of the push's %d commits (GitLab sends at most 20)", listed, p.TotalCommitsCount), CommitsListed: listed, CommitsTotal: p.TotalCommitsCount}
		}
		for _, c := range p.Commits {
			c.addTo(ev)
		}
		return hookEvent{change: ev}, nil
	case "pipeline":
		if p.ObjectAttributes.Status != "success" {
			return hookEvent{ignore: fmt.Sprintf("pipeline status %q", p.ObjectAttributes.Status)}, nil
		}
		return hookEvent{deploy: &deployEvent{source: "gitlab", trigger: "pipeline", repo: repo, ref: p.ObjectAttributes.Ref}}, nil
	case "deployment":
		if p.Status != "success" {
			return hookEvent{ignore: fmt.Sprintf("deployment status %q", p.Status)}, nil
		}
		return hookEvent{deploy: &deployEvent{source: "gitlab", trigger: "deployment", repo: repo, ref: p.Ref, environment: p.Environment}}, nil
	case "":
		return hookEvent{}, fmt.Errorf("gitlab payload: object_kind missing")
	}
	return hookEvent{ignore: fmt.Sprintf("object_kind %q not handled", p.ObjectKind)}, nil
}

// tokenEqual compares tokens in constant time, hashing first so the length
// does not leak either.
func tokenEqual(got string, want secretfile.Secret) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// gitlab handles POST /hooks/gitlab. The token is a header: a request
// without the right one is answered before its body is read.
func (s *Server) gitlab(w http.ResponseWriter, r *http.Request) result {
	tok := r.Header.Get("X-Gitlab-Token")
	if tok == "" {
		return refuse(http.StatusUnauthorized, "missing_token", "missing X-Gitlab-Token; set the webhook's secret token in GitLab to the configured gitlab_token")
	}
	if !tokenEqual(tok, s.cfg.GitLabToken) {
		return refuse(http.StatusUnauthorized, "bad_token", "X-Gitlab-Token does not match; check the webhook's secret token")
	}
	if _, herr := requireJSON(r, false); herr != nil {
		return herr
	}
	body, release, herr := s.readBody(w, r, s.cfg.GitLabBodyLimit)
	if herr != nil {
		return herr
	}
	defer release()
	res, err := parseGitLab(body)
	if err != nil {
		return refuse(http.StatusBadRequest, "bad_payload", "%v", err)
	}
	dedupe := ""
	if d := r.Header.Get("X-Gitlab-Event-UUID"); d != "" {
		dedupe = "gitlab:" + d
	} else if d := r.Header.Get("Idempotency-Key"); d != "" {
		dedupe = "gitlab:" + d
	}
	return s.dispatch(r, "gitlab", res.change, res.deploy, res.ignore, dedupe)
}
