package cdnemu

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// dcdnPair is an emulator with the CDN domain example.com and the DCDN
// domain d.example.com, and a client for each product (same key, same
// clock, the DCDN one signing Version 2018-01-15).
func dcdnPair(t *testing.T, o Options) (*Server, *testClient, *testClient, *Clock) {
	t.Helper()
	if o.Domains == nil {
		o.Domains = []string{"example.com"}
	}
	if o.DCDNDomains == nil {
		o.DCDNDomains = []string{"d.example.com"}
	}
	s, cdn, clock := newTestServer(t, o)
	dcdn := newTestClient(t, s.URL, clock)
	dcdn.version = dcdnVersion
	return s, cdn, dcdn, clock
}

func taskIDs(t *testing.T, r result, field string) []int64 {
	t.Helper()
	var out []int64
	for _, s := range strings.Split(r.str(field), ",") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s %q: not numeric", field, r.str(field))
		}
		out = append(out, n)
	}
	return out
}

// DCDN's actions answer on DCDN domains only, CDN's on CDN domains only,
// each product's quota counts down on its own, and the per-call limits and
// object types are DCDN's.
func TestDCDNRefreshAndPreload(t *testing.T) {
	t.Parallel()
	s, cdn, dcdn, _ := dcdnPair(t, Options{DCDNURLQuota: 5, DCDNPreloadQuota: 2})

	r := dcdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/a.js\nhttps://d.example.com/b.js").wantOK(t)
	if ids := taskIDs(t, r, "RefreshTaskId"); len(ids) != 1 || ids[0] < firstDCDNTaskID {
		t.Errorf("DCDN refresh task IDs %v, want one from %d on", ids, firstDCDNTaskID)
	}
	if r.str("HostId") != "" {
		t.Errorf("a success carries no HostId: %s", r.raw)
	}
	p := dcdn.call(actDcdnPreload, "ObjectPath", "d.example.com/a.js", "QueryHashkey", "true", "Area", "overseas").wantOK(t)
	if p.str("PreloadTaskId") == "" || p.str("PushTaskId") != "" {
		t.Errorf("preload answer %s, want PreloadTaskId", p.raw)
	}
	c := cdn.call(actRefresh, "ObjectPath", "example.com/a.js").wantOK(t)
	if ids := taskIDs(t, c, "RefreshTaskId"); ids[0] >= firstDCDNTaskID {
		t.Errorf("CDN task ID %d is in DCDN's range", ids[0])
	}

	// Wrong product: each service says the domain is not its own.
	e := cdn.call(actRefresh, "ObjectPath", "d.example.com/a.js").wantErr(t, http.StatusNotFound, "InvalidDomain.NotFound")
	if e.str("HostId") != "cdn.aliyuncs.com" {
		t.Errorf("CDN error HostId %q", e.str("HostId"))
	}
	e = dcdn.call(actDcdnRefresh, "ObjectPath", "example.com/a.js").wantErr(t, http.StatusNotFound, "InvalidDomain.NotFound")
	if e.str("HostId") != "dcdn.aliyuncs.com" || !strings.Contains(e.str("Message"), "DCDN") {
		t.Errorf("DCDN error %s", e.raw)
	}
	dcdn.call(actDcdnPreload, "ObjectPath", "example.com/a.js").wantErr(t, http.StatusNotFound, "InvalidDomain.NotFound")
	cdn.call(actPush, "ObjectPath", "d.example.com/a.js").wantErr(t, http.StatusNotFound, "InvalidDomain.NotFound")

	// Quotas apart: DCDN spent 2 URLs and 1 prefetch, CDN 1 URL.
	if got := s.DCDNQuotaUsed(); got.URL != 2 || got.Preload != 1 {
		t.Errorf("DCDN used %+v", got)
	}
	if got := s.QuotaUsed(); got.URL != 1 || got.Preload != 0 {
		t.Errorf("CDN used %+v", got)
	}
	q := dcdn.call(actDcdnQuota).wantOK(t)
	if q.str("UrlQuota") != "5" || q.str("UrlRemain") != "3" || q.str("PreloadRemain") != "1" || q.str("IgnoreParamsQuota") == "" {
		t.Errorf("DescribeDcdnRefreshQuota %s", q.raw)
	}
	if _, has := q.body["PreloadEdgeQuota"]; has {
		t.Errorf("DCDN reports PreloadEdgeQuota: %s", q.raw)
	}
	if q := cdn.call(actQuota).wantOK(t); q.str("UrlRemain") != strconv.Itoa(DefaultURLQuota-1) {
		t.Errorf("DescribeRefreshQuota %s", q.raw)
	}

	// DCDN's quota runs out while CDN's has room.
	dcdn.call(actDcdnRefresh, "ObjectPath", urls("d.example.com", 4)).wantErr(t, http.StatusBadRequest, "QuotaExceeded.Refresh")
	dcdn.call(actDcdnPreload, "ObjectPath", "d.example.com/x\nd.example.com/y").wantErr(t, http.StatusBadRequest, "QuotaExceeded.Preload")
	cdn.call(actRefresh, "ObjectPath", urls("example.com", 4)).wantOK(t)
	if got := s.DCDNQuotaRemaining(); got.URL != 3 || got.Preload != 1 {
		t.Errorf("a refused call spent DCDN quota: %+v", got)
	}
}

