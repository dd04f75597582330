package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
)

// rollupFlags defines the flags of `chrony-evidence rollup`.
func rollupFlags(stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("chrony-evidence rollup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage:\n%s\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "the directory to write the rolled-up report into (must not hold a report)")
	return fs, out
}

// rollup combines reports already written into one over their joint
// period, each verified first.
func rollup(args []string, stdout, stderr io.Writer) int {
	fs, out := rollupFlags(stderr)
	// The reports and the flags may come in any order.
	var inputs []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		inputs, rest = append(inputs, rest[0]), rest[1:]
	}
	if *out == "" || len(inputs) == 0 {
		return badUsage(stderr, errors.New("rollup needs --out DIR and the reports to combine, in any order"))
	}
	res, meta, err := report.Rollup(inputs)
	if err != nil {
		fmt.Fprintf(stderr, "chrony-evidence: rollup: %v\n", err)
		return 1
	}
	summary, err := report.Write(report.Dir(*out), res, meta, report.Run{ID: newRunID(), Version: version(),
		SyncLogNote: "empty: a rollup's steps are in the synchronisation logs of the reports it rolled up (rolled_up_from)",
		DataSource:  fmt.Sprintf("rollup of %d verified reports", len(meta.RolledUpFrom)), Generated: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		fmt.Fprintf(stderr, "chrony-evidence: rollup: %v\n", err)
		return 1
	}
	f := summary.Fleet
	fmt.Fprintf(stdout, "chrony-evidence: %s: rolled up %d reports, %s to %s: %d nodes, %d traceably within tolerance for every step (fleet %s), %d within against chronyd's reference (fleet %s), %d breaches, %d UTC disagreements\n",
		*out, len(meta.RolledUpFrom), summary.From, summary.To, f.Nodes, f.NodesFullyTraceable, ratio(f.TraceableWithinRatio), f.NodesFullyWithin, ratio(f.WithinToleranceRatio), f.Breaches, f.Disagreements)
	return 0
}
