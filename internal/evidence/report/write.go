package report

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/synclog"
)

// ManifestSchema names the version of manifest.json's layout.
const ManifestSchema = "chrony-evidence/manifest/v2"

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
	RunID            string                 `json:"run_id,omitempty"`
	Queries          []evidence.QueryRecord `json:"queries"`
	Files            []FileHash             `json:"files"`
	// v2: the report before this one, and the key that signs the manifest
	// (chain.go, sign.go); null when there is none.
	PreviousReport *PreviousReport `json:"previous_report"`
	Signature      *SignatureInfo  `json:"signature"`
}

// FileHash is one file of the report and its SHA-256.
type FileHash struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
}

// reportFiles are the files of a report besides the manifest, in the order
// the manifest lists them: the files chrony-evidence/manifest/v1 and v2 name.
var reportFiles = []string{"nodes.csv", "outages.csv", "report.html", "report.pdf", "summary.json"}

// SyncLogName is the synchronisation log, a file of manifest v2 reports.
const SyncLogName = "sync-log.parquet"

// filesOf are the files a report of that manifest schema has besides the
// manifest (and its signature).
func filesOf(schema string) []string {
	if schema == ManifestSchemaV1 {
		return reportFiles
	}
	return append(append([]string{}, reportFiles...), SyncLogName)
}

// Run is what the manifest records about the run besides the data.
type Run struct {
	// ID names the run: it is on every page, in summary.json and in the
	// manifest, so a page printed alone leads back to its report.
	ID         string
	Version    string
	DataSource string
	Generated  time.Time
	// Previous is the report this one follows, recorded in the manifest;
	// SigningKey, when set, signs the manifest (manifest.json.sig).
	Previous   *PreviousReport
	SigningKey ed25519.PrivateKey
	// SyncLog is the path of the synchronisation log the run spooled, and
	// SyncLogRows its rows; "" writes an empty log with SyncLogNote saying
	// where the steps are (a rollup's are in its inputs' logs).
	SyncLog     string
	SyncLogRows int64
	SyncLogNote string
}

// Write renders the files of the report one by one, storing each in dst as
// soon as it is rendered, and the manifest last (then, with
// run.SigningKey, its signature). One file is in memory at a time: a year of
// a large fleet renders hundreds of megabytes. Each file is created once
// under its final name, with no temporary file renamed over it: on
// write-once storage (an Azure Blob container under an immutability policy)
// a rename is a copy and a delete, and the delete is refused. When a step
// fails, dst undoes what it can (Destination.Abandon); what stays has no
// manifest, which `chrony-evidence verify` reports. An existing report is
// never overwritten.
func Write(dst Destination, res *evidence.Result, meta Meta, run Run) (*Summary, error) {
	summary := Summarise(res, meta)
	summary.Run = RunInfo{ID: run.ID, Tool: "chrony-evidence", Version: run.Version, GeneratedAt: rfc3339(run.Generated), DataSource: run.DataSource}
	summary.SyncLog = SyncLogInfo{File: SyncLogName, Rows: run.SyncLogRows, Note: run.SyncLogNote}
	v := newView(summary, res.Ledger.Period)
	renderers := map[string]func(*bytes.Buffer) error{
		"summary.json": func(b *bytes.Buffer) error {
			enc := json.NewEncoder(b)
			enc.SetIndent("", "  ")
			return enc.Encode(summary)
		},
		"nodes.csv":   func(b *bytes.Buffer) error { return writeNodesCSV(b, summary) },
		"outages.csv": func(b *bytes.Buffer) error { return writeOutagesCSV(b, summary) },
		"report.html": func(b *bytes.Buffer) error { return writeHTML(b, v) },
		"report.pdf":  func(b *bytes.Buffer) error { return writePDF(b, v, run.Generated) },
		SyncLogName:   func(b *bytes.Buffer) error { return syncLogBytes(b, run.SyncLog) },
	}
	// The manifest lists what the schema names, which verify requires.
	if len(renderers) != len(filesOf(ManifestSchema)) {
		return nil, fmt.Errorf("%d renderers, not the %d files %s names", len(renderers), len(filesOf(ManifestSchema)), ManifestSchema)
	}
	p := res.Ledger.Period
	m := Manifest{
		Schema: ManifestSchema, Tool: "chrony-evidence", Version: run.Version, DataSource: run.DataSource,
		ServerVersion: res.ServerVersion, From: rfc3339(p.From), To: rfc3339(p.To()), StepSeconds: p.Step.Seconds(),
		ToleranceSeconds: res.Ledger.Tolerance, Profile: meta.Profile, Cluster: meta.Cluster,
		GeneratedAt: rfc3339(run.Generated), RunID: run.ID, Queries: res.Queries,
		PreviousReport: run.Previous, Signature: signatureInfo(run.SigningKey),
	}

	if err := dst.Open(); err != nil {
		return nil, err
	}
	fail := func(err error) (*Summary, error) {
		dst.Abandon()
		return nil, err
	}
	var last []byte // the bytes stored last
	put := func(name string, render func(*bytes.Buffer) error) error {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			return fmt.Errorf("rendering %s: %w", name, err)
		}
		if err := dst.Create(name, b.Bytes()); err != nil {
			return fmt.Errorf("writing %s: %w", dst.Where(name), err)
		}
		last = b.Bytes()
		if name != ManifestName && name != SignatureName {
			sum := sha256.Sum256(b.Bytes())
			m.Files = append(m.Files, FileHash{Name: name, SHA256: hex.EncodeToString(sum[:]), Bytes: b.Len()})
		}
		return nil
	}
	for _, name := range filesOf(ManifestSchema) {
		render := renderers[name]
		if render == nil {
			return fail(fmt.Errorf("no renderer for %s, a file %s names", name, ManifestSchema))
		}
		if err := put(name, render); err != nil {
			return fail(err)
		}
	}
	// Last: a report without it is visibly incomplete.
	if err := put(ManifestName, func(b *bytes.Buffer) error {
		enc := json.NewEncoder(b)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}); err != nil {
		return fail(err)
	}
	// The signature goes after the manifest it signs.
	if run.SigningKey != nil {
		manifest := last
		if err := put(SignatureName, func(b *bytes.Buffer) error {
			_, err := b.Write(ed25519.Sign(run.SigningKey, manifest))
			return err
		}); err != nil {
			return fail(err)
		}
	}
	return summary, nil
}

