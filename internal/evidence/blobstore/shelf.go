package blobstore

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
)

// Shelf is a prefix of a container under which reports are kept side by
// side, one level down each (aks-prod/2026-12-04/manifest.json), as a
// report.Shelf: a run into the container finds there the report it
// follows and the one it is compared with, and verify --chain walks it.
// Copies of reports are made in a temporary directory, which Close removes.
type Shelf struct {
	ctx    context.Context
	loc    Location // Prefix may be empty: the container's top level
	c      *container.Client
	tmp    string
	copies map[string]fetched
}

// fetched is a copy of a report, with what the copying found.
type fetched struct {
	dir      string
	problems []string
}

var _ report.Shelf = (*Shelf)(nil)

// NewShelf is the shelf at loc, a container URL with a prefix that may be
// empty, signed in to as New does.
func NewShelf(ctx context.Context, loc Location, auth Auth, options azcore.ClientOptions) (*Shelf, error) {
	r, err := New(ctx, loc, auth, options)
	if err != nil {
		return nil, err
	}
	return &Shelf{ctx: ctx, loc: loc, c: r.c, copies: map[string]fetched{}}, nil
}

// Names lists the prefix's next level, each name once, sorted.
func (s *Shelf) Names() ([]string, error) {
	prefix := s.loc.blobName("")
	pager := s.c.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: &prefix})
	var names []string
	for pager.More() {
		page, err := pager.NextPage(s.ctx)
		if err != nil {
			return nil, s.report("").explain("listing the reports under "+s.loc.String(), err)
		}
		for _, p := range page.Segment.BlobPrefixes {
			if p.Name != nil {
				names = append(names, strings.TrimSuffix(strings.TrimPrefix(*p.Name, prefix), "/"))
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// ReadManifest reads the manifest of the report name.
func (s *Shelf) ReadManifest(name string) ([]byte, error) {
	r := s.report(name)
	raw, _, err := r.read(report.ManifestName)
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound):
		return nil, fmt.Errorf("%s holds no %s: %w", r, report.ManifestName, fs.ErrNotExist)
	case err != nil:
		return nil, r.explain("reading "+report.ManifestName, err)
	}
	return raw, nil
}

// Fetch copies the report name into the shelf's temporary directory,
// once: a run that links to a report and compares with it reads it once.
func (s *Shelf) Fetch(name string) (string, []string, error) {
	if f, ok := s.copies[name]; ok {
		return f.dir, f.problems, nil
	}
	if !filepath.IsLocal(name) || strings.ContainsAny(name, `/\`) {
		return "", nil, fmt.Errorf("%q is no report's name", name)
	}
	if s.tmp == "" {
		tmp, err := os.MkdirTemp("", "chrony-evidence-reports-")
		if err != nil {
			return "", nil, fmt.Errorf("a directory for copies of the reports (TMPDIR must be writable): %w", err)
		}
		s.tmp = tmp
	}
	dir := filepath.Join(s.tmp, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", nil, err
	}
	problems, err := s.report(name).Download(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	s.copies[name] = fetched{dir, problems}
	return dir, problems, nil
}

// Release removes the copy of the report name.
func (s *Shelf) Release(name string) {
	if f, ok := s.copies[name]; ok {
		os.RemoveAll(f.dir)
		delete(s.copies, name)
	}
}

// Where is the report's URL.
func (s *Shelf) Where(name string) string { return s.report(name).String() }

// Close removes every copy.
func (s *Shelf) Close() error {
	if s.tmp == "" {
		return nil
	}
	s.copies = map[string]fetched{}
	return os.RemoveAll(s.tmp)
}

// report is the report name on the shelf, to read.
func (s *Shelf) report(name string) *Report {
	loc := s.loc
	if name != "" {
		loc = loc.under(name)
	}
	return &Report{ctx: s.ctx, loc: loc, c: s.c}
}
