// Command chrony-evidence writes the evidence an auditor keeps: for a period,
// per node of the fleet, the share of steps the clock's error bound was
// within tolerance, and every step it was not and why. It reads any
// Prometheus-compatible query API and never writes to it.
//
//	chrony-evidence --prometheus URL (--from RFC3339 --to RFC3339 | --previous day|week|month|quarter|year) --out DIR|CONTAINER-URL
//	                [--cluster NAME] [--profile NAME | --tolerance DURATION] [--step DURATION]
//	                [--inventory auto|none] [--bearer-token-file FILE | --azure-workload-identity]
//	                [--header NAME=VALUE]... [--accept-partial] [--max-response-bytes N]
//	                [--request-timeout DURATION] [--utc-window DURATION]
//	                [--signing-key FILE] [--chain-previous DIR|URL] [--sync-log=false]
//	chrony-evidence rollup --out DIR REPORT...
//	chrony-evidence verify [--public-key FILE]... DIR|CONTAINER-URL
//	chrony-evidence verify --chain [--public-key FILE]... (PARENT|CONTAINER-URL | DIR DIR...)
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/blobstore"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/promapi"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/synclog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// synopsis is how the tool is called, printed by -h above the flags. The
// package comment and docs/evidence.md carry it too; usage_test.go keeps the
// three equal, and their flags those of reportFlags.
const synopsis = `chrony-evidence --prometheus URL (--from RFC3339 --to RFC3339 | --previous day|week|month|quarter|year) --out DIR|CONTAINER-URL
                [--cluster NAME] [--profile NAME | --tolerance DURATION] [--step DURATION]
                [--inventory auto|none] [--bearer-token-file FILE | --azure-workload-identity]
                [--header NAME=VALUE]... [--accept-partial] [--max-response-bytes N]
                [--request-timeout DURATION] [--utc-window DURATION]
                [--signing-key FILE] [--chain-previous DIR|URL] [--sync-log=false]
chrony-evidence rollup --out DIR REPORT...
chrony-evidence verify [--public-key FILE]... DIR|CONTAINER-URL
chrony-evidence verify --chain [--public-key FILE]... (PARENT|CONTAINER-URL | DIR DIR...)
`

type headers http.Header

func (h headers) String() string { return "" }

