package apiclient

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"
)

// CDN API versions: the current one and the legacy one, which is signed
// with v1 (Options.Version).
const (
	VersionCurrent = "2018-05-10"
	versionLegacy  = "2014-11-11"
)

// ObjectType is what a refresh addresses.
type ObjectType string

// Object types of RefreshObjectCaches.
const (
	ObjectFile      ObjectType = "File"
	ObjectDirectory ObjectType = "Directory"
	ObjectRegex     ObjectType = "Regex"
	ObjectExQuery   ObjectType = "ExQuery"
	// objectIgnoreParams is DCDN's name for ExQuery
	// ("RefreshDcdnObjectCaches", ObjectType); DCDN counts it against
	// IgnoreParamsQuota.
	objectIgnoreParams ObjectType = "IgnoreParams"
)

// ParseObjectType accepts the API spelling in any case ("file", "Directory").
func ParseObjectType(s string) (ObjectType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "file":
		return ObjectFile, nil
	case "directory", "dir", "path":
		return ObjectDirectory, nil
	case "regex":
		return ObjectRegex, nil
	case "exquery", "ignoreparams":
		return ObjectExQuery, nil
	case "cachekey":
		return ObjectCacheKey, nil
	// ESA's whole-host and whole-site purges: only the CLI's direct path
	// and schedules send them; jobs.Validate refuses them on the wire.
	case "hostname":
		return ObjectHostname, nil
	case "purgeall":
		return ObjectPurgeAll, nil
	}
	return "", fmt.Errorf("object type %q: want File, Directory, Regex, ExQuery (IgnoreParams) or, on ESA sites, CacheKey", s)
}

// DefaultTasksPageSize is the PageSize DescribeRefreshTasks answers with
// when none is asked for.
const DefaultTasksPageSize = 20

// QuotaTimeZone is where the daily quotas roll over, at 00:00.
const QuotaTimeZone = "Asia/Shanghai"

// RefreshRequest is one RefreshObjectCaches call.
type RefreshRequest struct {
	// Paths are joined with "\n" into ObjectPath.
	Paths      []string
	ObjectType ObjectType
	// Force only applies to Directory, Regex and ExQuery: true purges all
	// under the scope, false only what changed at the origin.
	Force *bool
	// Headers go with each URL of an ESA cachekey purge (header names
	// such as UserGeo, UserDeviceType, UserLanguage).
	Headers map[string]string
}

// RefreshResult is the answer to RefreshObjectCaches.
type RefreshResult struct {
	RequestID string   `json:"RequestId"`
	TaskIDs   []string `json:"-"`
}

// PushRequest is one PushObjectCache call.
type PushRequest struct {
	Paths []string
	// Area is "domestic" or "overseas"; empty leaves it to the API.
	Area      string
	L2Preload bool
	// WithHeader is a JSON object of headers, sent as a string.
	WithHeader   string
	QueryHashkey bool
}

// PushResult is the answer to PushObjectCache.
type PushResult struct {
	RequestID string   `json:"RequestId"`
	TaskIDs   []string `json:"-"`
}

// RefreshQuota is DescribeRefreshQuota with its numbers parsed.
type RefreshQuota struct {
	RequestID          string
	URLQuota           int64
	URLRemain          int64
	DirQuota           int64
	DirRemain          int64
	RegexQuota         int64
	RegexRemain        int64
	PreloadQuota       int64
	PreloadRemain      int64
	BlockQuota         int64
	BlockRemain        int64
	IgnoreParamsQuota  int64
	IgnoreParamsRemain int64
	PreloadEdgeQuota   int64
	PreloadEdgeRemain  int64
	// ESA holds every purge type's quota and use of an ESA site (nil for
	// CDN and DCDN); URL, Dir and IgnoreParams are filled from file,
	// directory and ignoreParams too.
	ESA map[esa.PurgeType]esa.Quota
}

// rawRefreshQuota is the wire shape of DescribeRefreshQuota: numbers as
// strings.
type rawRefreshQuota struct {
	RequestID          string `json:"RequestId"`
	URLQuota           string `json:"UrlQuota"`
	URLRemain          string `json:"UrlRemain"`
	DirQuota           string `json:"DirQuota"`
	DirRemain          string `json:"DirRemain"`
	RegexQuota         string `json:"RegexQuota"`
	RegexRemain        string `json:"RegexRemain"`
	PreloadQuota       string `json:"PreloadQuota"`
	PreloadRemain      string `json:"PreloadRemain"`
	BlockQuota         string `json:"BlockQuota"`
	BlockRemain        string `json:"BlockRemain"`
	IgnoreParamsQuota  string `json:"IgnoreParamsQuota"`
	IgnoreParamsRemain string `json:"IgnoreParamsRemain"`
	PreloadEdgeQuota   string `json:"PreloadEdgeQuota"`
	PreloadEdgeRemain  string `json:"PreloadEdgeRemain"`
}

