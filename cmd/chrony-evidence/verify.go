package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/blobstore"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
)

// verifyOptions are the flags of verify.
type verifyOptions struct {
	publicKeys []string
	chain      bool
}

type fileList []string

func (l *fileList) String() string     { return strings.Join(*l, ",") }
func (l *fileList) Set(s string) error { *l = append(*l, s); return nil }

// verifyFlags defines the flags of verify.
func verifyFlags(stderr io.Writer) (*flag.FlagSet, *verifyOptions) {
	o := &verifyOptions{}
	fs := flag.NewFlagSet("chrony-evidence verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage:\n%s\nverify's flags, before the directories:\n", synopsis)
		fs.PrintDefaults()
	}
	fs.Var((*fileList)(&o.publicKeys), "public-key", "an Ed25519 public key, PKIX PEM (openssl pkey -in key.pem -pubout): each report must be signed by it (repeatable: by one of them, as across a key rotation)")
	fs.BoolVar(&o.chain, "chain", false, "verify a chain of reports and the links between them: PARENT's subdirectories named by day, week, month, quarter or year (one chain per cadence), PARENT a directory or a container URL (the scheduled runs' --out), or the report directories given, oldest first")
	return fs, o
}

// verify checks reports against their manifests, their signatures against
// --public-key, and with --chain the links between them. It exits 1 when
// anything is wrong, naming each report and problem.
func verify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, o := verifyFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var keys []ed25519.PublicKey
	for _, path := range o.publicKeys {
		key, err := report.LoadPublicKey(path)
		if err != nil {
			fmt.Fprintf(stderr, "chrony-evidence: verify: --public-key: %v\n", err)
			return 2
		}
		keys = append(keys, key)
	}
	dirs := fs.Args()
	switch {
	case len(dirs) == 0 || (!o.chain && len(dirs) > 1):
		fs.Usage()
		return 2
	case !o.chain:
		return verifyOne(ctx, dirs[0], keys, stdout, stderr)
	case blobstore.IsURL(dirs[0]):
		if len(dirs) > 1 {
			fmt.Fprintln(stderr, "chrony-evidence: verify --chain of a container takes one URL: the prefix the scheduled runs write their reports under (their --out)")
			return 2
		}
		return verifyContainerChain(ctx, dirs[0], keys, stdout, stderr)
	}
	if _, err := os.Lstat(filepath.Join(dirs[0], report.ManifestName)); len(dirs) == 1 && errors.Is(err, os.ErrNotExist) {
		return verifyParent(report.DirShelf(dirs[0]), keys, stdout, stderr)
	}
	return chainOK(dirs[0]+" to "+dirs[len(dirs)-1], report.VerifyChain(dirs, keys), stdout, stderr)
}

// verifyOne verifies the report in dir, or at a container URL, which it
// copies into a temporary directory first.
func verifyOne(ctx context.Context, dir string, keys []ed25519.PublicKey, stdout, stderr io.Writer) int {
	where, fetched := dir, []string(nil)
	if blobstore.IsURL(dir) {
		local, problems, err := fetchReport(ctx, dir, os.Getenv)
		if err != nil {
			fmt.Fprintf(stderr, "chrony-evidence: verify %s: %v\n", dir, err)
			if errors.Is(err, blobstore.ErrUnauthorized) {
				return 3
			}
			return 1
		}
		defer os.RemoveAll(local)
		dir, fetched = local, problems
	}
	c, err := report.VerifyReport(dir, keys)
	if err != nil {
		fmt.Fprintf(stderr, "chrony-evidence: verify %s: %v\n", where, err)
		return 1
	}
	c.Dir = where
	c.Problems = append(fetched, c.Problems...)
	if !reportOK(c, stdout, stderr) {
		return 1
	}
	return 0
}

// reportOK says what verifying one report found: its problems on stderr,
// or on stdout that it verifies and what of its signature was checked.
func reportOK(c *report.Check, stdout, stderr io.Writer) bool {
	for _, p := range c.Problems {
		fmt.Fprintf(stderr, "chrony-evidence: verify %s: %s\n", c.Dir, p)
	}
	if len(c.Problems) > 0 {
		return false
	}
	fmt.Fprintf(stdout, "chrony-evidence: %s: every file matches its SHA-256 in the manifest; %s\n", c.Dir, c.Signature)
	return true
}

