package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// ManifestSchema names the version of manifest.json's layout.
const ManifestSchema = "chrony-evidence/manifest/v1"

// ManifestName is the file that lists and hashes every other file.
const ManifestName = "manifest.json"

// Manifest is manifest.json: how the report was made, and the SHA-256 of
// every other file in it, so that a kept copy can be shown to be unaltered.
type Manifest struct {
	Schema           string                 `json:"schema"`
	Tool             string                 `json:"tool"`
	Version          string                 `json:"version"`
	DataSource       string                 `json:"data_source"`
	ServerVersion    string                 `json:"server_version,omitempty"`
	From             string                 `json:"from"`
	To               string                 `json:"to"`
	StepSeconds      float64                `json:"step_seconds"`
	ToleranceSeconds float64                `json:"tolerance_seconds"`
	Profile          string                 `json:"profile,omitempty"`
	Cluster          string                 `json:"cluster,omitempty"`
	GeneratedAt      string                 `json:"generated_at"`
	Queries          []evidence.QueryRecord `json:"queries"`
	Files            []FileHash             `json:"files"`
}

// FileHash is one file of the report and its SHA-256.
type FileHash struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
}

// reportFiles are the files of a report besides the manifest, in the order
// the manifest lists them: the files chrony-evidence/manifest/v1 names.
var reportFiles = []string{"nodes.csv", "outages.csv", "report.html", "report.pdf", "summary.json"}

// Run is what the manifest records about the run besides the data.
type Run struct {
	Version    string
	DataSource string
	Generated  time.Time
}

// Write renders every file of the report, then stores them in dst, the
// manifest last. Each file is created once under its final name, with no
// temporary file renamed over it: on write-once storage (an Azure Blob
// container under an immutability policy) a rename is a copy and a delete,
// and the delete is refused. When a store fails, dst undoes what it can
// (Destination.Abandon); what stays has no manifest, which `chrony-evidence
// verify` reports. An existing report is never overwritten.
func Write(dst Destination, res *evidence.Result, meta Meta, run Run) (*Summary, error) {
	summary := Summarise(res, meta)
	v := newView(summary, res.Ledger.Period)
	files := map[string]*bytes.Buffer{}
	render := func(name string, f func(*bytes.Buffer) error) error {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			return fmt.Errorf("rendering %s: %w", name, err)
		}
		files[name] = &b
		return nil
	}
	err := errors.Join(
		render("summary.json", func(b *bytes.Buffer) error {
			enc := json.NewEncoder(b)
			enc.SetIndent("", "  ")
			return enc.Encode(summary)
		}),
		render("nodes.csv", func(b *bytes.Buffer) error { return writeNodesCSV(b, summary) }),
		render("outages.csv", func(b *bytes.Buffer) error { return writeOutagesCSV(b, summary) }),
		render("report.html", func(b *bytes.Buffer) error { return writeHTML(b, v) }),
		render("report.pdf", func(b *bytes.Buffer) error { return writePDF(b, v, run.Generated) }),
	)
	if err != nil {
		return nil, err
	}
	p := res.Ledger.Period
	m := Manifest{
		Schema: ManifestSchema, Tool: "chrony-evidence", Version: run.Version, DataSource: run.DataSource,
		ServerVersion: res.ServerVersion, From: rfc3339(p.From), To: rfc3339(p.To()), StepSeconds: p.Step.Seconds(),
		ToleranceSeconds: res.Ledger.Tolerance, Profile: meta.Profile, Cluster: meta.Cluster,
		GeneratedAt: rfc3339(run.Generated), Queries: res.Queries,
	}
	// The manifest lists what the schema names, which verify requires.
	names := append([]string{}, reportFiles...)
	for _, name := range names {
		if files[name] == nil || len(files) != len(names) {
			return nil, fmt.Errorf("rendered %d files, not the %d files %s names", len(files), len(names), ManifestSchema)
		}
	}
	for _, name := range names {
		sum := sha256.Sum256(files[name].Bytes())
		m.Files = append(m.Files, FileHash{Name: name, SHA256: hex.EncodeToString(sum[:]), Bytes: files[name].Len()})
	}
	if err := render(ManifestName, func(b *bytes.Buffer) error {
		enc := json.NewEncoder(b)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}); err != nil {
		return nil, err
	}
	names = append(names, ManifestName) // last: a report without it is visibly incomplete

	if err := dst.Open(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := dst.Create(name, files[name].Bytes()); err != nil {
			dst.Abandon()
			return nil, fmt.Errorf("writing %s: %w", dst.Where(name), err)
		}
	}
	return summary, nil
}

