package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// githubCommit is the part of a pushed commit cdnpurge reads.
type githubCommit struct {
	Added    []string `json:"added"`
	Modified []string `json:"modified"`
	Removed  []string `json:"removed"`
}

type githubRepo struct {
	FullName string `json:"full_name"`
}

// githubPush is the part of a GitHub push payload cdnpurge reads.
type githubPush struct {
	Ref        string         `json:"ref"`
	Deleted    bool           `json:"deleted"`
	Repository githubRepo     `json:"repository"`
	Commits    []githubCommit `json:"commits"`
	HeadCommit *githubCommit  `json:"head_commit"`
}

// githubDeploymentStatus is the part of a deployment_status payload
// cdnpurge reads.
type githubDeploymentStatus struct {
	DeploymentStatus struct {
		State       string `json:"state"`
		Environment string `json:"environment"`
	} `json:"deployment_status"`
	Deployment struct {
		Ref         string `json:"ref"`
		Environment string `json:"environment"`
	} `json:"deployment"`
	Repository githubRepo `json:"repository"`
}

// hookEvent is what a GitHub or GitLab payload asks for: a change, a deploy, or
// nothing (ignore says why).
type hookEvent struct {
	change *changeEvent
	deploy *deployEvent
	ignore string
}

// parseGitHub reads a GitHub payload of the given X-GitHub-Event type.
func parseGitHub(event string, body []byte) (hookEvent, error) {
	switch event {
	case "ping":
		return hookEvent{ignore: "pong"}, nil
	case "push":
		var p githubPush
		if err := json.Unmarshal(body, &p); err != nil {
			return hookEvent{}, fmt.Errorf("push payload: %w", err)
		}
		if p.Repository.FullName == "" {
			return hookEvent{}, fmt.Errorf("push payload: repository.full_name missing")
		}
		branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
		if !ok {
			return hookEvent{ignore: fmt.Sprintf("ref %q is not a branch", p.Ref)}, nil
		}
		if p.Deleted {
			return hookEvent{ignore: "branch deleted"}, nil
		}
		commits := p.Commits
		if len(commits) == 0 && p.HeadCommit != nil {
			commits = []githubCommit{*p.HeadCommit}
		}
		ev := &changeEvent{source: "github", repo: p.Repository.FullName, branch: branch}
		for _, c := range commits {
			ev.changed = append(ev.changed, c.Added...)
			ev.changed = append(ev.changed, c.Modified...)
			ev.removed = append(ev.removed, c.Removed...)
		}
		return hookEvent{change: ev}, nil
	case "deployment_status":
		var p githubDeploymentStatus
		if err := json.Unmarshal(body, &p); err != nil {
			return hookEvent{}, fmt.Errorf("deployment_status payload: %w", err)
		}
		if p.DeploymentStatus.State != "success" {
			return hookEvent{ignore: fmt.Sprintf("deployment state %q", p.DeploymentStatus.State)}, nil
		}
		env := p.DeploymentStatus.Environment
		if env == "" {
			env = p.Deployment.Environment
		}
		return hookEvent{deploy: &deployEvent{source: "github", trigger: "deployment", repo: p.Repository.FullName, ref: p.Deployment.Ref, environment: env}}, nil
	}
	return hookEvent{ignore: fmt.Sprintf("event %q not handled", event)}, nil
}

// verifyGitHub checks X-Hub-Signature-256 over the raw body in constant
// time.
func verifyGitHub(secret Secret, header string, body []byte) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// github handles POST /hooks/github. The signature covers the body, so
// only its presence and form are checked before reading; the read is
// bounded by github_body_limit and the server's buffer budget.
func (s *Server) github(w http.ResponseWriter, r *http.Request) (int, any) {
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		return fail(refuse(http.StatusUnauthorized, "missing_signature", "missing X-Hub-Signature-256; set the webhook's secret in GitHub to the configured github_secret"))
	}
	if hexSig, ok := strings.CutPrefix(sig, "sha256="); !ok || len(hexSig) != 2*sha256.Size {
		return fail(refuse(http.StatusUnauthorized, "bad_signature", "X-Hub-Signature-256 must be the HMAC-SHA256 of the body in hex, as GitHub sends it; set the webhook's secret in GitHub"))
	}
	form, herr := requireJSON(r, true)
	if herr != nil {
		return fail(herr)
	}
	body, release, herr := s.readBody(w, r, s.cfg.GitHubBodyLimit)
	if herr != nil {
		return fail(herr)
	}
	defer release()
	if !verifyGitHub(s.cfg.GitHubSecret, sig, body) {
		return fail(refuse(http.StatusUnauthorized, "bad_signature", "X-Hub-Signature-256 does not match the body; check the webhook secret"))
	}
	if form {
		vals, err := url.ParseQuery(string(body))
		if err != nil || vals.Get("payload") == "" {
			return fail(refuse(http.StatusBadRequest, "bad_payload", "form body without a payload field; set the GitHub webhook content type to application/json"))
		}
		body = []byte(vals.Get("payload"))
	}
	event := r.Header.Get("X-GitHub-Event")
	if event == "" {
		return fail(refuse(http.StatusBadRequest, "missing_event", "missing X-GitHub-Event header"))
	}
	res, err := parseGitHub(event, body)
	if err != nil {
		return fail(refuse(http.StatusBadRequest, "bad_payload", "%v", err))
	}
	if event == "ping" {
		return http.StatusOK, map[string]string{"status": "pong"}
	}
	dedupe := ""
	if d := r.Header.Get("X-GitHub-Delivery"); d != "" {
		dedupe = "github:" + d
	}
	return s.dispatch(r, res.change, res.deploy, res.ignore, dedupe)
}

// dispatch maps a change or deploy event to jobs and accepts them.
func (s *Server) dispatch(r *http.Request, change *changeEvent, deploy *deployEvent, ignore, dedupe string) (int, any) {
	switch {
	case change != nil:
		js := mapChanges(s.cfg.Rules, *change)
		if len(js) == 0 {
			return ignored("no rule maps the changed files")
		}
		return s.accept(r, fmt.Sprintf("%s:%s@%s", change.source, change.repo, change.branch), dedupe, js)
	case deploy != nil:
		js := mapDeploy(s.cfg.Rules, *deploy)
		if len(js) == 0 {
			return ignored("no rule has deploy paths for this repository, ref and environment")
		}
		return s.accept(r, fmt.Sprintf("%s:%s@%s:%s", deploy.source, deploy.repo, deploy.ref, deploy.trigger), dedupe, js)
	}
	return ignored(ignore)
}
