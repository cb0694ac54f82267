package console

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/worker"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

//go:embed templates/*.html static/*
var files embed.FS

// Prefix is where the console is mounted on the admin listener.
const Prefix = "/console/"

// Deps are what the console reads and steers.
type Deps struct {
	// Conn and JS reach the streams and buckets; Conn also carries the
	// live events of a job (server-sent events).
	Conn         *nats.Conn
	JS           jetstream.JetStream
	Stream       string
	StatusStream string
	Subjects     jobs.Subjects
	Control      *worker.Control
	Archive      *worker.Archive // may be nil
	// Publisher queues the new job of a retry; nil refuses retries.
	Publisher *queue.Publisher
	// Token is admin.token: empty makes the console read-only.
	Token string
	// Secure marks the session cookie Secure (the admin listener is
	// behind TLS).
	Secure bool
	Logger *slog.Logger
	// Now is the clock of sessions and "today"; time.Now when nil.
	Now func() time.Time
	// Location is the quota day's zone (Asia/Shanghai when nil).
	Location *time.Location
}

// QuotaFunc reads the quota mirror of every target today.
type QuotaFunc func(ctx context.Context) ([]quota.Snapshot, error)

// SchedulesFunc reads the schedules with their next runs and last results.
type SchedulesFunc func(ctx context.Context) ([]operations.Row, error)

// Console serves the pages; create it with New, mount Handler under
// Prefix.
type Console struct {
	d         Deps
	log       *slog.Logger
	tmpl      map[string]*template.Template
	sessions  *sessions
	quota     atomic.Pointer[QuotaFunc]
	schedules atomic.Pointer[SchedulesFunc]
	mux       *http.ServeMux
}

// New builds the console.
func New(d Deps) (*Console, error) {
	if d.JS == nil || d.Conn == nil || d.Control == nil {
		return nil, errors.New("console: no NATS connection or control bucket")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Location == nil {
		d.Location = quota.DefaultLocation()
	}
	c := &Console{d: d, log: d.Logger, sessions: newSessions(d.Token, d.Now), tmpl: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.In(d.Location).Format("2006-01-02 15:04:05")
		},
		"dash": func(s string) string { return cmp.Or(s, "-") },
		"pct": func(part, total int64) int64 {
			if total <= 0 {
				return 0
			}
			return min(100, part*100/total)
		},
		"sub":   func(a, b int64) int64 { return a - b },
		"add":   func(a, b int) int { return a + b },
		"join":  strings.Join,
		"split": strings.Fields,
	}
	for _, page := range []string{"overview", "jobs", "job", "tasks", "login", "message"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", page, err)
		}
		c.tmpl[page] = t
	}
	static, _ := fs.Sub(files, "static")
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+Prefix+"{$}", c.overview)
	mux.HandleFunc("GET "+Prefix+"jobs", c.jobsPage)
	mux.HandleFunc("GET "+Prefix+"jobs/{id}", c.jobPage)
	mux.HandleFunc("GET "+Prefix+"jobs/{id}/events", c.jobEvents)
	mux.HandleFunc("GET "+Prefix+"tasks", c.tasksPage)
	mux.HandleFunc("GET "+Prefix+"login", c.loginPage)
	mux.HandleFunc("POST "+Prefix+"login", c.login)
	mux.HandleFunc("POST "+Prefix+"logout", c.logout)
	mux.HandleFunc("POST "+Prefix+"pause", c.act(c.pause))
	mux.HandleFunc("POST "+Prefix+"resume", c.act(c.resume))
	mux.HandleFunc("POST "+Prefix+"jobs/{id}/cancel", c.act(c.cancel))
	mux.HandleFunc("POST "+Prefix+"jobs/{id}/retry", c.act(c.retry))
	c.mux = mux
	return c, nil
}

// SetQuota gives the console the quota mirrors (known once the worker is
// built).
func (c *Console) SetQuota(f QuotaFunc) { c.quota.Store(&f) }

