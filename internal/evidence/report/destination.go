package report

import (
	"fmt"
	"os"
	"path/filepath"
)

// Destination is where Write stores a report's files. Write calls Open once
// every file is rendered, then Create for each file, the manifest last, and
// Abandon after a Create that failed. A local directory is Dir; write-once
// object storage is internal/evidence/blobstore.
type Destination interface {
	// Open prepares the destination and fails when it already holds a
	// report: a kept report is never overwritten.
	Open() error
	// Create stores data under name, which must not already hold other
	// bytes.
	Create(name string, data []byte) error
	// Abandon undoes what the Creates so far did, where the storage allows.
	Abandon()
	// Where names a file of the report for a message.
	Where(name string) string
}

// Dir is a local directory as a Destination. Each file is written once
// under its final name, with no temporary file renamed over it (on a
// BlobFuse mount a rename is a copy and a delete); after a failure the files
// written are removed, and where the storage refuses that they stay without
// a manifest, which verify reports.
func Dir(path string) Destination { return &dirDest{dir: path} }

type dirDest struct {
	dir     string
	written []string
}

func (d *dirDest) Open() error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("creating the output directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(d.dir, ManifestName)); err == nil {
		return fmt.Errorf("%s already holds a report (%s): choose another --out; a kept report is never overwritten", d.dir, ManifestName)
	}
	return nil
}

func (d *dirDest) Create(name string, data []byte) error {
	path := filepath.Join(d.dir, name)
	if err := writeNew(path, data); err != nil {
		return err
	}
	d.written = append(d.written, path)
	return nil
}

func (d *dirDest) Abandon() {
	for _, w := range d.written {
		os.Remove(w)
	}
}

func (d *dirDest) Where(name string) string { return filepath.Join(d.dir, name) }