func TestDCDNObjectTypesAndLimits(t *testing.T) {
	t.Parallel()
	s, cdn, dcdn, _ := dcdnPair(t, Options{})
	dcdn.mode, cdn.mode = viaForm, viaForm

	r := dcdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/a?x=1\nd.example.com/b?y=2", "ObjectType", "IgnoreParams").wantOK(t)
	if ids := taskIDs(t, r, "RefreshTaskId"); len(ids) != 2 {
		t.Errorf("IgnoreParams tasks %v, want one per URL", ids)
	}
	if got := s.DCDNQuotaUsed(); got.IgnoreParams != 2 || got.URL != 0 {
		t.Errorf("IgnoreParams spent %+v, want 2 of IgnoreParams", got)
	}
	dcdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/a", "ObjectType", "ExQuery").wantErr(t, http.StatusBadRequest, "InvalidObjectType.Malformed")
	cdn.call(actRefresh, "ObjectPath", "example.com/a", "ObjectType", "IgnoreParams").wantErr(t, http.StatusBadRequest, "InvalidObjectType.Malformed")
	dcdn.call(actDcdnRefresh, "ObjectPath", urls("d.example.com", 1001)).wantErr(t, http.StatusBadRequest, "SingleRequest.OverLimit")
	dcdn.call(actDcdnRefresh, "ObjectPath", urls("d.example.com", 1000)).wantOK(t)
	dcdn.call(actDcdnPreload, "ObjectPath", urls("d.example.com", 101)).wantErr(t, http.StatusBadRequest, "SingleRequest.OverLimit")
	dcdn.call(actDcdnPreload, "ObjectPath", urls("d.example.com", 100)).wantOK(t)
	var dirs []string
	for i := range 101 {
		dirs = append(dirs, "d.example.com/dir"+strconv.Itoa(i)+"/")
	}
	dcdn.call(actDcdnRefresh, "ObjectPath", strings.Join(dirs, "\n"), "ObjectType", "Directory").wantErr(t, http.StatusBadRequest, "SingleRequest.OverLimit")

	// Signature checks and versions as for CDN: a DCDN action wants
	// 2018-01-15, a CDN action refuses it.
	cdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/a").wantErr(t, http.StatusBadRequest, "InvalidVersion")
	dcdn.call(actRefresh, "ObjectPath", "example.com/a").wantErr(t, http.StatusBadRequest, "InvalidVersion")
	bad := newTestClient(t, s.URL, dcdn.clock)
	bad.version, bad.secret = dcdnVersion, "wrong"
	bad.call(actDcdnQuota).wantErr(t, http.StatusBadRequest, "SignatureDoesNotMatch")
}

