package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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

// Run is what the manifest records about the run besides the data.
type Run struct {
	Version    string
	DataSource string
	Generated  time.Time
}

// Write renders every file of the report, then writes them into dir, the
// manifest last. Each file is written once under its final name, with no
// temporary file renamed over it: on write-once storage (an Azure Blob
// container under an immutability policy) a rename is a copy and a delete,
// and the delete is refused. When a write fails, the files already written
// are removed where the storage allows; where it does not, they stay without
// a manifest, which `chrony-evidence verify` reports. An existing report is
// never overwritten.
func Write(dir string, res *evidence.Result, meta Meta, run Run) (*Summary, error) {
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
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
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

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the output directory: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
		return nil, fmt.Errorf("%s already holds a report (%s): choose another --out; a kept report is never overwritten", dir, ManifestName)
	}
	var written []string
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := writeNew(path, files[name].Bytes()); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		written = append(written, path)
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

// Verify checks every file the manifest in dir lists against its SHA-256,
// and that no file was added. It returns one line per problem.
func Verify(dir string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
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
	listed := map[string]bool{ManifestName: true}
	for _, f := range m.Files {
		listed[f.Name] = true
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.Name, err))
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != f.SHA256 {
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %s, the manifest says %s: the file was altered", f.Name, got, f.SHA256))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			problems = append(problems, fmt.Sprintf("%s: not in the manifest", e.Name()))
		}
	}
	return problems, nil
}