func (h headers) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	http.Header(h).Add(strings.TrimSpace(name), value)
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "verify" {
		return verify(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "rollup" {
		return rollup(args[1:], stdout, stderr)
	}
	fs, o := reportFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		return badUsage(stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return o.report(ctx, time.Now(), os.Getenv, stdout, stderr)
}

// report makes the report the flags ask for; now places --previous, and
// getenv gives the settings workload identity's webhook injects.
func (o *reportOptions) report(ctx context.Context, now time.Time, getenv func(string) string, stdout, stderr io.Writer) int {
	job, err := o.job(now)
	if err != nil {
		return badUsage(stderr, err)
	}
	if job.chain, err = o.signing(); err != nil {
		return badUsage(stderr, err)
	}
	client, err := o.client(getenv)
	if err != nil {
		return badUsage(stderr, err)
	}
	dst, err := o.destination(ctx, job.outDir, getenv)
	if err != nil {
		return badUsage(stderr, err)
	}
	parent, _, err := shelfOf(job.outDir)
	if err != nil {
		return badUsage(stderr, err)
	}
	shelf, err := o.shelf(ctx, parent, getenv)
	if err != nil {
		return badUsage(stderr, err)
	}
	defer shelf.Close()
	return o.makeReport(ctx, client, job, dst, shelf, getenv, stdout, stderr)
}

// badUsage reports flags that cannot make a report, with exit code 2.
func badUsage(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "chrony-evidence: %v\n", err)
	return 2
}

// reportOptions are the flags of a report run, as given.
type reportOptions struct {
	promURL, from, to, previous, out, cluster, profile, inventory, tokenFile string
	tolerance, step, timeout, utcWindow                                      time.Duration
	azureWorkloadIdentity, acceptPartial, syncLog                            bool
	headers                                                                  headers
	maxResponseBytes                                                         int64
	chainOptions
	wi *promapi.AzureWorkloadIdentity // made once, for the query API and storage
}

// reportFlags defines the flags of a report run.
func reportFlags(stderr io.Writer) (*flag.FlagSet, *reportOptions) {
	o := &reportOptions{headers: headers{}}
	fs := flag.NewFlagSet("chrony-evidence", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage:\n%s\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	o.chainOptions.define(fs)
	fs.StringVar(&o.promURL, "prometheus", "", "the query API's base URL (the part before /api/v1)")
	fs.StringVar(&o.from, "from", "", "the period's start, RFC 3339 (e.g. 2026-11-01T00:00:00Z)")
	fs.StringVar(&o.to, "to", "", "the period's end, RFC 3339")
	fs.StringVar(&o.previous, "previous", "", "day, week, month, quarter or year: the last whole UTC period of it before now (weeks are ISO weeks, Monday to Monday), instead of --from/--to; the report goes into OUT/<name>, the name 2026-12-04, 2026-W49, 2026-12, 2026-Q4 or 2026")
	fs.StringVar(&o.out, "out", "", "the directory to write the report into (must not hold a report), or a Blob Storage container URL with a prefix, https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX, written write-once with workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE); a rerun completes a report a failed run left unfinished")
	fs.StringVar(&o.cluster, "cluster", "", "only this cluster's series (k8s_cluster_name; the inventory's cluster label)")
	fs.StringVar(&o.profile, "profile", "", "the compliance profile whose tolerance applies: "+profileList())
	fs.DurationVar(&o.tolerance, "tolerance", 0, "the tolerance, instead of a profile (e.g. 100us)")
	fs.DurationVar(&o.step, "step", 30*time.Second, "the unit of evidence; the collectors' collection interval")
	fs.BoolVar(&o.syncLog, "sync-log", true, "write the synchronisation log (sync-log.parquet), one row per node and step; with --sync-log=false the report's log is empty and says so (a monthly report whose days have their own logs)")
	fs.DurationVar(&o.utcWindow, "utc-window", 0, fmt.Sprintf("a step's UTC state is read from the node's cross-check samples in the window this long ending at the step's end; at least --step (default %s, or --step when that is longer)", evidence.DefaultUTCWindow))
	fs.StringVar(&o.inventory, "inventory", "auto", "auto: the fleet is kube_node_info (kube-state-metrics); none: every node seen")
	fs.StringVar(&o.tokenFile, "bearer-token-file", "", "a file holding a bearer token for the query API, read on every request")
	fs.BoolVar(&o.azureWorkloadIdentity, "azure-workload-identity", false, "authenticate to an Azure Monitor workspace with AKS workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE)")
	fs.Var(o.headers, "header", "NAME=VALUE, a header sent with every request (repeatable)")
	fs.DurationVar(&o.timeout, "request-timeout", 2*time.Minute, "the longest one query may take")
	fs.BoolVar(&o.acceptPartial, "accept-partial", false, "make the report even when the store's answer is not whole (the query API's warnings, such as a partial response from Thanos, Mimir or Azure Monitor; values no collector writes); every page then says so and lists why. Without it such a run fails with exit 1")
	fs.Int64Var(&o.maxResponseBytes, "max-response-bytes", promapi.DefaultMaxResponseBytes, fmt.Sprintf("the most bytes read of one answer of the query API; the default is the point budget (%d points) times %d bytes. A larger answer fails the run", evidence.DefaultPointBudget, promapi.BytesPerPoint))
	return fs, o
}

// reportJob is what a report run does, checked: where the report goes,
// and what is collected.
type reportJob struct {
	outDir  string
	collect evidence.Config
	syncLog bool
	chain   chain
}

// job checks the flags that say what to report and where, and turns them
// into a job; now places --previous.
func (o *reportOptions) job(now time.Time) (reportJob, error) {
	if o.promURL == "" || o.out == "" {
		return reportJob{}, errors.New("--prometheus and --out are required")
	}
	from, to, sub, err := period(o.from, o.to, o.previous, now)
	if err != nil {
		return reportJob{}, err
	}
	outDir := o.out
	if sub != "" && blobstore.IsURL(outDir) {
		outDir = blobstore.Join(outDir, sub)
	} else if sub != "" {
		outDir = filepath.Join(outDir, sub)
	}
	if o.step < time.Second || o.step%time.Millisecond != 0 {
		return reportJob{}, fmt.Errorf("--step %s: must be at least 1s, in whole milliseconds", o.step)
	}
	if to.Sub(from)%o.step != 0 {
		return reportJob{}, fmt.Errorf("the period %s to %s is not a whole number of --step %s", from.Format(time.RFC3339), to.Format(time.RFC3339), o.step)
	}
	tolerance, err := o.toleranceSeconds()
	if err != nil {
		return reportJob{}, err
	}
	if o.utcWindow == 0 {
		o.utcWindow = max(evidence.DefaultUTCWindow, o.step)
	}
	if o.utcWindow < o.step || o.utcWindow%time.Millisecond != 0 {
		return reportJob{}, fmt.Errorf("--utc-window %s: must be at least --step (%s), in whole milliseconds", o.utcWindow, o.step)
	}
	if o.inventory != "auto" && o.inventory != "none" {
		return reportJob{}, fmt.Errorf("--inventory %q: auto or none", o.inventory)
	}
	if o.maxResponseBytes <= 0 {
		return reportJob{}, fmt.Errorf("--max-response-bytes %d: must be positive", o.maxResponseBytes)
	}
	return reportJob{outDir: outDir, syncLog: o.syncLog, collect: evidence.Config{
		Period:    evidence.Period{From: from.UTC(), Step: o.step, Steps: int(to.Sub(from) / o.step)},
		Tolerance: tolerance, Profile: o.profile, Cluster: o.cluster, Inventory: o.inventory == "auto", AcceptPartial: o.acceptPartial,
		UTCWindow: o.utcWindow,
	}}, nil
}

// toleranceSeconds is the tolerance a profile names, or the one given.
func (o *reportOptions) toleranceSeconds() (float64, error) {
	switch {
	case o.profile != "" && o.tolerance != 0:
		return 0, errors.New("give --profile or --tolerance, not both")
	case o.profile != "":
		t, ok := evidence.Profiles[o.profile]
		if !ok {
			return 0, fmt.Errorf("unknown --profile %q: use one of %s, or --tolerance", o.profile, profileList())
		}
		return t, nil
	case o.tolerance > 0:
		return o.tolerance.Seconds(), nil
	default:
		return 0, fmt.Errorf("give --profile (%s) or --tolerance", profileList())
	}
}

// client is the query API's client with the credentials the flags name;
// getenv gives the settings workload identity's webhook injects.
func (o *reportOptions) client(getenv func(string) string) (*promapi.Client, error) {
	opts := promapi.Options{BearerTokenFile: o.tokenFile, Headers: http.Header(o.headers), Timeout: o.timeout, MaxResponseBytes: o.maxResponseBytes}
	if o.azureWorkloadIdentity {
		if o.tokenFile != "" {
			return nil, errors.New("give --azure-workload-identity or --bearer-token-file, not both")
		}
		wi, err := o.identity(getenv)
		if err != nil {
			return nil, fmt.Errorf("--azure-workload-identity: %w", err)
		}
		opts.TokenSource = wi.Token
	}
	return promapi.New(o.promURL, opts)
}

// makeReport collects the period from the store, writes the report and
// says what it holds. Refused credentials exit 3, any other failure 1.
func (o *reportOptions) makeReport(ctx context.Context, client *promapi.Client, job reportJob, dst report.Destination, shelf report.Shelf, getenv func(string) string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "chrony-evidence: %v\n", err)
		var usage usageError
		switch {
		case errors.Is(err, promapi.ErrUnauthorized) || errors.Is(err, blobstore.ErrUnauthorized):
			return 3
		case errors.As(err, &usage):
			return 2
		}
		return 1
	}
	runID, resumed, err := prepare(dst, job, client)
	if err != nil {
		return fail(err)
	}
	meta := report.Meta{Profile: job.collect.Profile, Cluster: job.collect.Cluster}
	p := job.collect.Period
	var noComparison string
	if resumed != nil {
		// Completing a report another run began: it follows and compares
		// with what that run found, so that its files are the same bytes.
		job.chain.previous, meta.Previous, noComparison = resumed.PreviousReport, resumed.PreviousPeriod, resumed.PreviousPeriodWarning
	} else {
		if err := o.link(ctx, &job, shelf, getenv, stderr); err != nil {
			return fail(err)
		}
		if noComparison, err = compare(shelf, p, job.outDir, &meta); err != nil {
			return fail(err)
		}
		if b, ok := dst.(*blobstore.Report); ok {
			b.Found(job.chain.previous, meta.Previous, noComparison)
		}
	}
	// The synchronisation log is spooled while the period is read, since it
	// is written as the steps are accounted and can be large; it goes into
	// the report with the other files.
	spool, err := os.CreateTemp("", "chrony-evidence-sync-log-*.parquet")
	if err != nil {
		return fail(fmt.Errorf("spooling the synchronisation log (TMPDIR must be writable): %w", err))
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	syncLog := synclog.NewWriter(spool)
	logNote := ""
	if job.syncLog {
		job.collect.OnStep = syncLog.Add
	} else {
		logNote = "empty: not written (--sync-log=false); the steps are in the logs of the shorter reports of the period"
	}
	res, err := evidence.Collect(ctx, client, job.collect)
	if err != nil {
		return fail(err)
	}
	rows, err := syncLog.Close()
	if err == nil {
		err = spool.Sync()
	}
	if err != nil {
		return fail(err)
	}
	if noComparison != "" {
		res.Warnings = append(res.Warnings, noComparison)
	}
	summary, err := report.Write(dst, res, meta,
		report.Run{ID: runID, Version: version(), DataSource: client.Redacted(), Generated: generated(dst, time.Now().UTC().Truncate(time.Second)),
			Previous: job.chain.previous, SigningKey: job.chain.key, SyncLog: spool.Name(), SyncLogRows: rows, SyncLogNote: logNote})
	if err != nil {
		return fail(err)
	}
	stored(dst, stdout)
	for _, p := range res.Partial {
		fmt.Fprintf(stderr, "chrony-evidence: partial data (--accept-partial): %s\n", p)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "chrony-evidence: warning: %s\n", w)
	}
	f := summary.Fleet
	partial := ""
	if len(res.Partial) > 0 {
		partial = fmt.Sprintf(", PARTIAL DATA (%d reason(s), on every page)", len(res.Partial))
	}
	fmt.Fprintf(stdout, "chrony-evidence: %s: %d nodes, %d traceably within tolerance for every step (fleet %s), %d within against chronyd's reference (fleet %s), %d breaches, %d outages, %d UTC disagreements%s\n",
		job.outDir, f.Nodes, f.NodesFullyTraceable, ratio(f.TraceableWithinRatio), f.NodesFullyWithin, ratio(f.WithinToleranceRatio), f.Breaches, f.Outages, f.Disagreements, partial)
	_, name, _ := shelfOf(job.outDir) // parsed before the report was written
	job.chain.written(stdout, shelf, name)
	return 0
}