// DCDN tasks complete on the emulator clock like CDN's, are found by ID
// only through DCDN's actions, and list in Tasks.Task, a directory as
// "path", at most 50 a page.
func TestDCDNTasks(t *testing.T) {
	t.Parallel()
	s, cdn, dcdn, clock := dcdnPair(t, Options{TaskPending: 5 * time.Second, TaskDuration: 10 * time.Second})
	r := dcdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/d1/\nd.example.com/d2/", "ObjectType", "Directory").wantOK(t)
	ids := r.str("RefreshTaskId")
	byID := func() apiclient.TasksByID {
		return decode[apiclient.TasksByID](t, dcdn.call(actDcdnTaskByID, "TaskId", ids).wantOK(t))
	}
	if got := byID(); len(got.Tasks) != 2 || got.Tasks[0].Status != apiclient.TaskPending || got.Tasks[0].ObjectType != "path" {
		t.Fatalf("at once: %+v", got)
	}
	clock.Advance(15 * time.Second)
	for _, task := range byID().Tasks {
		if task.Status != apiclient.TaskComplete || task.Process != "100%" {
			t.Errorf("after 15s: %+v", task)
		}
	}
	if got := decode[apiclient.TasksByID](t, cdn.call(actTaskByID, "TaskId", ids).wantOK(t)); len(got.Tasks) != 0 {
		t.Errorf("CDN finds DCDN tasks: %+v", got)
	}
	if len(s.Tasks()) != 0 || len(s.DCDNTasks()) != 2 {
		t.Errorf("%d CDN tasks, %d DCDN tasks", len(s.Tasks()), len(s.DCDNTasks()))
	}

	list := dcdn.call(actDcdnTasks, "DomainName", "d.example.com", "ObjectType", "directory").wantOK(t)
	type dcdnPage struct {
		TotalCount int
		Tasks      struct {
			Task    []apiclient.Task
			CDNTask []apiclient.Task
		}
	}
	page := decode[dcdnPage](t, list)
	if page.TotalCount != 2 || len(page.Tasks.Task) != 2 || page.Tasks.CDNTask != nil {
		t.Errorf("DescribeDcdnRefreshTasks %s", list.raw)
	}
	dcdn.call(actDcdnTasks, "PageSize", "51").wantErr(t, http.StatusBadRequest, "InvalidParameter")
	dcdn.call(actDcdnTasks, "DomainName", "example.com", "ObjectType", "file").wantErr(t, http.StatusNotFound, "InvalidDomain.NotFound")
	cdn.call(actTasks, "PageSize", "51").wantOK(t)
}

// DCDN's quota resets at the same 00:00 Asia/Shanghai as CDN's, and its
// per-domain minute counts its own URLs.
func TestDCDNQuotaDayAndMinute(t *testing.T) {
	t.Parallel()
	s, cdn, dcdn, clock := dcdnPair(t, Options{DCDNURLQuota: 2000, DCDNDomainURLsPerMinute: 1000})
	dcdn.mode = viaForm
	dcdn.call(actDcdnRefresh, "ObjectPath", urls("d.example.com", 1000)).wantOK(t)
	dcdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/one-more").wantErr(t, http.StatusBadRequest, "QuotaPerMinuteExceeded.Refresh")
	dcdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/q?a=1", "ObjectType", "IgnoreParams").wantErr(t, http.StatusBadRequest, "QuotaPerMinuteExceeded.Refresh")
	cdn.call(actRefresh, "ObjectPath", "example.com/free").wantOK(t)
	clock.Advance(time.Minute)
	dcdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/next-minute").wantOK(t)
	if got := s.DCDNQuotaRemaining().URL; got != 999 {
		t.Fatalf("DCDN URL remain %d", got)
	}
	// 10:01 UTC is 18:01 in Shanghai: six hours later it is a new day.
	clock.Advance(6 * time.Hour)
	if got := s.DCDNQuotaRemaining().URL; got != 2000 {
		t.Errorf("after 00:00 Asia/Shanghai DCDN URL remain %d, want 2000", got)
	}
}

