package cdnemu

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// AdminPrefix is the path prefix of the admin API that an emulator started
// with Options.Admin (the emulator command's --admin flag) serves. The CDN
// API is only ever called at "/", so the prefix never meets a signed
// request. The admin API is unauthenticated and meant for test harnesses
// that run the emulator as a separate process and can reach it only over
// HTTP:
//
//	GET  /_emulator/stats    calls per action and code, calls per second,
//	                         accepted and unique paths, CDN and DCDN quota (AdminStats)
//	GET  /_emulator/paths    every accepted path of ?action= (default
//	                         RefreshObjectCaches), one "<unix ns> <path>" line
//	                         each, in order, repeats included
//	POST /_emulator/faults   {"error_rate_500":0,"error_rate_503":0.1,"latency":"50ms"}
//	POST /_emulator/outage   {"for":"60s"}: 503 to every call for that long; "0s" ends it;
//	                         with "product":"dcdn" (or "cdn", "sts") only that product's calls
//	POST /_emulator/quota    {"url":1000,"dir":100,"regex":20,"preload":1000,"ignore_params":10}:
//	                         daily totals (absent keep theirs); "product":"dcdn" sets DCDN's
//	POST /_emulator/day      start a new quota day now, for CDN and DCDN, as 00:00 Asia/Shanghai does
//	POST /_emulator/force    {"action":"DescribeRefreshQuota","code":"InternalError","n":100}:
//	                         answer the next n calls of action with code (ForceError);
//	                         {"product":"dcdn","code":"ServiceUnAvailable","n":100}: the next n
//	                         calls of any DCDN action (ForceProductError), CDN untouched;
//	                         {"clear":true} drops every pending forced answer
//	GET  /_emulator/calls    the recent calls (Options.RecordRequests of them) of
//	                         ?action= or of ?product= (cdn, dcdn, sts), or all,
//	                         one "<unix ns> <code> <action>" line each, in order;
//	                         code is "-" for a success
//
// There is no endpoint that moves the emulator clock: a clock a day ahead
// of the client's would refuse every signed Timestamp, so a harness rolls
// the quota day over with /_emulator/day instead.
const AdminPrefix = "/_emulator/"

// AdminStats is what GET /_emulator/stats answers.
type AdminStats struct {
	// Now is the emulator clock.
	Now time.Time `json:"now"`
	// Actions holds, per action, the calls answered (refused included),
	// the accepted ones, the error codes and the busiest second.
	Actions map[string]AdminActionStats `json:"actions"`
	// Paths holds, per refresh or push action, the accepted paths.
	Paths map[string]AdminPathStats `json:"paths"`
	// PerSecond is every call answered, per second of the emulator clock,
	// oldest first.
	PerSecond []AdminSecond `json:"per_second"`
	// Quota is today's CDN quota on the emulator clock.
	Quota AdminQuota `json:"quota"`
	// DCDNQuota is today's DCDN quota.
	DCDNQuota AdminQuota `json:"dcdn_quota"`
	// OutageUntil is the end of the outage set through /_emulator/outage
	// or SetOutage (zero: none).
	OutageUntil time.Time `json:"outage_until"`
	// ProductOutageUntil holds the end of each product's own outage
	// (SetProductOutage), for the products that have one.
	ProductOutageUntil map[apiclient.Product]time.Time `json:"product_outage_until,omitempty"`
}

// AdminActionStats are the calls of one action.
type AdminActionStats struct {
	Calls        int            `json:"calls"`
	Accepted     int            `json:"accepted"`
	Codes        map[string]int `json:"codes"`
	MaxPerSecond int            `json:"max_per_second"`
}

// AdminPathStats are the paths accepted calls of one action submitted.
type AdminPathStats struct {
	// Accepted counts every path of every accepted call, repeats included.
	Accepted int `json:"accepted"`
	// Unique counts distinct paths; Duplicates is Accepted - Unique.
	Unique     int `json:"unique"`
	Duplicates int `json:"duplicates"`
}

// AdminSecond is the calls answered within one second.
type AdminSecond struct {
	Unix    int64 `json:"unix"`
	Calls   int   `json:"calls"`
	Refused int   `json:"refused"`
}

// AdminQuota is today's quota: totals, spent and left.
type AdminQuota struct {
	Total     Quota `json:"total"`
	Used      Quota `json:"used"`
	Remaining Quota `json:"remaining"`
}