// compare finds on shelf the report of the period of the same length
// before p and puts its headline into meta, or says why there is none. A
// report it cannot read (storage that did not answer) is an error: the
// report made without it would be kept for good.
func compare(shelf report.Shelf, p evidence.Period, out string, meta *report.Meta) (noComparison string, err error) {
	name, err := report.FindComparable(shelf, p.From, p.To())
	switch {
	case err != nil:
		return "", err
	case name == "":
		return fmt.Sprintf("no report of the previous period (%s to %s) beside %s: no comparison",
			p.From.Add(-p.To().Sub(p.From)).Format(time.RFC3339), p.From.Format(time.RFC3339), out), nil
	}
	dir, problems, err := shelf.Fetch(name)
	if err != nil {
		return "", fmt.Errorf("reading the previous period's report %s: %w", shelf.Where(name), err)
	}
	if len(problems) > 0 {
		return fmt.Sprintf("no comparison with the previous period: %s does not verify: %s", shelf.Where(name), strings.Join(problems, "; ")), nil
	}
	if meta.Previous, err = report.Compare(dir, shelf.Where(name)); err != nil {
		return fmt.Sprintf("no comparison with the previous period: %v", err), nil
	}
	return "", nil
}

// period is the report's range: --from and --to, or the whole UTC day or
// month before now, with the subdirectory a scheduled run writes it into.
func period(fromFlag, toFlag, previous string, now time.Time) (from, to time.Time, sub string, err error) {
	now = now.UTC()
	switch {
	case previous != "" && (fromFlag != "" || toFlag != ""):
		return from, to, "", errors.New("give --previous or --from/--to, not both")
	case previous != "":
		c := evidence.Cadence(previous)
		if from, to, err = c.LastWhole(now); err != nil {
			return from, to, "", fmt.Errorf("--previous: %w", err)
		}
		return from, to, c.Name(from), nil
	case fromFlag == "" || toFlag == "":
		return from, to, "", errors.New("give --from and --to (RFC 3339), or --previous " + cadenceList())
	}
	if from, err = time.Parse(time.RFC3339, fromFlag); err != nil {
		return from, to, "", fmt.Errorf("--from: %w", err)
	}
	if to, err = time.Parse(time.RFC3339, toFlag); err != nil {
		return from, to, "", fmt.Errorf("--to: %w", err)
	}
	if !to.After(from) {
		return from, to, "", fmt.Errorf("--to %s is not after --from %s", toFlag, fromFlag)
	}
	return from.UTC(), to.UTC(), "", nil
}

func ratio(r *float64) string {
	if r == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.4f%%", *r*100)
}

func cadenceList() string {
	var names []string
	for _, c := range evidence.Cadences() {
		names = append(names, string(c))
	}
	return strings.Join(names, "|")
}

func profileList() string {
	names := make([]string, 0, len(evidence.Profiles))
	for n := range evidence.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// newRunID is a random UUID (version 4) naming one run.
func newRunID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// version is the module version and VCS revision the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v
}
