package console

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/worker"
)

// maxReason bounds the reason an operator types.
const maxReason = 500

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", page{Title: "Log in", Nav: "login"})
}

// login checks the token and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if c.sessions.readOnly() {
		c.render(w, r, http.StatusForbidden, "login", page{Title: "Log in", Nav: "login",
			Error: "the console is read-only: no admin.token is configured (set CDNPURGE_ADMIN_TOKEN and restart serve to allow actions)"})
		return
	}
	if !c.sessions.tokenOK(r.PostFormValue("token")) {
		c.log.Warn("console: login refused", slog.String("remote", r.RemoteAddr))
		c.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in", Nav: "login", Error: "wrong token"})
		return
	}
	se := c.sessions.start(r.RemoteAddr)
	setCookie(w, se.id, int(sessionTTL/time.Second), c.d.Secure)
	c.log.Info("console: logged in", slog.String("who", se.who))
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if se := c.sessions.get(r); se != nil && se.csrfOK(r.PostFormValue("csrf")) {
		c.sessions.end(r)
	}
	setCookie(w, "", -1, c.d.Secure)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// action is an operator's action; it returns where to go and what to say,
// or an error status and message.
type action func(r *http.Request, who, reason string) (next, done string, status int, msg string)

// act checks that an action may run: a token is configured, the request
// has a live session and the session's CSRF token. Every refusal says
// why.
func (c *Console) act(a action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if c.sessions.readOnly() {
			c.fail(w, r, http.StatusForbidden, "the console is read-only: no admin.token is configured, so pause, resume, cancel and retry are refused (set CDNPURGE_ADMIN_TOKEN and restart serve)")
			return
		}
		se := c.sessions.get(r)
		if se == nil {
			c.fail(w, r, http.StatusUnauthorized, "log in with admin.token first: actions need a session")
			return
		}
		if !se.csrfOK(r.PostFormValue("csrf")) {
			c.log.Warn("console: action without a valid CSRF token refused", slog.String("who", se.who), slog.String("path", r.URL.Path))
			c.fail(w, r, http.StatusForbidden, "the form's CSRF token does not match your session; reload the page and try again")
			return
		}
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		if len(reason) > maxReason {
			reason = reason[:maxReason]
		}
		next, done, status, msg := a(r, se.who, reason)
		if status != 0 {
			c.fail(w, r, status, msg)
			return
		}
		http.Redirect(w, r, next+"?done="+url.QueryEscape(done), http.StatusSeeOther)
	}
}

// record publishes the status event of an action and logs it with who.
func (c *Console) record(ev worker.ActionEventArgs) {
	e := worker.ActionEvent(ev.Action, ev.Job, ev.Reason, ev.By, ev.Until)
	if err := worker.PublishAction(c.d.Conn, c.d.Subjects, e); err != nil {
		c.log.Warn("console: publish the action's status event", slog.String("action", ev.Action), slog.String("error", err.Error()))
	}
	c.log.Info("console action", slog.String("action", ev.Action), slog.String("job", ev.Job), slog.String("reason", ev.Reason),
		slog.String("by", ev.By))
}

func (c *Console) pause(r *http.Request, who, reason string) (string, string, int, string) {
	now := c.d.Now()
	p := worker.PauseState{Reason: reason, By: who, Since: now}
	if p.Reason == "" {
		p.Reason = "no reason given"
	}
	if s := r.PostFormValue("for"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return "", "", http.StatusBadRequest, "for: want a duration such as 30m, or nothing for a pause until resumed"
		}
		if d > 0 {
			p.Until = now.Add(d)
		}
	}
	if err := c.d.Control.Pause(r.Context(), p); err != nil {
		return "", "", http.StatusBadGateway, err.Error()
	}
	c.record(worker.ActionEventArgs{Action: worker.ActionPause, Reason: p.Reason, By: who, Until: p.Until})
	return Prefix, "submissions paused", 0, ""
}

func (c *Console) resume(r *http.Request, who, reason string) (string, string, int, string) {
	if err := c.d.Control.Resume(r.Context()); err != nil {
		return "", "", http.StatusBadGateway, err.Error()
	}
	c.record(worker.ActionEventArgs{Action: worker.ActionResume, Reason: reason, By: who})
	return Prefix, "operator pause lifted", 0, ""
}

func (c *Console) cancel(r *http.Request, who, reason string) (string, string, int, string) {
	ctx := r.Context()
	id := r.PathValue("id")
	v, status, why := c.lookup(r)
	switch {
	case status != 0:
		return "", "", status, why
	case v.Final():
		return "", "", http.StatusConflict, "job " + id + " is already " + v.State
	}
	if err := c.d.Control.CancelJob(ctx, worker.Cancel{JobID: id, By: who, At: c.d.Now()}); err != nil {
		return "", "", http.StatusBadGateway, err.Error()
	}
	msg := "cancelled by " + who
	if reason != "" {
		msg += ": " + reason
	}
	c.record(worker.ActionEventArgs{Action: worker.ActionCancel, Job: id, Reason: msg, By: who})
	return Prefix + "jobs/" + id, "job cancelled", 0, ""
}

func (c *Console) retry(r *http.Request, who, reason string) (string, string, int, string) {
	ctx := r.Context()
	id := r.PathValue("id")
	if c.d.Publisher == nil {
		return "", "", http.StatusServiceUnavailable, "this replica cannot queue jobs"
	}
	v, status, why := c.lookup(r)
	switch {
	case status != 0:
		return "", "", status, why
	case v.State != worker.ViewFailed && v.State != worker.ViewRejected:
		return "", "", http.StatusConflict, "job " + id + " is " + v.State + "; only failed and rejected jobs are retried"
	}
	j, err := worker.RetryJob(v, "", c.d.Now())
	if err != nil {
		return "", "", http.StatusConflict, err.Error()
	}
	ack, err := c.d.Publisher.Publish(ctx, j, "")
	if err != nil {
		return "", "", http.StatusBadGateway, "queue the new job: " + err.Error()
	}
	msg := "re-queued as job " + ack.JobID
	if reason != "" {
		msg += ": " + reason
	}
	c.record(worker.ActionEventArgs{Action: worker.ActionRetry, Job: id, Reason: msg, By: who})
	return Prefix + "jobs/" + ack.JobID, "retried as job " + ack.JobID, 0, ""
}

// lookup reads the job of the request's path, or the status and message
// of why it cannot.
func (c *Console) lookup(r *http.Request) (worker.JobView, int, string) {
	ctx := r.Context()
	id := r.PathValue("id")
	v, ok, err := c.inspector(ctx).Job(ctx, id)
	switch {
	case err != nil:
		return v, http.StatusBadGateway, err.Error()
	case !ok:
		return v, http.StatusNotFound, "job " + id + ": not found"
	}
	return v, 0, ""
}
