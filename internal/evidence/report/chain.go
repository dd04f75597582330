package report

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// PreviousReport is manifest.json's previous_report field (v2): the report
// this one follows, by the SHA-256 of its manifest's exact bytes. The digest
// is of the manifest, not of its signature, so the chain goes on when the
// signing key changes. Name, From and To say which report and period it
// was, so that a removed report, or a period no report covers, can be named.
type PreviousReport struct {
	// Name is the previous report's directory name, e.g. 2026-12-03.
	Name           string `json:"name"`
	From           string `json:"from"`
	To             string `json:"to"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

// FindPrevious is the report a scheduled run writing name onto shelf
// follows: the report with the latest name before name of the same cadence
// that holds a manifest, whatever the time between them (verify --chain
// names a gap). It is nil when there is none: the chain starts. Warnings
// name reports passed over, and a previous report that does not verify: it
// is linked to as it is, so that today's report is still made, and the
// chain then shows the break.
func FindPrevious(shelf Shelf, name string, c evidence.Cadence) (prev *PreviousReport, warnings []string, err error) {
	names, err := DatedNames(shelf, c)
	if err != nil {
		return nil, nil, fmt.Errorf("looking for the previous report: %w", err)
	}
	for i := sort.SearchStrings(names, name) - 1; i >= 0; i-- {
		prev, err := Link(shelf, names[i])
		switch {
		case errors.Is(err, fs.ErrNotExist):
			warnings = append(warnings, fmt.Sprintf("%s holds no %s, so it is not a report (a run that failed while writing?): passed over for the chain; verify --chain will name the gap", shelf.Where(names[i]), ManifestName))
			continue
		case errors.Is(err, ErrNotAReport):
			warnings = append(warnings, fmt.Sprintf("%v: passed over for the chain", err))
			continue
		case err != nil && prev == nil:
			// Storage that did not answer: linking to an older report
			// instead would be kept for good.
			return nil, warnings, fmt.Errorf("reading the previous report's manifest: %w", err)
		case err != nil:
			// Linked by its bytes all the same: the chain keeps what is
			// there, and verify names what is wrong with it.
			warnings = append(warnings, fmt.Sprintf("the previous report: %v; linked to as it is", err))
		}
		return prev, append(warnings, PreviousWarnings(shelf, names[i])...), nil
	}
	return nil, warnings, nil
}

// PreviousWarnings verifies the report name on shelf, which a new report
// follows, and says what is wrong with it.
func PreviousWarnings(shelf Shelf, name string) []string {
	dir, problems, err := shelf.Fetch(name)
	if err != nil {
		return []string{fmt.Sprintf("the previous report %s could not be read to verify it (%v); linked to as it is", shelf.Where(name), err)}
	}
	more, err := Verify(dir)
	if err != nil {
		return []string{fmt.Sprintf("the previous report %s does not verify: %v; linked to as it is", shelf.Where(name), err)}
	}
	var warnings []string
	for _, p := range append(problems, more...) {
		warnings = append(warnings, fmt.Sprintf("the previous report %s does not verify: %s; linked to as it is", shelf.Where(name), p))
	}
	return warnings
}

// Link is the previous_report field of a report that follows the report
// name on shelf. When the manifest is there but cannot be decoded, the
// link holds its name and digest, with the error; with no manifest, the
// error wraps fs.ErrNotExist.
func Link(shelf Shelf, name string) (*PreviousReport, error) {
	raw, err := shelf.ReadManifest(name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	prev := &PreviousReport{Name: name, ManifestSHA256: hex.EncodeToString(sum[:])}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return prev, fmt.Errorf("%s: decoding %s: %w", shelf.Where(name), ManifestName, err)
	}
	prev.From, prev.To = m.From, m.To
	return prev, nil
}

// ChainResult is what verify --chain found.
type ChainResult struct {
	// Reports is each report's own check, oldest first; nil where the
	// report has no manifest to check against (named in Problems).
	Reports []*Check
	// Problems name each missing or altered link, each report that is not
	// in the chain, and each gap or overlap between the periods.
	Problems []string
	// Notes say where the chain starts and its newest report.
	Notes []string
	// Err is a report that could not be read at all (storage that did not
	// answer): the walk stopped there, and found nothing about the chain.
	Err error
}

// readFailure is a report a walk could not read, as opposed to one it read
// and found wrong.
type readFailure struct{ error }

func (u readFailure) Unwrap() error { return u.error }

// VerifyChain verifies each report of dirs, oldest first, with keys as
// VerifyReport does, and the links between them: each report's
// previous_report must be the report before it in dirs, with the SHA-256 of
// that report's manifest as it is now, and a period that ends where this
// one starts.
func VerifyChain(dirs []string, keys []ed25519.PublicKey) *ChainResult {
	names := make([]string, len(dirs))
	for i, dir := range dirs {
		names[i] = filepath.Base(filepath.Clean(dir))
	}
	return verifyChain(names, func(i int) (*Check, error) { return VerifyReport(dirs[i], keys) })
}

// VerifyShelfChain is VerifyChain over the reports names of shelf, oldest
// first; each is fetched, checked and let go of in turn, so that a year of
// daily reports in a container needs room for one report at a time.
func VerifyShelfChain(shelf Shelf, names []string, keys []ed25519.PublicKey) *ChainResult {
	return verifyChain(names, func(i int) (*Check, error) {
		dir, problems, err := shelf.Fetch(names[i])
		if err != nil {
			return nil, readFailure{fmt.Errorf("reading %s: %w", shelf.Where(names[i]), err)}
		}
		defer shelf.Release(names[i])
		c, err := VerifyReport(dir, keys)
		if err != nil {
			return nil, err
		}
		c.Dir, c.Problems = shelf.Where(names[i]), append(problems, c.Problems...)
		return c, nil
	})
}

// verifyChain checks the reports named names with check, and the links
// between them.
func verifyChain(names []string, check func(i int) (*Check, error)) *ChainResult {
	r := &ChainResult{}
	byName := map[string]*Check{}
	unreadable := map[string]bool{}
	var chain []*Check // the reports with a manifest, in order
	var chainNames []string
	for i, name := range names {
		c, err := check(i)
		var u readFailure
		if errors.As(err, &u) {
			return &ChainResult{Err: u.error}
		}
		r.Reports = append(r.Reports, c)
		if err != nil {
			unreadable[name] = true
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %v: not a report, and not in the chain", name, err))
			continue
		}
		if _, dup := byName[name]; !dup {
			byName[name] = c
		}
		chain = append(chain, c)
		chainNames = append(chainNames, name)
	}
	for i, c := range chain {
		name := chainNames[i]
		rec := c.Manifest.PreviousReport
		var before string // the report before this one in the walk
		if i > 0 {
			before = chainNames[i-1]
		}
		if rec == nil {
			if i == 0 {
				r.Notes = append(r.Notes, fmt.Sprintf("the chain starts at %s (it records no previous report)", name))
			} else {
				r.Problems = append(r.Problems, fmt.Sprintf("chain broken: %s records no previous report, yet %s is before it: the chain starts again here", name, before))
			}
			continue
		}
		prev, ok := byName[rec.Name]
		switch {
		case unreadable[rec.Name]:
			r.Problems = append(r.Problems, fmt.Sprintf("link broken: %s records previous report %s (%s to %s, manifest SHA-256 %s), whose manifest cannot be read (above)", name, rec.Name, rec.From, rec.To, rec.ManifestSHA256))
		case !ok:
			r.Problems = append(r.Problems, fmt.Sprintf("missing link: %s records previous report %s (%s to %s, manifest SHA-256 %s), which is not there: removed or moved", name, rec.Name, rec.From, rec.To, rec.ManifestSHA256))
		case rec.Name != before:
			r.Problems = append(r.Problems, fmt.Sprintf("not in the chain: %s records previous report %s, not %s, the report before it: %s was added after %s was made, or is out of order", name, rec.Name, before, before, name))
		}
		if ok && prev.ManifestSHA256 != rec.ManifestSHA256 {
			r.Problems = append(r.Problems, fmt.Sprintf("altered link: %s records manifest SHA-256 %s for %s, whose manifest.json has %s: %s's manifest was altered or replaced after %s was made", name, rec.ManifestSHA256, rec.Name, prev.ManifestSHA256, rec.Name, name))
		}
		if gap := PeriodGap(rec, c.Manifest.From); gap != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("%s (between %s and %s)", gap, rec.Name, name))
		}
	}
	if n := len(chain); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("the newest report is %s, manifest SHA-256 %s: a report removed after it shows only against a copy of this digest kept elsewhere", chainNames[n-1], chain[n-1].ManifestSHA256))
	}
	return r
}

// PeriodGap says how the previous report's period fails to end where the
// next one's starts (from), or "".
func PeriodGap(rec *PreviousReport, from string) string {
	if rec.To == from {
		return ""
	}
	end, err1 := time.Parse(time.RFC3339, rec.To)
	start, err2 := time.Parse(time.RFC3339, from)
	switch {
	case err1 != nil || err2 != nil:
		return fmt.Sprintf("gap: the previous report ends at %q, the next starts at %q", rec.To, from)
	case end.Before(start):
		return fmt.Sprintf("gap: no report covers %s to %s", rec.To, from)
	case end.After(start):
		return fmt.Sprintf("overlap: the previous report ends at %s, after the next starts at %s", rec.To, from)
	}
	return "" // the same instant, written differently
}