// syncLogBytes is the spooled log's bytes, or an empty log's when the run
// spooled none.
func syncLogBytes(b *bytes.Buffer, spooled string) error {
	if spooled == "" {
		_, err := synclog.NewWriter(b).Close()
		return err
	}
	f, err := os.Open(spooled)
	if err != nil {
		return fmt.Errorf("reading the spooled synchronisation log: %w", err)
	}
	defer f.Close()
	_, err = b.ReadFrom(f)
	return err
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
	head = append(head, "worst_max_error_seconds", "worst_at", "p50_max_error_seconds", "p99_max_error_seconds", "outages", "references",
		"traceable_within_ratio")
	for _, st := range evidence.UTCStates() {
		head = append(head, st.String()+"_seconds")
	}
	head = append(head, "worst_utc_error_bound_seconds", "worst_utc_at", "utc_outages", "partial_data")
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
			opt(n.WorstMaxError), text(n.WorstAt), opt(n.P50MaxError), opt(n.P99MaxError), strconv.Itoa(len(n.Outages)), text(refs),
			opt(n.TraceableWithinRatio), num(n.UTCSeconds.Verified), num(n.UTCSeconds.Inconclusive), num(n.UTCSeconds.Unverified), num(n.UTCSeconds.Disagrees),
			opt(n.WorstUTCErrorBound), text(n.WorstUTCAt), strconv.Itoa(len(n.UTCOutages)), partial})
	}
	w.Flush()
	return w.Error()
}

// writeOutagesCSV lists, node by node in time order, the runs of steps
// not within tolerance and the runs not verified against UTC; a run of each
// kind can overlap one of the other, and the cause says which kind it is
// (the UTC causes begin with utc_).
func writeOutagesCSV(b *bytes.Buffer, s *Summary) error {
	w := csv.NewWriter(b)
	w.Write([]string{"node", "cluster", "start", "end", "seconds", "cause"})
	for _, n := range s.Nodes {
		runs := append(append([]Outage{}, n.Outages...), n.UTCOutages...)
		sort.SliceStable(runs, func(i, j int) bool { return runs[i].Start < runs[j].Start })
		for _, o := range runs {
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
// added. It returns one line per problem, naming the file. It does not check
// a signature; VerifyReport does.
func Verify(dir string) ([]string, error) {
	c, err := VerifyReport(dir, nil)
	if err != nil {
		return nil, err
	}
	return c.Problems, nil
}

// verifyFiles is Verify's check of the files, with the manifest it read and
// its bytes.
func verifyFiles(dir string) (*Manifest, []byte, []string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening the report directory: %w", err)
	}
	defer root.Close()
	if problem := regularFile(root, ManifestName); problem != "" {
		return nil, nil, nil, fmt.Errorf("%s: %s", ManifestName, problem)
	}
	raw, err := root.ReadFile(ManifestName)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading the manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, nil, fmt.Errorf("decoding %s: %w", ManifestName, err)
	}
	if err := checkSchema(&m); err != nil {
		return nil, nil, nil, err
	}
	var problems []string
	named := map[string]bool{}
	for _, name := range filesOf(m.Schema) {
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
			problems = append(problems, fmt.Sprintf("%s: not a file of a %s report; refused, not read", f.Name, m.Schema))
			continue
		}
		listed[f.Name] = true
		if problem := regularFile(root, f.Name); problem != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", f.Name, problem))
			continue
		}
		got, err := hashFile(root, f.Name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.Name, err))
			continue
		}
		if got != f.SHA256 {
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %s, the manifest says %s: the file was altered", f.Name, got, f.SHA256))
		}
	}
	for _, name := range filesOf(m.Schema) {
		if !listed[name] {
			problems = append(problems, fmt.Sprintf("%s: a %s report has it, the manifest does not list it", name, m.Schema))
		}
	}
	listed[SignatureName] = true // it signs the manifest, which cannot list it: checkSignature checks it
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listing the report directory: %w", err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			problems = append(problems, fmt.Sprintf("%s: not in the manifest", e.Name()))
		}
	}
	return &m, raw, problems, nil
}

// hashFile is the SHA-256 of a file of root, read as a stream: a month's
// synchronisation log is large.
func hashFile(root *os.Root, name string) (string, error) {
	f, err := root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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