// writeNew creates path, which must not exist, and writes data to it.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func writeNodesCSV(b *bytes.Buffer, s *Summary) error {
	w := csv.NewWriter(b)
	head := []string{"node", "cluster", "in_inventory", "in_fleet_seconds", "within_tolerance_ratio", "no_data_ratio"}
	for _, st := range evidence.States() {
		head = append(head, st.String()+"_seconds")
	}
	head = append(head, "worst_max_error_seconds", "worst_at", "p50_max_error_seconds", "p99_max_error_seconds", "outages", "references", "partial_data")
	w.Write(head)
	// Every row says whether the report was made from a partial answer, so
	// that no row copied out of the file loses it.
	partial := strconv.FormatBool(len(s.Partial) > 0)
	for _, n := range s.Nodes {
		refs := ""
		for i, r := range n.References {
			if i > 0 {
				refs += " "
			}
			refs += r.ID + "/" + r.Name
		}
		w.Write([]string{text(n.Node), text(n.Cluster), strconv.FormatBool(n.InInventory), num(n.InFleetSeconds), opt(n.WithinToleranceRatio), opt(n.NoDataRatio),
			num(n.Seconds.Within), num(n.Seconds.AboveTolerance), num(n.Seconds.Unsynchronised), num(n.Seconds.Unreachable), num(n.Seconds.NoData),
			opt(n.WorstMaxError), text(n.WorstAt), opt(n.P50MaxError), opt(n.P99MaxError), strconv.Itoa(len(n.Outages)), text(refs), partial})
	}
	w.Flush()
	return w.Error()
}

func writeOutagesCSV(b *bytes.Buffer, s *Summary) error {
	w := csv.NewWriter(b)
	w.Write([]string{"node", "cluster", "start", "end", "seconds", "cause"})
	for _, n := range s.Nodes {
		for _, o := range n.Outages {
			start, _ := time.Parse(time.RFC3339, o.Start)
			end, _ := time.Parse(time.RFC3339, o.End)
			w.Write([]string{text(n.Node), text(n.Cluster), text(o.Start), text(o.End), num(end.Sub(start).Seconds()), text(o.Cause)})
		}
	}
	w.Flush()
	return w.Error()
}

// text is a CSV cell that holds text, not a number. A spreadsheet takes a
// cell beginning with = + - @, a tab or a carriage return for a formula, and
// node and cluster names are label values anyone who can label a node or set
// the DaemonSet's settings controls: such a cell gets a leading single quote
// (OWASP's rule for CSV injection), which a spreadsheet shows as text.
func text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func opt(v *float64) string {
	if v == nil {
		return ""
	}
	return num(*v)
}

// Verify checks that the manifest in dir lists every file of the report,
// each a regular file in dir, against its SHA-256, and that no file was
// added. It returns one line per problem, naming the file.
func Verify(dir string) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the report directory: %w", err)
	}
	defer root.Close()
	if problem := regularFile(root, ManifestName); problem != "" {
		return nil, fmt.Errorf("%s: %s", ManifestName, problem)
	}
	raw, err := root.ReadFile(ManifestName)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", ManifestName, err)
	}
	if m.Schema != ManifestSchema {
		return nil, fmt.Errorf("%s has schema %q, this tool reads %q", ManifestName, m.Schema, ManifestSchema)
	}
	var problems []string
	named := map[string]bool{}
	for _, name := range reportFiles {
		named[name] = true
	}
	listed := map[string]bool{ManifestName: true}
	for _, f := range m.Files {
		switch {
		case listed[f.Name]:
			problems = append(problems, fmt.Sprintf("%s: listed twice in the manifest", f.Name))
			continue
		case filepath.IsAbs(f.Name):
			problems = append(problems, fmt.Sprintf("%s: an absolute path in the manifest; refused, not read", f.Name))
			continue
		case !filepath.IsLocal(f.Name):
			problems = append(problems, fmt.Sprintf("%s: a name in the manifest that leaves the report directory; refused, not read", f.Name))
			continue
		case !named[f.Name]:
			problems = append(problems, fmt.Sprintf("%s: not a file of a %s report; refused, not read", f.Name, ManifestSchema))
			continue
		}
		listed[f.Name] = true
		if problem := regularFile(root, f.Name); problem != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", f.Name, problem))
			continue
		}
		data, err := root.ReadFile(f.Name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.Name, err))
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != f.SHA256 {
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %s, the manifest says %s: the file was altered", f.Name, got, f.SHA256))
		}
	}
	for _, name := range reportFiles {
		if !listed[name] {
			problems = append(problems, fmt.Sprintf("%s: a %s report has it, the manifest does not list it", name, ManifestSchema))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the report directory: %w", err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			problems = append(problems, fmt.Sprintf("%s: not in the manifest", e.Name()))
		}
	}
	return problems, nil
}

// regularFile says what is wrong with name in root for a file of a report,
// or "". A symbolic link is refused even when it points inside: the bytes
// kept are then not the report's own. A FIFO or device is refused before it
// is read, since reading one could block or never end.
func regularFile(root *os.Root, name string) string {
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	case err != nil:
		return err.Error()
	case fi.Mode()&fs.ModeSymlink != 0:
		return "a symbolic link; refused, not read"
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("not a regular file (%s); refused, not read", fi.Mode().Type())
	}
	return ""
}