// parse is Parse for the answer of action (DescribeRefreshQuota or
// DescribeDcdnRefreshQuota), which its errors name.
func (r rawRefreshQuota) parse(action string) (RefreshQuota, error) {
	q := RefreshQuota{RequestID: r.RequestID}
	fields := []struct {
		name string
		in   string
		out  *int64
	}{
		{"UrlQuota", r.URLQuota, &q.URLQuota}, {"UrlRemain", r.URLRemain, &q.URLRemain},
		{"DirQuota", r.DirQuota, &q.DirQuota}, {"DirRemain", r.DirRemain, &q.DirRemain},
		{"RegexQuota", r.RegexQuota, &q.RegexQuota}, {"RegexRemain", r.RegexRemain, &q.RegexRemain},
		{"PreloadQuota", r.PreloadQuota, &q.PreloadQuota}, {"PreloadRemain", r.PreloadRemain, &q.PreloadRemain},
		{"BlockQuota", r.BlockQuota, &q.BlockQuota}, {"BlockRemain", r.BlockRemain, &q.BlockRemain},
		{"IgnoreParamsQuota", r.IgnoreParamsQuota, &q.IgnoreParamsQuota}, {"IgnoreParamsRemain", r.IgnoreParamsRemain, &q.IgnoreParamsRemain},
		{"PreloadEdgeQuota", r.PreloadEdgeQuota, &q.PreloadEdgeQuota}, {"PreloadEdgeRemain", r.PreloadEdgeRemain, &q.PreloadEdgeRemain},
	}
	for _, f := range fields {
		s := strings.TrimSpace(f.in)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return RefreshQuota{}, fmt.Errorf("%s field %s = %q: not a number", action, f.name, f.in)
		}
		*f.out = n
	}
	return q, nil
}

// Task statuses reported by DescribeRefreshTasks.
const (
	TaskPending    = "Pending"
	TaskRefreshing = "Refreshing"
	TaskComplete   = "Complete"
	TaskFailed     = "Failed"
)

// Task is one CDNTask of DescribeRefreshTasks / DescribeRefreshTaskById.
type Task struct {
	TaskID       string `json:"TaskId"`
	ObjectPath   string `json:"ObjectPath"`
	Process      string `json:"Process"`
	Status       string `json:"Status"`
	CreationTime string `json:"CreationTime"`
	Description  string `json:"Description,omitempty"`
	ObjectType   string `json:"ObjectType"`
}

// Done reports whether the task reached a final status.
func (t Task) Done() bool { return TaskFinal(t.Status) }

// TaskFinal reports whether a task status is final (Complete or Failed):
// the one place that says so, for the tracker, the CLI and the job views.
func TaskFinal(status string) bool { return status == TaskComplete || status == TaskFailed }

// DescribeTasksRequest filters DescribeRefreshTasks. Zero fields are not sent.
type DescribeTasksRequest struct {
	TaskID     string
	ObjectPath string
	DomainName string
	// ObjectType is file, directory, regex or preload; required by the API
	// when DomainName or Status is set.
	ObjectType string
	Status     string
	StartTime  string
	EndTime    string
	PageNumber int
	PageSize   int
}

// TaskPage is the answer to DescribeRefreshTasks.
type TaskPage struct {
	RequestID  string `json:"RequestId"`
	PageNumber int64  `json:"PageNumber"`
	PageSize   int64  `json:"PageSize"`
	TotalCount int64  `json:"TotalCount"`
	Tasks      struct {
		CDNTask []Task `json:"CDNTask"`
	} `json:"Tasks"`
}

// TasksByID is the answer to DescribeRefreshTaskById.
type TasksByID struct {
	RequestID  string `json:"RequestId"`
	TotalCount int64  `json:"TotalCount"`
	Tasks      []Task `json:"Tasks"`
}

// Billing methods.
const (
	PayByTraffic   = "PayByTraffic"
	PayByBandwidth = "PayByBandwidth"
)

// LockReasonFinancial is the OperationLocks reason of an overdue account.
const LockReasonFinancial = "financial"

// ServiceStatus is the answer to DescribeCdnService and DescribeDcdnIpaService.
type ServiceStatus struct {
	RequestID          string `json:"RequestId"`
	InstanceID         string `json:"InstanceId"`
	InternetChargeType string `json:"InternetChargeType"`
	OpeningTime        string `json:"OpeningTime"`
	ChangingChargeType string `json:"ChangingChargeType"`
	ChangingAffectTime string `json:"ChangingAffectTime"`
	OperationLocks     struct {
		LockReason []struct {
			LockReason string `json:"LockReason"`
		} `json:"LockReason"`
	} `json:"OperationLocks"`
}

// Locks returns the lock reasons, for example "financial".
func (s ServiceStatus) Locks() []string {
	out := make([]string, 0, len(s.OperationLocks.LockReason))
	for _, l := range s.OperationLocks.LockReason {
		out = append(out, l.LockReason)
	}
	return out
}

// FinanciallyLocked reports an overdue-payment lock.
func (s ServiceStatus) FinanciallyLocked() bool {
	for _, l := range s.Locks() {
		if strings.EqualFold(l, LockReasonFinancial) {
			return true
		}
	}
	return false
}

// SplitTaskIDs splits a comma-separated RefreshTaskId / PushTaskId.
func SplitTaskIDs(s string) []string {
	var out []string
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}
