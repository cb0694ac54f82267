package cdnemu

import (
	"flag"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

func TestOpenCdnService(t *testing.T) {
	_, c, _ := newTestServer(t, Options{ServiceNotOpened: true})
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantErr(t, 403, "OperationDenied")
	if r := c.call("DescribeCdnService").wantOK(t); r.str("InternetChargeType") != "" || r.str("OpeningTime") != "" {
		t.Fatalf("unopened service: %s", r.raw)
	}
	c.call("OpenCdnService").wantErr(t, 400, "MissingParameter")
	c.call("OpenCdnService", "InternetChargeType", "PayByLuck").wantErr(t, 400, "InvalidInternetChargeType.ValueNotSupported")
	c.call("OpenCdnService", "InternetChargeType", "PayByBandwidth").wantOK(t)
	c.call("OpenCdnService", "InternetChargeType", "PayByBandwidth").wantErr(t, 400, "CdnService.HasOpened")
	r := decode[apiclient.ServiceStatus](t, c.call("DescribeCdnService").wantOK(t))
	if r.InternetChargeType != "PayByBandwidth" || r.OpeningTime != "2024-05-01T10:00:00Z" || r.InstanceID != DefaultInstanceID || len(r.Locks()) != 0 {
		t.Fatalf("%+v", r)
	}
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantOK(t)
}

func TestModifyCdnService(t *testing.T) {
	s, c, clock := newTestServer(t, Options{})
	c.call("ModifyCdnService", "InternetChargeType", "Monthly").wantErr(t, 400, "InvalidInternetChargeType.ValueNotSupported")
	c.call("ModifyCdnService", "InternetChargeType", "PayByBandwidth").wantOK(t)
	r := decode[apiclient.ServiceStatus](t, c.call("DescribeCdnService").wantOK(t))
	if r.InternetChargeType != "PayByTraffic" || r.ChangingChargeType != "PayByBandwidth" || r.ChangingAffectTime != "2024-05-01T16:00:00Z" {
		t.Fatalf("pending change: %+v", r)
	}
	clock.Set(time.Date(2024, 5, 1, 15, 59, 59, 0, time.UTC))
	if cur, pend := s.ChargeType(); cur != "PayByTraffic" || pend != "PayByBandwidth" {
		t.Fatalf("before midnight: %s %s", cur, pend)
	}
	clock.Advance(time.Second)
	r = decode[apiclient.ServiceStatus](t, c.call("DescribeCdnService").wantOK(t))
	if r.InternetChargeType != "PayByBandwidth" || r.ChangingChargeType != "" || r.ChangingAffectTime != "" {
		t.Fatalf("after Shanghai midnight: %+v", r)
	}
	// Changing and changing back cancels.
	c.call("ModifyCdnService", "InternetChargeType", "PayByTraffic").wantOK(t)
	c.call("ModifyCdnService", "InternetChargeType", "PayByBandwidth").wantOK(t)
	if _, pend := s.ChargeType(); pend != "" {
		t.Fatalf("pending %s", pend)
	}
}

func TestFinancialLock(t *testing.T) {
	s, c, _ := newTestServer(t, Options{})
	r := c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantOK(t)
	s.SetFinancialLock(true)
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/b").wantErr(t, 400, "InsufficientBalance")
	c.call("PushObjectCache", "ObjectPath", "example.com/b").wantErr(t, 400, "InsufficientBalance")
	c.call("ModifyCdnService", "InternetChargeType", "PayByBandwidth").wantErr(t, 400, "InsufficientBalance")
	st := decode[apiclient.ServiceStatus](t, c.call("DescribeCdnService").wantOK(t))
	if !st.FinanciallyLocked() {
		t.Fatalf("no financial lock shown: %+v", st)
	}
	// Reads work as usual.
	c.call("DescribeRefreshTaskById", "TaskId", r.str("RefreshTaskId")).wantOK(t)
	c.call("DescribeRefreshQuota").wantOK(t)
	if used := s.QuotaUsed(); used.URL != 1 || used.Preload != 0 {
		t.Fatalf("locked calls spent quota: %+v", used)
	}
	s.SetFinancialLock(false)
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/b").wantOK(t)
}

func TestDescribeDcdnIpaService(t *testing.T) {
	s, c, _ := newTestServer(t, Options{})
	c.version = dcdnVersion
	r := c.call("DescribeDcdnIpaService").wantErr(t, 403, "DcdnIpaServiceNotFound")
	if r.str("HostId") != "dcdn.aliyuncs.com" {
		t.Fatalf("HostId %s", r.str("HostId"))
	}
	s.SetDcdnIpa(true)
	st := decode[apiclient.ServiceStatus](t, c.call("DescribeDcdnIpaService").wantOK(t))
	if st.InternetChargeType == "" || st.OpeningTime == "" || st.InstanceID == "" {
		t.Fatalf("%+v", st)
	}
	c.version = "2018-05-10"
	c.call("DescribeDcdnIpaService").wantErr(t, 400, "InvalidVersion")
}

func TestFaultRates(t *testing.T) {
	run := func() (string, map[string]int) {
		s, c, _ := newTestServer(t, Options{NoRateLimit: true, Seed: 42, Faults: Faults{ErrorRate500: 0.2, ErrorRate503: 0.1}})
		var seq strings.Builder
		for range 500 {
			r := c.call("DescribeRefreshQuota")
			switch r.status {
			case 200:
				seq.WriteByte('.')
			case 500:
				if r.code != "InternalError" {
					t.Fatalf("500 with %s", r.code)
				}
				seq.WriteByte('5')
			case 503:
				if r.code != "ServiceUnAvailable" {
					t.Fatalf("503 with %s", r.code)
				}
				seq.WriteByte('3')
			default:
				t.Fatalf("status %d", r.status)
			}
		}
		return seq.String(), s.Codes("DescribeRefreshQuota")
	}
	a, codes := run()
	b, _ := run()
	if a != b {
		t.Fatal("same seed, different fault sequence")
	}
	if n := codes["InternalError"]; n < 60 || n > 140 {
		t.Fatalf("%d InternalError of 500 at 0.2", n)
	}
	if n := codes["ServiceUnAvailable"]; n < 25 || n > 75 {
		t.Fatalf("%d ServiceUnAvailable of 500 at 0.1", n)
	}
}

func TestSetFaultsAtRunTime(t *testing.T) {
	s, c, _ := newTestServer(t, Options{})
	s.SetFaults(Faults{ErrorRate503: 1})
	c.call("DescribeRefreshQuota").wantErr(t, 503, "ServiceUnAvailable")
	s.SetFaults(Faults{ErrorRate500: 1})
	c.call("DescribeRefreshQuota").wantErr(t, 500, "InternalError")
	s.SetFaults(Faults{})
	c.call("DescribeRefreshQuota").wantOK(t)
	if s.CurrentFaults() != (Faults{}) {
		t.Fatal("faults kept")
	}
}

func TestOutage(t *testing.T) {
	s, c, clock := newTestServer(t, Options{})
	s.SetOutage(clock.Now().Add(time.Minute))
	c.call("DescribeRefreshQuota").wantErr(t, 503, "ServiceUnAvailable")
	c.send(http.MethodGet, c.params("DescribeRefreshQuota")).wantErr(t, 503, "ServiceUnAvailable") // unsigned too
	clock.Advance(time.Minute)
	c.call("DescribeRefreshQuota").wantOK(t)
	s.SetOutage(clock.Now().Add(time.Hour))
	s.SetOutage(time.Time{})
	c.call("DescribeRefreshQuota").wantOK(t)
}

func TestForceError(t *testing.T) {
	s, c, _ := newTestServer(t, Options{})
	s.ForceError("RefreshObjectCaches", 2, "Throttling.User")
	s.ForceError("RefreshObjectCaches", 1, "QuotaExceeded.Refresh")
	s.ForceError("PushObjectCache", 1, "PreloadQueueFull")
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantErr(t, 400, "Throttling.User")
	c.call("DescribeRefreshQuota").wantOK(t) // other actions are not affected
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantErr(t, 400, "Throttling.User")
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantErr(t, 400, "QuotaExceeded.Refresh")
	c.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantOK(t)
	c.call("PushObjectCache", "ObjectPath", "example.com/a").wantErr(t, 403, "PreloadQueueFull")
	s.ForceError("PushObjectCache", 5, "Throttling.Api")
	s.ClearForcedErrors()
	c.call("PushObjectCache", "ObjectPath", "example.com/a").wantOK(t)
	if s.QuotaUsed().URL != 1 {
		t.Fatal("forced errors spent quota")
	}
}

func TestRecording(t *testing.T) {
	s, c, _ := newTestServer(t, Options{})
	c.mode = viaForm
	r1 := c.call("RefreshObjectCaches", "ObjectPath", "example.com/a\nexample.com/b").wantOK(t)
	c.call("RefreshObjectCaches", "ObjectPath", "example.org/x").wantErr(t, 404, "InvalidDomain.NotFound")
	r2 := c.call("RefreshObjectCaches", "ObjectPath", "example.com/c", "ObjectType", "Directory").wantOK(t)
	c.call("PushObjectCache", "ObjectPath", "example.com/p").wantOK(t)

	if s.Calls("RefreshObjectCaches") != 3 || s.Accepted("RefreshObjectCaches") != 2 || s.Refused("RefreshObjectCaches", "InvalidDomain.NotFound") != 1 {
		t.Fatalf("counts %d %d %v", s.Calls("RefreshObjectCaches"), s.Accepted("RefreshObjectCaches"), s.Codes("RefreshObjectCaches"))
	}
	if got := s.Paths("RefreshObjectCaches"); strings.Join(got, ",") != "example.com/a,example.com/b,example.com/c" {
		t.Fatalf("Paths %v", got)
	}
	if got := s.Paths("PushObjectCache"); len(got) != 1 {
		t.Fatalf("push paths %v", got)
	}
	recs := s.PathRecords("RefreshObjectCaches")
	if recs[0].RequestID != r1.str("RequestId") || recs[1].RequestID != r1.str("RequestId") || recs[2].RequestID != r2.str("RequestId") {
		t.Fatalf("PathRecords %+v", recs)
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[1].Code != "InvalidDomain.NotFound" || reqs[1].Status != 404 || reqs[0].Method != "POST" ||
		reqs[2].Params.Get("ObjectType") != "Directory" || reqs[0].RequestID != r1.str("RequestId") {
		t.Fatalf("Requests %+v", reqs)
	}
	nonces := s.Nonces()
	if len(nonces) != 4 {
		t.Fatalf("Nonces %v", nonces)
	}
	seen := map[string]bool{}
	for _, n := range nonces {
		if seen[n] {
			t.Fatal("repeated nonce recorded")
		}
		seen[n] = true
	}
	s.ResetRecording()
	if s.Calls("RefreshObjectCaches") != 0 || len(s.Requests()) != 0 {
		t.Fatal("not reset")
	}

	// Bounded request log, paths off.
	s2, c2, _ := newTestServer(t, Options{RecordRequests: 3, NoRecordPaths: true})
	for range 5 {
		c2.call("RefreshObjectCaches", "ObjectPath", "example.com/a").wantOK(t)
	}
	if len(s2.Requests()) != 3 || len(s2.Nonces()) != 3 || len(s2.Paths("RefreshObjectCaches")) != 0 || s2.Accepted("RefreshObjectCaches") != 5 {
		t.Fatalf("bounded: %d requests, %d paths", len(s2.Requests()), len(s2.Paths("RefreshObjectCaches")))
	}
	if s2.TaskCount() != 5 {
		t.Fatal("tasks")
	}
}

func TestFlagsAndValidate(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	o.RegisterFlags(fs)
	err := fs.Parse([]string{"--access-key-id", "k", "--access-key-secret", "s3cr3t", "--domains", "a.test, b.test",
		"--url-quota", "50", "--task-duration", "2s", "--task-fail-rate", "0.1", "--error-rate-500", "0.01",
		"--latency", "5ms", "--no-rate-limit", "--seed", "9", "--rate-limit", "RefreshObjectCaches=5,PushObjectCache=0",
		"--dcdn-ipa"})
	if err != nil {
		t.Fatal(err)
	}
	if o.AccessKeyID != "k" || strings.Join(o.Domains, ",") != "a.test,b.test" || o.URLQuota != 50 || o.DirQuota != DefaultDirQuota ||
		o.TaskDuration != 2*time.Second || o.TaskFailRate != 0.1 || o.Faults.ErrorRate500 != 0.01 || o.Faults.Latency != 5*time.Millisecond ||
		!o.NoRateLimit || o.Seed != 9 || o.RateLimits["RefreshObjectCaches"] != 5 || !o.DcdnIpaEnabled {
		t.Fatalf("parsed %#v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{o.String(), fmt.Sprintf("%v %+v %#v", o, o, o)} {
		if strings.Contains(s, "s3cr3t") {
			t.Fatalf("secret shown: %s", s)
		}
	}

	bad := Options{AccessKeyID: "k", TaskFailRate: 2, Faults: Faults{ErrorRate503: -1, Latency: -time.Second},
		Domains: []string{"http://x.test/"}, URLQuota: -1, InternetChargeType: "Free"}
	err = bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, flag := range []string{"--access-key-secret", "--task-fail-rate", "--error-rate-503", "--latency", "--domains", "--url-quota", "--charge-type"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error does not name %s: %v", flag, err)
		}
	}
	if _, err := New(bad); err == nil {
		t.Fatal("New accepted bad options")
	}
}