// StartQuotaDay begins a new quota day now, for CDN and DCDN: what was
// spent is forgotten, as at 00:00 Asia/Shanghai, without moving the
// emulator clock.
func (e *Emulator) StartQuotaDay() {
	e.mu.Lock()
	for _, q := range []*quotaState{&e.cdn.account.quota, &e.dcdn.account.quota} {
		q.roll(e.now())
		q.used = Quota{}
	}
	for _, st := range e.esa.sites {
		st.roll(e.now())
		st.used = map[esa.PurgeType]int64{}
	}
	e.mu.Unlock()
}

// Stats returns what GET /_emulator/stats answers.
func (e *Emulator) Stats() AdminStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	st := AdminStats{Now: now, Actions: map[string]AdminActionStats{}, Paths: map[string]AdminPathStats{},
		OutageUntil: e.faults.outageUntil}
	for name, s := range e.rec.actions {
		codes := make(map[string]int, len(s.codes))
		for c, n := range s.codes {
			codes[c] = n
		}
		st.Actions[name] = AdminActionStats{Calls: s.calls, Accepted: s.accepted, Codes: codes,
			MaxPerSecond: e.limits.maxPerSecond(name)}
		if len(s.paths) > 0 {
			seen := make(map[string]struct{}, len(s.paths))
			for _, p := range s.paths {
				seen[p] = struct{}{}
			}
			st.Paths[name] = AdminPathStats{Accepted: len(s.paths), Unique: len(seen), Duplicates: len(s.paths) - len(seen)}
		}
	}
	for sec, c := range e.rec.seconds {
		st.PerSecond = append(st.PerSecond, AdminSecond{Unix: sec, Calls: c.calls, Refused: c.refused})
	}
	slices.SortFunc(st.PerSecond, func(a, b AdminSecond) int { return int(a.Unix - b.Unix) })
	for _, x := range []struct {
		q   *quotaState
		out *AdminQuota
	}{{&e.cdn.account.quota, &st.Quota}, {&e.dcdn.account.quota, &st.DCDNQuota}} {
		x.q.roll(now)
		*x.out = AdminQuota{Total: x.q.total, Used: x.q.used, Remaining: x.q.remaining()}
	}
	if len(e.faults.productOutage) > 0 {
		st.ProductOutageUntil = maps.Clone(e.faults.productOutage)
	}
	return st
}

// adminProduct reads the "product" of an admin call: "" (every product),
// cdn, dcdn or sts.
func adminProduct(s string) (apiclient.Product, error) {
	switch p := apiclient.Product(strings.ToLower(strings.TrimSpace(s))); p {
	case "", apiclient.ProductCDN, apiclient.ProductDCDN, productSTS:
		return p, nil
	}
	return "", fmt.Errorf("product %q: want cdn, dcdn or sts", s)
}