// verifyContainerChain verifies the chains of the reports under a container
// URL, or, when the URL names a report, that report as a chain of one, as
// for a directory.
func verifyContainerChain(ctx context.Context, url string, keys []ed25519.PublicKey, stdout, stderr io.Writer) int {
	failed := func(err error) int {
		fmt.Fprintf(stderr, "chrony-evidence: verify --chain %s: %v\n", url, err)
		if errors.Is(err, blobstore.ErrUnauthorized) {
			return 3
		}
		return 1
	}
	var o reportOptions
	if parent, name, err := blobstore.Split(url); err == nil {
		shelf, err := openShelf(ctx, parent, os.Getenv, o.identity)
		if err != nil {
			fmt.Fprintf(stderr, "chrony-evidence: verify --chain %s: %v\n", url, err)
			return 2
		}
		defer shelf.Close()
		_, err = shelf.ReadManifest(name)
		switch {
		case err == nil:
			return chainOK(url, report.VerifyShelfChain(shelf, []string{name}, keys), stdout, stderr)
		case !errors.Is(err, fs.ErrNotExist):
			return failed(err)
		}
	}
	shelf, err := openShelf(ctx, url, os.Getenv, o.identity)
	if err != nil {
		fmt.Fprintf(stderr, "chrony-evidence: verify --chain %s: %v\n", url, err)
		return 2
	}
	defer shelf.Close()
	return verifyParent(shelf, keys, stdout, stderr)
}

// verifyParent verifies the chains of the scheduled runs that write onto
// shelf: one chain per cadence, its reports named as that cadence names
// them (2026-12-04, 2026-W49, 2026-12, 2026-Q4, 2026).
func verifyParent(shelf report.Shelf, keys []ed25519.PublicKey, stdout, stderr io.Writer) int {
	parent := shelf.Where("")
	code, found := 0, false
	for _, cadence := range evidence.Cadences() {
		names, err := report.DatedNames(shelf, cadence)
		if err != nil {
			fmt.Fprintf(stderr, "chrony-evidence: verify --chain %s: %v\n", parent, err)
			if errors.Is(err, blobstore.ErrUnauthorized) {
				return 3
			}
			return 1
		}
		if len(names) == 0 {
			continue
		}
		found = true
		r := report.VerifyShelfChain(shelf, names, keys)
		if c := chainOK(fmt.Sprintf("%s (%s reports)", parent, cadence), r, stdout, stderr); c != 0 {
			code = max(code, c)
		}
	}
	if !found {
		fmt.Fprintf(stderr, "chrony-evidence: verify --chain %s: no reports named by day, week, month, quarter or year (2026-12-04, 2026-W49, 2026-12, 2026-Q4, 2026) in it, and it is not a report\n", parent)
		return 1
	}
	return code
}

// chainOK says what verifying a chain found, and exits 1 when anything
// is wrong.
func chainOK(what string, r *report.ChainResult, stdout, stderr io.Writer) int {
	if r.Err != nil {
		fmt.Fprintf(stderr, "chrony-evidence: verify --chain %s: %v: nothing is said of the chain\n", what, r.Err)
		if errors.Is(r.Err, blobstore.ErrUnauthorized) {
			return 3
		}
		return 1
	}
	ok := true
	for _, c := range r.Reports {
		if c != nil && !reportOK(c, stdout, stderr) {
			ok = false
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(stderr, "chrony-evidence: verify --chain %s: %s\n", what, p)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(stdout, "chrony-evidence: --chain %s: %s\n", what, n)
	}
	if !ok || len(r.Problems) > 0 {
		return 1
	}
	if len(r.Reports) == 1 {
		fmt.Fprintf(stdout, "chrony-evidence: --chain %s: 1 report, which verifies\n", what)
	} else {
		fmt.Fprintf(stdout, "chrony-evidence: --chain %s: %d reports, each verifies and follows the one before it with no gap\n", what, len(r.Reports))
	}
	return 0
}
