package cdnemu

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Both tag actions answer on their product's domains, spend one unit of
// the directory quota per distinct tag, make a task per tag and refuse a
// wrong signature, an unknown domain, too many tags and a spent quota.
func TestRefreshByCacheTag(t *testing.T) {
	t.Parallel()
	s, cdn, dcdn, clock := dcdnPair(t, Options{DirQuota: 3, DCDNDirQuota: 1})

	r := cdn.call(actionRefreshByCacheTag, "DomainName", "example.com", "CacheTag", "home,sku-1,home", "Force", "true").wantOK(t)
	if ids := taskIDs(t, r, "RefreshTaskId"); len(ids) != 2 {
		t.Fatalf("task IDs %v, want one per distinct tag", ids)
	}
	if got := s.QuotaUsed(); got.Dir != 2 || got.URL != 0 {
		t.Errorf("CDN quota used %+v, want 2 dir", got)
	}
	var paths []string
	for _, task := range s.Tasks() {
		paths = append(paths, task.ObjectPath)
	}
	if want := "tag://example.com/home tag://example.com/sku-1"; strings.Join(paths, " ") != want {
		t.Errorf("tasks %q, want %q", paths, want)
	}

	// The quota: 1 left, 2 asked.
	cdn.call(actionRefreshByCacheTag, "DomainName", "example.com", "CacheTag", "a,b").wantErr(t, http.StatusBadRequest, "QuotaExceeded.Refresh")
	if got := s.QuotaUsed(); got.Dir != 2 {
		t.Errorf("a refused call spent quota: %+v", got)
	}

	cdn.call(actionRefreshByCacheTag, "DomainName", "d.example.com", "CacheTag", "a").wantErr(t, http.StatusNotFound, "InvalidDomain.NotFound")
	cdn.call(actionRefreshByCacheTag, "DomainName", "example.com").wantErr(t, http.StatusBadRequest, "MissingParameter")
	var many []string
	for i := range maxTagsPerCall + 1 {
		many = append(many, "t"+strconv.Itoa(i))
	}
	cdn.call(actionRefreshByCacheTag, "DomainName", "example.com", "CacheTag", strings.Join(many, ",")).wantErr(t, http.StatusBadRequest, "SingleRequest.OverLimit")

	dcdn.call(actionRefreshDcdnByCacheTag, "DomainName", "d.example.com", "CacheTag", "home").wantOK(t)
	dcdn.call(actionRefreshDcdnByCacheTag, "DomainName", "d.example.com", "CacheTag", "more").wantErr(t, http.StatusBadRequest, "QuotaExceeded.Refresh")
	if got := s.DCDNQuotaUsed(); got.Dir != 1 {
		t.Errorf("DCDN quota used %+v, want 1 dir", got)
	}

	bad := newTestClient(t, s.URL, clock)
	bad.secret = "wrong"
	bad.call(actionRefreshByCacheTag, "DomainName", "example.com", "CacheTag", "x").wantErr(t, http.StatusBadRequest, "SignatureDoesNotMatch")
}
