// Command chrony-evidence writes the evidence an auditor keeps: for a period,
// per node of the fleet, the share of steps the clock's error bound was
// within tolerance, and every step it was not and why. It reads any
// Prometheus-compatible query API and never writes to it.
//
//	chrony-evidence --prometheus URL --from RFC3339 --to RFC3339 --out DIR
//	                [--cluster NAME] [--profile NAME | --tolerance DURATION] [--step DURATION]
//	                [--inventory auto|none] [--bearer-token-file FILE] [--header NAME=VALUE]...
//	chrony-evidence verify DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/promapi"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

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
		return verify(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("chrony-evidence", flag.ContinueOnError)
	fs.SetOutput(stderr)
	promURL := fs.String("prometheus", "", "the query API's base URL (the part before /api/v1)")
	fromFlag := fs.String("from", "", "the period's start, RFC 3339 (e.g. 2026-11-01T00:00:00Z)")
	toFlag := fs.String("to", "", "the period's end, RFC 3339")
	out := fs.String("out", "", "the directory to write the report into (must not hold a report)")
	cluster := fs.String("cluster", "", "only this cluster's series (k8s_cluster_name; the inventory's cluster label)")
	profile := fs.String("profile", "", "the compliance profile whose tolerance applies: "+profileList())
	tolerance := fs.Duration("tolerance", 0, "the tolerance, instead of a profile (e.g. 100us)")
	step := fs.Duration("step", 30*time.Second, "the unit of evidence; the collectors' collection interval")
	inventory := fs.String("inventory", "auto", "auto: the fleet is kube_node_info (kube-state-metrics); none: every node seen")
	tokenFile := fs.String("bearer-token-file", "", "a file holding a bearer token for the query API, read on every request")
	hdrs := headers{}
	fs.Var(hdrs, "header", "NAME=VALUE, a header sent with every request (repeatable)")
	timeout := fs.Duration("request-timeout", 2*time.Minute, "the longest one query may take")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "chrony-evidence: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if *promURL == "" || *fromFlag == "" || *toFlag == "" || *out == "" {
		return fail("--prometheus, --from, --to and --out are required")
	}
	from, err := time.Parse(time.RFC3339, *fromFlag)
	if err != nil {
		return fail("--from: %v", err)
	}
	to, err := time.Parse(time.RFC3339, *toFlag)
	if err != nil {
		return fail("--to: %v", err)
	}
	if *step < time.Second || *step%time.Millisecond != 0 {
		return fail("--step %s: must be at least 1s, in whole milliseconds", *step)
	}
	if !to.After(from) {
		return fail("--to %s is not after --from %s", *toFlag, *fromFlag)
	}
	if to.Sub(from)%*step != 0 {
		return fail("the period %s to %s is not a whole number of --step %s", *fromFlag, *toFlag, *step)
	}
	var tol float64
	switch {
	case *profile != "" && *tolerance != 0:
		return fail("give --profile or --tolerance, not both")
	case *profile != "":
		t, ok := evidence.Profiles[*profile]
		if !ok {
			return fail("unknown --profile %q: use one of %s, or --tolerance", *profile, profileList())
		}
		tol = t
	case *tolerance > 0:
		tol = tolerance.Seconds()
	default:
		return fail("give --profile (%s) or --tolerance", profileList())
	}
	if *inventory != "auto" && *inventory != "none" {
		return fail("--inventory %q: auto or none", *inventory)
	}
	client, err := promapi.New(*promURL, promapi.Options{BearerTokenFile: *tokenFile, Headers: http.Header(hdrs), Timeout: *timeout})
	if err != nil {
		return fail("%v", err)
	}
	period := evidence.Period{From: from.UTC(), Step: *step, Steps: int(to.Sub(from) / *step)}
	res, err := evidence.Collect(ctx, client, evidence.Config{
		Period: period, Tolerance: tol, Profile: *profile, Cluster: *cluster, Inventory: *inventory == "auto",
	})
	if err != nil {
		fmt.Fprintf(stderr, "chrony-evidence: %v\n", err)
		if errors.Is(err, promapi.ErrUnauthorized) {
			return 3
		}
		return 1
	}
	summary, err := report.Write(*out, res, report.Meta{Profile: *profile, Cluster: *cluster},
		report.Run{Version: version(), DataSource: client.Redacted(), Generated: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		fmt.Fprintf(stderr, "chrony-evidence: %v\n", err)
		return 1
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "chrony-evidence: warning: %s\n", w)
	}
	f := summary.Fleet
	fmt.Fprintf(stdout, "chrony-evidence: %s: %d nodes, %d within tolerance for every step, fleet %s within, %d breaches, %d outages\n",
		*out, f.Nodes, f.NodesFullyWithin, ratio(f.WithinToleranceRatio), f.Breaches, f.Outages)
	return 0
}

func ratio(r *float64) string {
	if r == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.4f%%", *r*100)
}

func profileList() string {
	names := make([]string, 0, len(evidence.Profiles))
	for n := range evidence.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func verify(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: chrony-evidence verify DIR")
		return 2
	}
	problems, err := report.Verify(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "chrony-evidence: verify %s: %v\n", args[0], err)
		return 1
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "chrony-evidence: verify %s: %s\n", args[0], p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "chrony-evidence: %s: every file matches its SHA-256 in the manifest\n", args[0])
	return 0
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