// serveAdmin answers one admin API call.
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path[len(AdminPrefix)-1:]
	switch route {
	case "GET /stats":
		writeAdminJSON(w, http.StatusOK, e.Stats())
	case "GET /paths":
		e.writePaths(w, r.URL.Query().Get("action"))
	case "POST /faults":
		var in struct {
			ErrorRate500 float64 `json:"error_rate_500"`
			ErrorRate503 float64 `json:"error_rate_503"`
			Latency      string  `json:"latency"`
		}
		if !readAdminJSON(w, r, &in) {
			return
		}
		f := Faults{ErrorRate500: in.ErrorRate500, ErrorRate503: in.ErrorRate503}
		if in.Latency != "" {
			d, err := time.ParseDuration(in.Latency)
			if err != nil {
				adminError(w, http.StatusBadRequest, "latency: %v", err)
				return
			}
			f.Latency = d
		}
		if err := (Options{Faults: f}).Validate(); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		e.SetFaults(f)
		writeAdminJSON(w, http.StatusOK, map[string]any{"faults": f})
	case "POST /outage":
		var in struct {
			For     string `json:"for"`
			Product string `json:"product"`
		}
		if !readAdminJSON(w, r, &in) {
			return
		}
		d, err := time.ParseDuration(in.For)
		if err != nil || d < 0 {
			adminError(w, http.StatusBadRequest, `for: want a duration such as "60s", got %q`, in.For)
			return
		}
		p, err := adminProduct(in.Product)
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		var until time.Time
		if d > 0 {
			until = e.now().Add(d)
		}
		if p == "" {
			e.SetOutage(until)
			writeAdminJSON(w, http.StatusOK, map[string]any{"outage_until": until})
			return
		}
		e.SetProductOutage(p, until)
		writeAdminJSON(w, http.StatusOK, map[string]any{"product": p, "outage_until": until})
	case "POST /quota":
		var in struct {
			URL, Dir, Regex, Preload *int64
			IgnoreParams             *int64 `json:"ignore_params"`
			Product                  string `json:"product"`
		}
		if !readAdminJSON(w, r, &in) {
			return
		}
		p, err := adminProduct(in.Product)
		if err != nil || p == productSTS {
			adminError(w, http.StatusBadRequest, "product %q: want cdn (the default) or dcdn", in.Product)
			return
		}
		pr := &e.cdn
		if p == apiclient.ProductDCDN {
			pr = &e.dcdn
		}
		e.mu.Lock()
		total := pr.account.quota.total
		e.mu.Unlock()
		for _, f := range []struct {
			v   *int64
			dst *int64
		}{{in.URL, &total.URL}, {in.Dir, &total.Dir}, {in.Regex, &total.Regex}, {in.Preload, &total.Preload},
			{in.IgnoreParams, &total.IgnoreParams}} {
			if f.v != nil {
				if *f.v < 0 {
					adminError(w, http.StatusBadRequest, "quota must be >= 0, got %d", *f.v)
					return
				}
				*f.dst = *f.v
			}
		}
		if p == apiclient.ProductDCDN {
			e.SetDCDNQuota(total)
			writeAdminJSON(w, http.StatusOK, map[string]any{"product": p, "total": total})
			return
		}
		e.SetQuota(total)
		writeAdminJSON(w, http.StatusOK, map[string]any{"total": total})
	case "POST /day":
		e.StartQuotaDay()
		writeAdminJSON(w, http.StatusOK, map[string]any{"quota": e.Stats().Quota})
	case "POST /force":
		var in struct {
			Action, Code, Product string
			N                     int
			Clear                 bool
		}
		if !readAdminJSON(w, r, &in) {
			return
		}
		if in.Clear {
			e.ClearForcedErrors()
			writeAdminJSON(w, http.StatusOK, map[string]any{"cleared": true})
			return
		}
		p, err := adminProduct(in.Product)
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		if (in.Action == "") == (p == "") || in.Code == "" || in.N <= 0 {
			adminError(w, http.StatusBadRequest, `want {"action":"...","code":"...","n":N} or {"product":"cdn|dcdn|sts","code":"...","n":N} with n > 0, or {"clear":true}`)
			return
		}
		if p != "" {
			e.ForceProductError(p, in.N, in.Code)
			writeAdminJSON(w, http.StatusOK, map[string]any{"product": p, "code": in.Code, "n": in.N})
			return
		}
		e.ForceError(in.Action, in.N, in.Code)
		writeAdminJSON(w, http.StatusOK, map[string]any{"action": in.Action, "code": in.Code, "n": in.N})
	case "GET /calls":
		p, err := adminProduct(r.URL.Query().Get("product"))
		if err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		e.writeCalls(w, r.URL.Query().Get("action"), p)
	default:
		adminError(w, http.StatusNotFound, "no admin endpoint %s (see cdnemu.AdminPrefix)", route)
	}
}

// writePaths streams the accepted paths of action with their call times.
func (e *Emulator) writePaths(w http.ResponseWriter, action string) {
	if action == "" {
		action = actRefresh
	}
	e.mu.Lock()
	var paths []string
	var times []int64
	if s := e.rec.actions[action]; s != nil {
		paths = slices.Clone(s.paths)
		times = make([]int64, len(s.paths))
		for i := range s.paths {
			times[i] = s.reqTimes[s.pathReq[i]]
		}
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	bw := bufio.NewWriterSize(w, 64<<10)
	for i, p := range paths {
		bw.WriteString(strconv.FormatInt(times[i], 10))
		bw.WriteByte(' ')
		bw.WriteString(p)
		bw.WriteByte('\n')
	}
	_ = bw.Flush()
}

// writeCalls streams the answer times, codes and actions of the recent
// calls of action and of product p (empty: any).
func (e *Emulator) writeCalls(w http.ResponseWriter, action string, p apiclient.Product) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, rec := range e.Requests() {
		if (action != "" && rec.Action != action) || (p != "" && productOf(rec.Action) != p) {
			continue
		}
		code := rec.Code
		if code == "" {
			code = "-"
		}
		bw.WriteString(strconv.FormatInt(rec.Time.UnixNano(), 10))
		bw.WriteByte(' ')
		bw.WriteString(code)
		bw.WriteByte(' ')
		if rec.Action == "" {
			bw.WriteByte('-')
		}
		bw.WriteString(rec.Action)
		bw.WriteByte('\n')
	}
	_ = bw.Flush()
}

// readAdminJSON decodes a small JSON body into v, answering 400 when it
// cannot. An empty body leaves v as it is.
func readAdminJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		adminError(w, http.StatusBadRequest, "body: %v", err)
		return false
	}
	return true
}

func adminError(w http.ResponseWriter, status int, format string, args ...any) {
	writeAdminJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
