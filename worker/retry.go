package worker

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// RetryJob is the new job of a retry (`cdnpurge jobs retry`, the
// console): the old job's failed and rejected paths, with the old job's
// spec when it is known (still queued somewhere), else a refresh of
// objectType (guessed from the paths when empty), with source
// retry:<old ID>.
func RetryJob(v JobView, objectType string, now time.Time) (*jobs.Job, error) {
	var paths []string
	for _, p := range v.Problems {
		if p.Path != "" && !slices.Contains(paths, p.Path) {
			paths = append(paths, p.Path)
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no failed or rejected path is recorded for it")
	}
	j := &jobs.Job{Kind: jobs.KindRefresh}
	switch {
	case retryTags(v, paths) != nil:
		j.Refresh = retryTags(v, paths)
	case v.Job != nil && v.Job.Push != nil:
		spec := *v.Job.Push
		spec.Paths = paths
		j.Kind, j.Push = jobs.KindPush, &spec
	case v.Job != nil && v.Job.Refresh != nil:
		spec := *v.Job.Refresh
		spec.Paths = paths
		j.Refresh = &spec
	case v.Kind == jobs.KindPush:
		j.Kind, j.Push = jobs.KindPush, &jobs.PushSpec{Paths: paths}
	default:
		ot := objectType
		if ot == "" {
			ot = string(apiclient.ObjectFile)
			if !slices.ContainsFunc(paths, func(p string) bool { return !strings.HasSuffix(p, "/") }) {
				ot = string(apiclient.ObjectDirectory)
			}
		}
		parsed, _ := apiclient.ParseObjectType(ot)
		j.Refresh = &jobs.RefreshSpec{Paths: paths, ObjectType: string(parsed)}
	}
	j.Prepare("retry:"+v.ID, now)
	return j, nil
}