// SetSchedules gives the console the schedules.
func (c *Console) SetSchedules(f SchedulesFunc) { c.schedules.Store(&f) }

// Handler serves the console; mount it under Prefix.
func (c *Console) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Nothing from elsewhere: scripts, styles and frames are the
		// console's own.
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		c.mux.ServeHTTP(w, r)
	})
}

// inspector reads the jobs of every replica, the job history included.
func (c *Console) inspector(ctx context.Context) *worker.Inspector {
	in := &worker.Inspector{JS: c.d.JS, Stream: c.d.Stream, StatusStream: c.d.StatusStream, Subjects: c.d.Subjects,
		Control: c.d.Control, Archive: c.d.Archive}
	if h, ok, err := worker.LookupHistory(ctx, c.d.JS, ""); err == nil && ok {
		in.History = h
	}
	return in
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      string
	ReadOnly bool
	LoggedIn bool
	Who      string
	CSRF     string
	Flash    string
	Error    string
	Data     any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.ReadOnly = c.sessions.readOnly()
	if se := c.sessions.get(r); se != nil {
		p.LoggedIn, p.Who, p.CSRF = true, se.who, se.csrf
	}
	if p.Flash == "" {
		p.Flash = r.URL.Query().Get("done")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.tmpl[name].ExecuteTemplate(w, "layout.html", p); err != nil {
		c.log.Warn("console: render", slog.String("page", name), slog.String("error", err.Error()))
	}
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "message", page{Title: http.StatusText(status), Error: msg})
}

// overviewData is the overview page.
type overviewData struct {
	Day      string
	Quota    []quota.Snapshot
	QuotaErr string
	Pauses   []worker.PauseState
	States   []stateCount
	Total    int
	Replicas []worker.Replica
}

type stateCount struct {
	State string
	N     int
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := c.d.Now()
	d := overviewData{Day: now.In(c.d.Location).Format("2006-01-02")}
	if f := c.quota.Load(); f != nil {
		snaps, err := (*f)(ctx)
		d.Quota = snaps
		if err != nil {
			d.QuotaErr = err.Error()
		}
	} else {
		d.QuotaErr = "no quota mirror on this replica (it runs without the worker role)"
	}
	var err error
	if d.Pauses, err = c.d.Control.Pauses(ctx, now); err != nil {
		c.fail(w, r, http.StatusBadGateway, "read the pauses: "+err.Error())
		return
	}
	d.Replicas, _ = c.d.Control.Replicas(ctx, now)
	snap, err := c.inspector(ctx).Jobs(ctx, now.Add(-24*time.Hour))
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "read the jobs: "+err.Error())
		return
	}
	counts := map[string]int{}
	for _, v := range snap.Jobs {
		counts[v.State]++
	}
	for _, st := range worker.ViewStates() {
		d.States = append(d.States, stateCount{st, counts[st]})
	}
	d.Total = len(snap.Jobs)
	c.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: d})
}

// jobsData is the jobs page.
type jobsData struct {
	State, Source, Priority, Q, Since string
	States                            []string
	Jobs                              []worker.JobView
	More                              int
	Truncated                         bool
}

const maxListed = 200

func (c *Console) jobsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	d := jobsData{State: q.Get("state"), Source: q.Get("source"), Priority: q.Get("priority"), Q: strings.TrimSpace(q.Get("q")),
		Since: cmp.Or(q.Get("since"), "24h"), States: worker.ViewStates()}
	since, err := time.ParseDuration(d.Since)
	if err != nil || since < 0 {
		c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("since %q: want a duration such as 24h or 168h", d.Since))
		return
	}
	from := time.Time{}
	if since > 0 {
		from = c.d.Now().Add(-since)
	}
	snap, err := c.inspector(ctx).Jobs(ctx, from)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "read the jobs: "+err.Error())
		return
	}
	d.Truncated = snap.Truncated
	for _, v := range snap.Jobs {
		if !matches(v, d) {
			continue
		}
		if len(d.Jobs) == maxListed {
			d.More++
			continue
		}
		d.Jobs = append(d.Jobs, v)
	}
	c.render(w, r, http.StatusOK, "jobs", page{Title: "Jobs", Nav: "jobs", Data: d})
}

