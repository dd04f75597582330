package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
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
	fs.StringVar(&c.chainPrevious, "chain-previous", "", "with --from/--to: the report directory this report follows in its chain (with --previous, the previous report of the same cadence in --out is found)")
}

// chain is how a run signs its report, and the report it follows.
type chain struct {
	key      ed25519.PrivateKey
	previous *report.PreviousReport
}

// chain loads the signing key and finds the report this one follows. A run
// with --previous follows the latest report of the same cadence in --out
// before its own; a --from/--to run follows --chain-previous, or none.
// Warnings (a directory passed over, a previous report that does not
// verify, a gap) go to stderr: the report is still made.
func (o *reportOptions) chain(job reportJob, stderr io.Writer) (chain, error) {
	var c chain
	if o.signingKey != "" {
		key, err := report.LoadSigningKey(o.signingKey)
		if err != nil {
			return c, fmt.Errorf("--signing-key: %w", err)
		}
		c.key = key
	}
	var warnings []string
	switch {
	case o.chainPrevious != "" && o.previous != "":
		return c, errors.New("give --chain-previous only with --from/--to: with --previous, the previous report of the same cadence is found in --out")
	case o.chainPrevious != "":
		prev, err := report.LinkTo(o.chainPrevious)
		if err != nil {
			return c, fmt.Errorf("--chain-previous: %w", err)
		}
		if problems, err := report.Verify(o.chainPrevious); err == nil {
			for _, p := range problems {
				warnings = append(warnings, fmt.Sprintf("the previous report %s does not verify: %s; linked to as it is", o.chainPrevious, p))
			}
		}
		c.previous = prev
	case o.previous != "":
		prev, w, err := report.FindPrevious(o.out, filepath.Base(job.outDir), evidence.Cadence(o.previous))
		if err != nil {
			return c, err
		}
		warnings, c.previous = w, prev
	}
	if c.previous != nil {
		if gap := report.PeriodGap(c.previous, job.collect.Period.From.UTC().Format(time.RFC3339)); gap != "" {
			warnings = append(warnings, fmt.Sprintf("%s (between %s and this report); verify --chain will name it", gap, c.previous.Name))
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "chrony-evidence: warning: %s\n", w)
	}
	return c, nil
}

// written says, after a report was written, what the chain's next report
// will record of it, for the job's log: a copy of the newest digest kept
// outside the report's storage shows a report removed after it.
func (c chain) written(stdout io.Writer, dir string) {
	if blobstore.IsURL(dir) {
		return // no link to read back; stored() said what was uploaded
	}
	prev, err := report.LinkTo(dir)
	if err != nil {
		fmt.Fprintf(stdout, "chrony-evidence: %s: %v\n", dir, err)
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
	fmt.Fprintf(stdout, "chrony-evidence: %s: %s SHA-256 %s, %s, %s\n", dir, report.ManifestName, prev.ManifestSHA256, signed, follows)
}
