package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

func (a *app) tasks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("tasks", "",
		`Show refresh and push tasks from the CDN API (the last 3 days): by task ID, by
exact path, or the most recent, from each product of the config's domains (CDN,
and DCDN when a domains entry says product: dcdn). --watch repeats until every
task shown is done.`,
		"  cdnpurge tasks\n  cdnpurge tasks --id 1234567,1234568 --watch\n  cdnpurge tasks --path https://static.example.com/app.js --output json", stderr)
	ids := fs.String("id", "", "task `IDs`, comma-separated")
	path := fs.String("path", "", "exact object `PATH`")
	limit := fs.Int("limit", apiclient.DefaultTasksPageSize, "how many recent tasks (1-100)")
	watch := fs.Bool("watch", false, "repeat until every task shown is done")
	every := fs.Duration("interval", 2*time.Second, "--watch interval")
	product := fs.String("target", "", "only the tasks of `PRODUCT` (cdn or dcdn); default every product of the config's domains")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > apiclient.CDN().Caps.TasksPageSize || *every <= 0 || fs.NArg() > 0 {
		return usagef("tasks: --limit must be 1-%d, --interval > 0, and no arguments", apiclient.CDN().Caps.TasksPageSize)
	}
	s, err := a.setup(stderr)
	if err != nil {
		return err
	}
	client, err := s.apiClient(nil)
	if err != nil {
		return err
	}
	products := s.quotaTargets()
	if *product != "" {
		t, err := apiclient.TargetOf(*product)
		if err != nil {
			return usagef("tasks --target: %v", err)
		}
		products = []apiclient.Product{t.Product}
	}
	// Each product of the config is asked: a task ID names no product.
	// One product failing (DCDN refusing a CDN task ID, say) does not hide
	// what the others answered; it is named on stderr.
	fetchOne := func(p apiclient.Product) ([]apiclient.Task, error) {
		t := targetOf(p)
		if *ids == "" {
			page, err := client.DescribeTasks(ctx, t, apiclient.DescribeTasksRequest{ObjectPath: *path, PageSize: min(*limit, t.Caps.TasksPageSize)})
			return page.Tasks.CDNTask, err
		}
		var got []apiclient.Task
		for chunk := range slices.Chunk(apiclient.SplitTaskIDs(*ids), t.Caps.TaskIDs) {
			res, err := client.DescribeTasksByID(ctx, t, chunk)
			if err != nil {
				return got, err
			}
			got = append(got, res.Tasks...)
		}
		return got, nil
	}
	fetch := func() ([]targetTask, error) {
		var out []targetTask
		var errs []error
		for _, p := range products {
			got, err := fetchOne(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p, err))
			}
			for _, t := range got {
				out = append(out, targetTask{Task: t, Target: p})
			}
		}
		if len(errs) == len(products) {
			return nil, errors.Join(errs...)
		}
		for _, err := range errs {
			fmt.Fprintf(stderr, "tasks: %v\n", err)
		}
		return out, nil
	}
	for {
		list, err := fetch()
		if err != nil {
			return fmt.Errorf("tasks: %w", err)
		}
		if a.g.output == "json" {
			err = writeJSON(stdout, tasksView(list))
		} else {
			err = taskTable(stdout, list)
		}
		if err != nil || !*watch {
			return err
		}
		if allDone(list) {
			return watchResult(list)
		}
		select {
		case <-ctx.Done():
			return watchResult(list)
		case <-time.After(*every):
		}
	}
}

// targetTask is a task and the product that runs it.
type targetTask struct {
	apiclient.Task
	Target apiclient.Product
}

func allDone(list []targetTask) bool {
	for _, t := range list {
		if !t.Done() {
			return false
		}
	}
	return true
}

func taskTable(w io.Writer, list []targetTask) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tTARGET\tSTATUS\tPROCESS\tTYPE\tCREATED\tPATH\tDESCRIPTION")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.TaskID, t.Target, t.Status, t.Process, t.ObjectType, t.CreationTime, t.ObjectPath, t.Description)
	}
	if len(list) == 0 {
		fmt.Fprintln(tw, "(no tasks)")
	}
	return tw.Flush()
}

func (a *app) schedules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("schedules", "",
		`List the configured schedules with their next runs (in each schedule's zone) and,
when NATS is reachable, the last run and its result shared by the replicas.`,
		"  cdnpurge --config /etc/cdnpurge.yaml schedules\n  cdnpurge schedules --next 5 --output json", stderr)
	next := fs.Int("next", 3, "how many next runs to show")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if *next < 1 || fs.NArg() > 0 {
		return usagef("schedules: --next must be >= 1, and no arguments")
	}
	a.natsOnly, a.noPaths = true, true
	s, err := a.setup(stderr)
	if err != nil {
		return err
	}
	states := map[string]operations.State{}
	if len(s.cfg.Schedules) > 0 {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if nc, js, _, err := s.connectNATS("cdnpurge-cli"); err == nil {
			defer nc.Close()
			// Serve makes the bucket; before it ran, nothing ran.
			kv, err := operations.BindKVStateStore(sctx, js, "")
			var st map[string]operations.State
			if err == nil {
				st, err = kv.List(sctx)
			}
			switch {
			case err == nil:
				states = st
			case !errors.Is(err, jetstream.ErrBucketNotFound):
				fmt.Fprintf(stderr, "last runs unknown: %v\n", refusalOr(sctx, err))
			}
		}
	}
	rows, err := operations.Rows(s.cfg.Schedules, states, time.Now(), *next)
	if err != nil {
		return err
	}
	if a.g.output == "json" {
		return writeJSON(stdout, rows)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(stdout, "no schedules configured (see schedules in deploy/cdnpurge.example.yaml)")
		return err
	}
	return scheduleTable(stdout, rows)
}

