package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// Shelf is where scheduled runs keep their reports side by side, each under
// its own name (2026-12-04, 2026-W49, ...): a local directory, or a prefix in
// a Blob Storage container (internal/evidence/blobstore). A run finds there
// the report its own follows in the chain and the report of the previous
// period it is compared with; verify --chain walks it.
type Shelf interface {
	// Names lists what is on the shelf, sorted: each subdirectory, or each
	// next level of the prefix. A shelf that does not exist holds none.
	Names() ([]string, error)
	// ReadManifest reads one report's manifest.json; an error that wraps
	// fs.ErrNotExist when it has none (a run that stopped half-way), or
	// ErrNotAReport when what is there is refused. Any other error is a
	// failure to read (storage that did not answer), which a run must not
	// take for an absence.
	ReadManifest(name string) ([]byte, error)
	// Fetch makes the report readable as a local directory whose base name
	// is name, for Verify and Compare. problems are what the copying found
	// that a check of the copy cannot see (a blob further down the prefix).
	Fetch(name string) (dir string, problems []string, err error)
	// Release lets go of a copy Fetch made.
	Release(name string)
	// Where names a report on the shelf for a message.
	Where(name string) string
	// Close lets go of every copy.
	Close() error
}

// ErrNotAReport marks an entry of a shelf whose manifest is refused (a
// symbolic link, not a regular file) or cannot be opened where it is.
var ErrNotAReport = errors.New("not a report")

// DirShelf is a local directory as a Shelf: its reports are read in place.
func DirShelf(parent string) Shelf { return dirShelf(parent) }

type dirShelf string

func (d dirShelf) Names() ([]string, error) {
	entries, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", string(d), err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (d dirShelf) ReadManifest(name string) ([]byte, error) {
	dir := d.Where(name)
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s holds no %s: %w", dir, ManifestName, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%w)", dir, err, ErrNotAReport)
	}
	defer root.Close()
	switch problem := regularFile(root, ManifestName); problem {
	case "":
	case "missing":
		return nil, fmt.Errorf("%s holds no %s: %w", dir, ManifestName, fs.ErrNotExist)
	default:
		return nil, fmt.Errorf("%s/%s: %s (%w)", dir, ManifestName, problem, ErrNotAReport)
	}
	raw, err := root.ReadFile(ManifestName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%w)", dir, err, ErrNotAReport)
	}
	return raw, nil
}

func (d dirShelf) Fetch(name string) (string, []string, error) { return d.Where(name), nil, nil }
func (d dirShelf) Release(string)                              {}
func (d dirShelf) Where(name string) string                    { return filepath.Join(string(d), name) }
func (d dirShelf) Close() error                                { return nil }

// DatedNames lists the reports on shelf named as a scheduled run of
// cadence c names them, oldest first: a cadence's names sort as its periods
// do.
func DatedNames(shelf Shelf, c evidence.Cadence) ([]string, error) {
	names, err := shelf.Names()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if _, ok := c.Parse(n); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}