// matches reports whether v passes the filters of the jobs page: state,
// source prefix, priority, and q, a job ID (or its start) or a path (or
// URL prefix) of the job.
func matches(v worker.JobView, f jobsData) bool {
	if f.State != "" && v.State != f.State {
		return false
	}
	if f.Source != "" && !strings.HasPrefix(v.Source, f.Source) {
		return false
	}
	if f.Priority != "" && string(cmp.Or(v.Priority, jobs.PriorityNormal)) != f.Priority {
		return false
	}
	if f.Q == "" || strings.HasPrefix(v.ID, f.Q) {
		return true
	}
	return slices.ContainsFunc(v.Paths, func(p string) bool { return strings.HasPrefix(p, f.Q) })
}

// jobData is the job page.
type jobData struct {
	Job      worker.JobView
	Page     int
	First    int
	Problems map[string]string
	Tasks    []string
}

func (c *Console) jobPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	in := c.inspector(ctx)
	v, ok, err := in.Job(ctx, id)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "read the job: "+err.Error())
		return
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "job "+id+": not found in the work stream, the status stream, the job history or the archive")
		return
	}
	d := jobData{Job: v, Page: 1, First: 1, Problems: map[string]string{}}
	if p, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && p > 1 && p <= v.Pages && in.History != nil {
		paths, err := in.History.PathsPage(ctx, id, p)
		if err == nil {
			d.Job.Paths, d.Page, d.First = paths, p, (p-1)*worker.HistoryPageSize+1
		}
	}
	for _, p := range v.Problems {
		d.Problems[p.Path] = p.Reason
	}
	for _, t := range v.TaskIDs {
		if p := v.TaskTargets[t]; p != "" {
			t += " (" + p + ")"
		}
		d.Tasks = append(d.Tasks, t)
	}
	c.render(w, r, http.StatusOK, "job", page{Title: "Job " + id, Nav: "jobs", Data: d})
}

// jobEvents streams the status events of one job as server-sent events,
// as the worker publishes them, until the client goes.
func (c *Console) jobEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !jobs.ValidToken(id) {
		http.Error(w, "not a job ID", http.StatusBadRequest)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan *nats.Msg, 64)
	sub, err := c.d.Conn.ChanSubscribe(c.d.Subjects.Status(id), ch)
	if err != nil {
		http.Error(w, "subscribe to the job's events: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": subscribed\n\n")
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			_, _ = fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		case m := <-ch:
			var ev jobs.StatusEvent
			if json.Unmarshal(m.Data, &ev) != nil {
				continue
			}
			b, _ := json.Marshal(ev) // re-encoded: only the event's own fields reach the page
			_, _ = fmt.Fprintf(w, "event: status\ndata: %s\n\n", b)
			fl.Flush()
		}
	}
}

// tasksData is the tasks and schedules page.
type tasksData struct {
	Tasks     []taskRow
	Schedules []operations.Row
	SchedErr  string
}

type taskRow struct {
	Task, Target, Job, State string
	Updated                  time.Time
}

func (c *Console) tasksPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	snap, err := c.inspector(ctx).Jobs(ctx, c.d.Now().Add(-24*time.Hour))
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "read the jobs: "+err.Error())
		return
	}
	var d tasksData
	for _, v := range snap.Jobs {
		for _, t := range v.TaskIDs {
			d.Tasks = append(d.Tasks, taskRow{Task: t, Target: cmp.Or(v.TaskTargets[t], "cdn"), Job: v.ID, State: v.State, Updated: v.Updated})
		}
	}
	if f := c.schedules.Load(); f != nil {
		if d.Schedules, err = (*f)(ctx); err != nil {
			d.SchedErr = err.Error()
		}
	}
	c.render(w, r, http.StatusOK, "tasks", page{Title: "Tasks and schedules", Nav: "tasks", Data: d})
}