func (a *app) service(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("service", "status | open --charge-type T | billing T",
		`Show or change the account's CDN service: status (DescribeCdnService, and
DescribeDcdnIpaService with --ipa), open (OpenCdnService), billing (switch the
billing method with ModifyCdnService from the next 00:00 Asia/Shanghai, checked
with DescribeCdnService afterwards).`,
		"  cdnpurge service status\n  cdnpurge service status --ipa --output json\n  cdnpurge service open --charge-type PayByTraffic\n  cdnpurge service billing PayByBandwidth", stderr)
	charge := fs.String("charge-type", apiclient.PayByTraffic, "billing method for open: PayByTraffic or PayByBandwidth")
	ipa := fs.Bool("ipa", false, "status: also show the DCDN IPA service")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("service: want status, open or billing")
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	// Flags may follow the subcommand too.
	if err := a.parse(fs, rest); err != nil {
		return err
	}
	rest = fs.Args()
	validCharge := func(t string) error {
		if t != apiclient.PayByTraffic && t != apiclient.PayByBandwidth {
			return usagef("charge type %q: want %s or %s", t, apiclient.PayByTraffic, apiclient.PayByBandwidth)
		}
		return nil
	}
	switch {
	case sub == "status" && len(rest) == 0:
	case sub == "open" && len(rest) == 0:
		if err := validCharge(*charge); err != nil {
			return err
		}
	case sub == "billing" && len(rest) == 1:
		if err := validCharge(rest[0]); err != nil {
			return err
		}
	default:
		fs.Usage()
		return usagef("service: want status, open [--charge-type T] or billing T, got %q", strings.Join(fs.Args(), " "))
	}
	s, err := a.setup(stderr)
	if err != nil {
		return err
	}
	client, err := s.apiClient(nil)
	if err != nil {
		return err
	}
	switch sub {
	case "status":
		rep, err := operations.ReadService(ctx, client, *ipa)
		if err != nil {
			return err
		}
		return writeService(stdout, rep, a.g.output == "json")
	case "open":
		r, err := operations.OpenService(ctx, client, *charge)
		if err != nil {
			return err
		}
		return writeOpened(stdout, r)
	default:
		r, err := operations.ChangeBilling(ctx, client, rest[0])
		if err != nil {
			return err
		}
		return writeBilling(stdout, r)
	}
}

func (a *app) domain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("domain", "ACTION NAME=VALUE...",
		`Run one domain configuration action now, directly against the CDN API with
this machine's credentials. This is how operators change a domain outside a
schedule: operation messages on NATS are refused unless they are ticks of a
configured schedule (docs/security.md). ACTION is one a schedule may name
(--list shows them with their parameters); parameters are checked as a
schedule's are, and DomainName must be on the domain allowlist (domains).`,
		"  cdnpurge domain StopCdnDomain DomainName=static.example.com\n  cdnpurge domain SetPageCompressConfig DomainName=static.example.com Enable=on\n  cdnpurge domain --list", stderr)
	list := fs.Bool("list", false, "list the actions and their parameters")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if *list {
		return domainActions(stdout)
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return usagef("domain: want ACTION and at least DomainName=HOST")
	}
	action := fs.Arg(0)
	spec, ok := operations.LookupAction(action)
	switch {
	case !ok:
		return usagef("domain: unknown action %q; cdnpurge domain --list shows the known ones", action)
	case spec.Service:
		return usagef("domain: %s changes the service, not a domain; use cdnpurge service", action)
	}
	params := map[string]string{}
	for _, kv := range fs.Args()[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("domain: %q: want NAME=VALUE, for example DomainName=static.example.com", kv)
		}
		params[k] = v
	}
	s, err := a.setup(stderr)
	if err != nil {
		return err
	}
	v, err := jobs.NewValidator(s.cfg.ValidatorConfig())
	if err != nil {
		return fmt.Errorf("domains: %w", err)
	}
	if err := operations.CheckDomains(action, params, v); err != nil {
		return usagef("domain: %v", err)
	}
	client, err := s.apiClient(nil)
	if err != nil {
		return err
	}
	op := operations.NewOperator(client, operations.OperatorConfig{Allowlist: v, Logger: s.log})
	msg, err := op.RunAction(ctx, action, params)
	if errors.Is(err, operations.ErrUnknownOperation) {
		return usagef("domain: %v", err)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, msg)
	return err
}

func domainActions(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tREQUIRED\tOPTIONAL")
	for _, name := range operations.KnownActions() {
		spec, _ := operations.LookupAction(name)
		if spec.Service {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, strings.Join(spec.Required, ","), strings.Join(spec.Optional, ","))
	}
	return tw.Flush()
}
