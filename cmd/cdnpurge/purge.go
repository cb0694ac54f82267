package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// purgeFlags are the flags of purge and push.
type purgeFlags struct {
	file       string
	objectType string
	force      bool
	area       string
	l2Preload  bool
	direct     bool
	wait       bool
	timeout    time.Duration
	poll       time.Duration
	idemKey    string
	priority   string
	domain     string // --type tag
	// headers are a cachekey purge's headers (ESA), --header NAME=VALUE.
	headers headerFlag
}

// request is what purge or push was asked to do, paths normalised.
type request struct {
	kind  jobs.Kind
	ot    apiclient.ObjectType
	force *bool
	area  string
	l2    bool
	// priority of the queued jobs; --direct sends at once anyway.
	priority jobs.Priority
	paths    []string
	// tagDomain is the domain of a refresh by cache tag (--type tag); its
	// paths are then the tags.
	tagDomain string
	// headers go with a CacheKey refresh (ESA sites).
	headers map[string]string
}

// job is the request as a job of the given paths (all of them when nil).
func (req request) job(paths []string) *jobs.Job {
	if paths == nil {
		paths = req.paths
	}
	j := &jobs.Job{Kind: req.kind, Priority: req.priority}
	if j.Priority == jobs.PriorityNormal {
		j.Priority = "" // the wire format's default
	}
	switch {
	case req.kind == jobs.KindPush:
		j.Push = &jobs.PushSpec{Paths: paths, Area: req.area, L2Preload: req.l2}
	case req.ot == apiclient.ObjectCacheTag:
		j.Refresh = &jobs.RefreshSpec{Type: jobs.RefreshTypeTag, Domain: req.tagDomain, Tags: paths, Force: req.force}
	default:
		j.Refresh = &jobs.RefreshSpec{Paths: paths, ObjectType: string(req.ot), Force: req.force, Headers: req.headers}
	}
	return j
}

func (a *app) purge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return a.submitCmd(ctx, jobs.KindRefresh, args, stdout, stderr)
}

func (a *app) push(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return a.submitCmd(ctx, jobs.KindPush, args, stdout, stderr)
}

