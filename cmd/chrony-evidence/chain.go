package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/blobstore"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
)

// chainOptions are the flags of a report run that sign the report and link
// it to the one before it (docs/evidence.md, "Signed and chained").
type chainOptions struct {
	signingKey, chainPrevious string
}

func (c *chainOptions) define(fs *flag.FlagSet) {
	fs.StringVar(&c.signingKey, "signing-key", "", "an Ed25519 private key, PKCS#8 PEM (openssl genpkey -algorithm ed25519): sign manifest.json into manifest.json.sig")
	fs.StringVar(&c.chainPrevious, "chain-previous", "", "with --from/--to: the report this report follows in its chain, a directory or a report's container URL (with --previous, the previous report of the same cadence in --out is found)")
}

// chain is how a run signs its report, and the report it follows.
type chain struct {
	key      ed25519.PrivateKey
	previous *report.PreviousReport
}

// signing loads the signing key and checks the chain's flags: what a run
// can tell before it reaches any storage.
func (o *reportOptions) signing() (chain, error) {
	var c chain
	if o.chainPrevious != "" && o.previous != "" {
		return c, errors.New("give --chain-previous only with --from/--to: with --previous, the previous report of the same cadence is found in --out")
	}
	if o.signingKey != "" {
		key, err := report.LoadSigningKey(o.signingKey)
		if err != nil {
			return c, fmt.Errorf("--signing-key: %w", err)
		}
		c.key = key
	}
	return c, nil
}

// link finds the report this one follows: with --previous the latest
// report of the same cadence on the shelf (--out) before its own; a
// --from/--to run follows --chain-previous, or none. Warnings (a report
// passed over, a previous report that does not verify, a gap) go to stderr:
// the report is still made.
func (o *reportOptions) link(ctx context.Context, job *reportJob, shelf report.Shelf, getenv func(string) string, stderr io.Writer) error {
	var warnings []string
	switch {
	case o.chainPrevious != "":
		parent, name, err := shelfOf(o.chainPrevious)
		if err != nil {
			return usageError{fmt.Errorf("--chain-previous: %w", err)}
		}
		at, err := o.shelf(ctx, parent, getenv)
		if err != nil {
			return usageError{fmt.Errorf("--chain-previous: %w", err)}
		}
		defer at.Close()
		prev, err := report.Link(at, name)
		// What names no report is a bad flag; storage that did not
		// answer is not.
		if err != nil && (!blobstore.IsURL(o.chainPrevious) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, report.ErrNotAReport) || prev != nil) {
			return usageError{fmt.Errorf("--chain-previous: %w", err)}
		}
		if err != nil {
			return fmt.Errorf("--chain-previous: %w", err)
		}
		job.chain.previous = prev
		warnings = report.PreviousWarnings(at, name)
	case o.previous != "":
		_, name, err := shelfOf(job.outDir)
		if err != nil {
			return err
		}
		prev, w, err := report.FindPrevious(shelf, name, evidence.Cadence(o.previous))
		if err != nil {
			return err
		}
		warnings, job.chain.previous = w, prev
	}
	if prev := job.chain.previous; prev != nil {
		if gap := report.PeriodGap(prev, job.collect.Period.From.UTC().Format(time.RFC3339)); gap != "" {
			warnings = append(warnings, fmt.Sprintf("%s (between %s and this report); verify --chain will name it", gap, prev.Name))
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "chrony-evidence: warning: %s\n", w)
	}
	return nil
}

// written says, after a report was written, what the chain's next report
// will record of it, for the job's log: a copy of the newest digest kept
// outside the report's storage shows a report removed after it.
func (c chain) written(stdout io.Writer, shelf report.Shelf, name string) {
	where := shelf.Where(name)
	prev, err := report.Link(shelf, name)
	if err != nil {
		fmt.Fprintf(stdout, "chrony-evidence: %s: %v\n", where, err)
		return
	}
	follows := "follows no report"
	if c.previous != nil {
		follows = "follows " + c.previous.Name
	}
	signed := "not signed"
	if c.key != nil {
		signed = "signed by key SHA-256 " + report.KeyFingerprint(c.key.Public().(ed25519.PublicKey)) + " (" + report.SignatureName + ")"
	}
	fmt.Fprintf(stdout, "chrony-evidence: %s: %s SHA-256 %s, %s, %s\n", where, report.ManifestName, prev.ManifestSHA256, signed, follows)
}

// usageError is a flag that cannot make a report, found only once the run
// reads what it names: exit 2, as for any other bad flag.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// shelfOf is where the report at out is kept beside the reports before and
// after it, and its name there.
func shelfOf(out string) (parent, name string, err error) {
	if blobstore.IsURL(out) {
		return blobstore.Split(out)
	}
	out = filepath.Clean(out)
	return filepath.Dir(out), filepath.Base(out), nil
}