// Faults can target one product: a DCDN outage or forced DCDN errors
// while CDN answers, and the reverse; an error forced on an action goes
// before its product's.
func TestProductFaults(t *testing.T) {
	t.Parallel()
	s, cdn, dcdn, clock := dcdnPair(t, Options{})
	s.SetProductOutage(apiclient.ProductDCDN, clock.Now().Add(time.Minute))
	dcdn.call(actDcdnRefresh, "ObjectPath", "d.example.com/a").wantErr(t, http.StatusServiceUnavailable, "ServiceUnAvailable")
	dcdn.call(actDcdnQuota).wantErr(t, http.StatusServiceUnavailable, "ServiceUnAvailable")
	cdn.call(actRefresh, "ObjectPath", "example.com/a").wantOK(t)
	clock.Advance(time.Minute)
	dcdn.call(actDcdnQuota).wantOK(t)

	s.ForceProductError(apiclient.ProductDCDN, 2, "InternalError")
	s.ForceError(actDcdnQuota, 1, "Throttling.User")
	dcdn.call(actDcdnQuota).wantErr(t, http.StatusBadRequest, "Throttling.User")
	cdn.call(actQuota).wantOK(t)
	dcdn.call(actDcdnQuota).wantErr(t, http.StatusInternalServerError, "InternalError")
	dcdn.call(actDcdnPreload, "ObjectPath", "d.example.com/a").wantErr(t, http.StatusInternalServerError, "InternalError")
	dcdn.call(actDcdnPreload, "ObjectPath", "d.example.com/a").wantOK(t)

	s.ForceProductError(apiclient.ProductCDN, 1, "ServiceUnAvailable")
	dcdn.call(actDcdnQuota).wantOK(t)
	cdn.call(actQuota).wantErr(t, http.StatusServiceUnavailable, "ServiceUnAvailable")
	s.ForceProductError(apiclient.ProductDCDN, 5, "InternalError")
	s.ClearForcedErrors()
	dcdn.call(actDcdnQuota).wantOK(t)
	if got := s.Refused(actDcdnQuota, "InternalError"); got != 1 {
		t.Errorf("%d forced InternalErrors recorded for DescribeDcdnRefreshQuota", got)
	}
}

func TestDCDNDomainOptions(t *testing.T) {
	t.Parallel()
	if err := (Options{Domains: []string{"a.example.com"}, DCDNDomains: []string{"A.example.com"}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "--dcdn-domains") {
		t.Errorf("a domain on both products: %v", err)
	}
	if err := (Options{DCDNDomains: []string{"bad domain"}}).Validate(); err == nil || !strings.Contains(err.Error(), "--dcdn-domains") {
		t.Errorf("bad DCDN domain: %v", err)
	}
	if err := (Options{DCDNURLQuota: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "--dcdn-url-quota") {
		t.Errorf("negative DCDN quota: %v", err)
	}
	// An account set up with DCDN domains only has no CDN domain.
	s, cdn, dcdn, _ := dcdnPair(t, Options{Domains: []string{}, DCDNDomains: []string{"example.com"}})
	cdn.call(actRefresh, "ObjectPath", "example.com/a").wantErr(t, http.StatusNotFound, "InvalidDomain.NotFound")
	dcdn.call(actDcdnRefresh, "ObjectPath", "example.com/a").wantOK(t)
	s.AddDCDNDomain("*.img.example.com")
	dcdn.call(actDcdnRefresh, "ObjectPath", "a.img.example.com/x").wantOK(t)
	if !s.SetDomainConfiguring("example.com", true) || s.DomainStatus("example.com") != "configuring" {
		t.Fatal("a DCDN domain cannot be set configuring")
	}
	dcdn.call(actDcdnRefresh, "ObjectPath", "example.com/a").wantErr(t, http.StatusForbidden, "ServiceBusy")
}