func (a *app) submitCmd(ctx context.Context, kind jobs.Kind, args []string, stdout, stderr io.Writer) error {
	name, about, examples := "purge", `Refresh (purge) paths from the CDN cache. Paths come as arguments, from -f FILE,
or from standard input (-f - or a single -), one per line; blank lines and
lines starting with # are skipped. Every path is checked against the domain
allowlist first; nothing is sent when any is refused.

By default the paths are queued on NATS for the worker of a running serve
(the job IDs are printed). --direct calls the CDN API from this process with
the same batching, quota gate and retries. --wait follows the tasks until the
CDN reports them done. The exit status is 1 when anything failed or still
waits for quota.

--type tag refreshes cache tags instead of paths: the arguments are tags of
the one domain named by --domain (RefreshObjectCacheByCacheTag, or its DCDN
twin on a product: dcdn domain); each tag spends one unit of the directory
quota.`, `  cdnpurge purge https://static.example.com/app.js static.example.com/css/site.css
  cdnpurge purge --type directory --force https://static.example.com/img/
  cdnpurge purge --wait --type tag --domain static.example.com product-42 home
  git diff --name-only | sed 's#^public/#https://static.example.com/#' | cdnpurge purge -f - --wait
  cdnpurge purge --direct --wait -f urls.txt`
	if kind == jobs.KindPush {
		name, about, examples = "push", `Prefetch paths into the CDN cache (PushObjectCache). Paths come as for purge:
arguments, -f FILE or standard input. Queued on NATS by default; --direct calls
the API from this process; --wait follows the tasks until done.`, `  cdnpurge push https://static.example.com/app.js
  cdnpurge push --area overseas --l2-preload -f urls.txt --wait
  cdnpurge push --direct --wait https://static.example.com/video.mp4`
	}
	fs := a.newFlagSet(name, "[PATH...]", about, examples, stderr)
	var f purgeFlags
	fs.StringVar(&f.file, "f", "", "read paths from `FILE`, one per line (- for standard input)")
	if kind == jobs.KindRefresh {
		fs.StringVar(&f.objectType, "type", "file", "what the paths are: file, directory, regex, exquery (ignoreparams), or tag (cache tags of --domain); on ESA sites also cachekey, and with --direct hostname or purgeall (docs/esa.md)")
		fs.BoolVar(&f.force, "force", false, "directory, regex, exquery, tag: purge everything under the scope, not only what changed at the origin")
		fs.StringVar(&f.domain, "domain", "", "--type tag: the configured `DOMAIN` whose cache tags to refresh")
		fs.Var(&f.headers, "header", "cachekey (ESA): a `NAME=VALUE` header the cache key is built from, such as UserGeo=CN; repeat for more")
	} else {
		fs.StringVar(&f.area, "area", "", "prefetch area: domestic or overseas (default: the API's)")
		fs.BoolVar(&f.l2Preload, "l2-preload", false, "prefetch to L2 nodes too")
	}
	fs.BoolVar(&f.direct, "direct", false, "call the CDN API from this process instead of queueing")
	fs.BoolVar(&f.wait, "wait", false, "follow the tasks until the CDN reports them done")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "give up waiting after this long")
	fs.DurationVar(&f.poll, "poll", 2*time.Second, "how often --wait asks for task status (--direct)")
	fs.StringVar(&f.idemKey, "idempotency-key", "", "queue under `KEY`: running again with the same KEY and paths queues nothing new; other paths under it are refused")
	fs.StringVar(&f.priority, "priority", "normal", "queued jobs: high, normal or low; higher goes first when quota or calls are short")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	req := request{kind: kind, area: f.area, l2: f.l2Preload}
	pri, err := jobs.ParsePriority(f.priority)
	if err != nil {
		return usagef("--%v", err)
	}
	req.priority = pri
	if kind == jobs.KindRefresh {
		ot, err := parsePurgeType(f.objectType, f.direct)
		if err != nil {
			return usagef("--type %q: %v", f.objectType, err)
		}
		req.ot = ot
		switch {
		case ot == apiclient.ObjectCacheTag && f.domain == "":
			return usagef("--type tag needs --domain: the configured domain whose tags to refresh")
		case ot != apiclient.ObjectCacheTag && f.domain != "":
			return usagef("--domain applies to --type tag only; paths name their own domain")
		}
		req.tagDomain = f.domain
		if (ot == apiclient.ObjectCacheKey) != (len(f.headers) > 0) {
			return usagef("--header goes with --type cachekey, and cachekey needs at least one --header NAME=VALUE")
		}
		req.headers = f.headers
		if f.force {
			if ot == apiclient.ObjectFile {
				return usagef("--force applies to directory, regex and exquery refreshes only")
			}
			force := true
			req.force = &force
		}
	} else if f.area != "" && f.area != "domestic" && f.area != "overseas" {
		return usagef("--area %q: want domestic or overseas", f.area)
	}
	raw, err := a.readPaths(fs.Args(), f.file)
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		fs.Usage()
		what := "paths"
		if req.ot == apiclient.ObjectCacheTag {
			what = "tags"
		}
		return usagef("%s: no %s given (arguments, -f FILE or -f - for standard input)", name, what)
	}
	if f.poll <= 0 || f.timeout <= 0 {
		return usagef("--poll and --timeout must be > 0")
	}
	if f.idemKey != "" && f.direct {
		return usagef("--idempotency-key applies to queued jobs; leave out --direct")
	}
	a.natsOnly = !f.direct
	s, err := a.setup(stderr)
	if err != nil {
		return err
	}
	v, err := jobs.NewValidator(s.cfg.ValidatorConfig())
	if err != nil {
		return fmt.Errorf("domains: %w", err)
	}
	if req.ot == apiclient.ObjectCacheTag {
		req.tagDomain, req.paths, err = normalizeTags(v, raw, req)
	} else {
		req.paths, err = normalize(v, raw, req)
	}
	if err != nil {
		return err
	}
	if f.wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	prog := newProgress(stderr, name)
	var sum summary
	if f.direct {
		sum, err = a.runDirect(ctx, s, req, f, prog)
	} else {
		sum, err = a.runQueued(ctx, s, req, f, stdout, prog)
	}
	prog.done()
	// Only a wait that began can end early: a publish that timed out
	// queued nothing and is an error of its own, not "gave up waiting".
	waiting := sum.Waited || f.direct
	if err != nil && (!errors.Is(err, context.DeadlineExceeded) || !waiting) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		sum.TimedOut = true
	}
	if werr := sum.write(stdout, a.g.output == "json"); werr != nil {
		return werr
	}
	if err := sum.err(); err != nil && a.g.output == "json" {
		return reportedError{err}
	} else if err != nil {
		return err
	}
	return nil
}

// readPaths gathers paths from args, -f FILE and standard input.
func (a *app) readPaths(args []string, file string) ([]string, error) {
	var out []string
	fromStdin := file == "-"
	for _, p := range args {
		if p == "-" {
			fromStdin = true
			continue
		}
		out = append(out, p)
	}
	read := func(r io.Reader, what string) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, line)
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read paths from %s: %w", what, err)
		}
		return nil
	}
	if file != "" && file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read paths: %w", err)
		}
		defer fh.Close()
		if err := read(fh, file); err != nil {
			return nil, err
		}
	}
	if fromStdin {
		if err := read(a.stdin, "standard input"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// normalize checks every path; it refuses the whole request, listing each
// bad path, when any is wrong. Duplicates are dropped.
func normalize(v *jobs.Validator, raw []string, req request) ([]string, error) {
	ot := req.ot
	if req.kind == jobs.KindPush {
		ot = apiclient.ObjectFile
	}
	seen := make(map[string]bool, len(raw))
	var out []string
	var bad []string
	var problems []problem
	nbad := 0
	for i, p := range raw {
		n, err := v.Normalize(p, ot)
		if err != nil {
			nbad++
			bad = append(bad, fmt.Sprintf("  path %d %q: %v", i+1, p, err))
			problems = append(problems, problem{Path: p, Message: err.Error()})
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("  ... and %d more", len(bad)-20))
		}
		return nil, &refusedError{problems: problems, msg: fmt.Sprintf("%d of %s refused, nothing sent (fix them or the domains allowlist):\n%s",
			nbad, plural(len(raw), "path"), strings.Join(bad, "\n"))}
	}
	return out, nil
}
