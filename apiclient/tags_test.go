package apiclient_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
)

// RefreshByCacheTag is one method for both products: CDN's and DCDN's
// actions, each product's domains and quota, signed like every call; it
// refuses locally what it must never send.
func TestRefreshByCacheTag(t *testing.T) {
	t.Parallel()
	c, emu, _ := mixedPair(t, cdnemu.Options{})
	ctx := context.Background()
	force := true
	r, err := c.RefreshByCacheTag(ctx, apiclient.CDN(), apiclient.TagRequest{Domain: "example.com", Tags: []string{"home", "nav"}, Force: &force})
	if err != nil || len(r.TaskIDs) != 2 || r.RequestID == "" {
		t.Fatalf("CDN: %+v, %v", r, err)
	}
	if _, err := c.RefreshByCacheTag(ctx, apiclient.DCDN(), apiclient.TagRequest{Domain: "d.example.com", Tags: []string{"home"}}); err != nil {
		t.Fatalf("DCDN: %v", err)
	}
	if got := emu.Paths("RefreshObjectCacheByCacheTag"); len(got) != 2 {
		t.Errorf("CDN tag action got %q", got)
	}
	if got := emu.Paths("RefreshDcdnObjectCacheByCacheTag"); len(got) != 1 {
		t.Errorf("DCDN tag action got %q", got)
	}
	if q := emu.QuotaUsed(); q.Dir != 2 {
		t.Errorf("CDN dir quota used %d, want 2", q.Dir)
	}
	if q := emu.DCDNQuotaUsed(); q.Dir != 1 {
		t.Errorf("DCDN dir quota used %d, want 1", q.Dir)
	}
	_, err = c.RefreshByCacheTag(ctx, apiclient.CDN(), apiclient.TagRequest{Domain: "d.example.com", Tags: []string{"x"}})
	if apiclient.Code(err) != "InvalidDomain.NotFound" {
		t.Errorf("DCDN domain on CDN: %v", err)
	}

	calls := emu.Calls("RefreshObjectCacheByCacheTag")
	many := make([]string, apiclient.CDN().Caps.TagsPerRefresh+1)
	for i := range many {
		many[i] = "t" + strconv.Itoa(i)
	}
	noTags := apiclient.CDN()
	noTags.Actions.RefreshByCacheTag = ""
	for name, tc := range map[string]struct {
		t apiclient.Target
		r apiclient.TagRequest
	}{
		"too many":      {apiclient.CDN(), apiclient.TagRequest{Domain: "example.com", Tags: many}},
		"comma":         {apiclient.CDN(), apiclient.TagRequest{Domain: "example.com", Tags: []string{"a,b"}}},
		"no tags":       {apiclient.CDN(), apiclient.TagRequest{Domain: "example.com"}},
		"no domain":     {apiclient.CDN(), apiclient.TagRequest{Tags: []string{"a"}}},
		"no tag action": {noTags, apiclient.TagRequest{Domain: "example.com", Tags: []string{"a"}}},
	} {
		if _, err := c.RefreshByCacheTag(ctx, tc.t, tc.r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if n := emu.Calls("RefreshObjectCacheByCacheTag"); n != calls {
		t.Errorf("%d calls sent for requests that must be refused locally", n-calls)
	}
}
