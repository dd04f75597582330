package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// A rollup combines reports already written, each verified against its
// manifest first, into one report over their joint period: a year from
// daily or monthly reports after the store has forgotten the data. It sums
// what sums (seconds per state, samples, counts), takes the worst of what
// is a worst, joins runs that meet at an input's boundary, and leaves out
// what a summary cannot give back: percentiles (null), and the cross-check
// offsets behind the servers' percentiles.

// inputReport is one verified report read for a rollup.
type inputReport struct {
	dir string
	// summary holds the header only (no nodes, servers or system) until
	// load reads the whole: a year of daily reports of a large fleet does
	// not fit in memory at once.
	summary    Summary
	from, to   time.Time
	manifest   string // SHA-256 of manifest.json
	summarySum string // SHA-256 of summary.json as the manifest lists it
}

// load reads the input's whole summary, checking it is still the one its
// manifest lists.
func (r *inputReport) load() error {
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	raw, err := root.ReadFile("summary.json")
	if err != nil {
		return fmt.Errorf("reading %s's summary: %w", r.dir, err)
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != r.summarySum {
		return fmt.Errorf("%s/summary.json changed while the rollup read it", r.dir)
	}
	return json.Unmarshal(raw, &r.summary)
}

func (r *inputReport) unload() {
	r.summary.Nodes, r.summary.CrossCheckServers, r.summary.System = nil, nil, System{}
}

// Rollup reads the reports in dirs, verifies each, and combines them. They
// must share step, tolerance, profile, cluster and UTC window, and follow
// each other without gap or overlap.
func Rollup(dirs []string) (*evidence.Result, Meta, error) {
	if len(dirs) == 0 {
		return nil, Meta{}, fmt.Errorf("no report to roll up")
	}
	var in []inputReport
	for _, dir := range dirs {
		r, err := readInput(dir, dir)
		if err != nil {
			return nil, Meta{}, err
		}
		in = append(in, r)
	}
	sort.Slice(in, func(i, j int) bool { return in[i].from.Before(in[j].from) })
	first := in[0].summary
	for i, r := range in {
		s := r.summary
		switch {
		case s.StepSeconds != first.StepSeconds, s.ToleranceSeconds != first.ToleranceSeconds, s.Profile != first.Profile, s.Cluster != first.Cluster:
			return nil, Meta{}, fmt.Errorf("%s: step %gs, tolerance %gs, profile %q, cluster %q; %s has %gs, %gs, %q, %q: a rollup combines reports made alike",
				r.dir, s.StepSeconds, s.ToleranceSeconds, s.Profile, s.Cluster, in[0].dir, first.StepSeconds, first.ToleranceSeconds, first.Profile, first.Cluster)
		case s.UTCWindowSeconds != 0 && first.UTCWindowSeconds != 0 && s.UTCWindowSeconds != first.UTCWindowSeconds:
			return nil, Meta{}, fmt.Errorf("%s: UTC window %gs, %s has %gs: a rollup combines reports made alike", r.dir, s.UTCWindowSeconds, in[0].dir, first.UTCWindowSeconds)
		case i > 0 && !r.from.Equal(in[i-1].to):
			what := "a gap"
			if r.from.Before(in[i-1].to) {
				what = "an overlap"
			}
			return nil, Meta{}, fmt.Errorf("%s ends %s and %s begins %s: %s; a rollup covers its period whole, so give every report of it once",
				in[i-1].dir, rfc3339(in[i-1].to), r.dir, rfc3339(r.from), what)
		}
	}
	step := time.Duration(first.StepSeconds * float64(time.Second))
	from, to := in[0].from, in[len(in)-1].to
	if step <= 0 || to.Sub(from)%step != 0 {
		return nil, Meta{}, fmt.Errorf("the joint period %s to %s is not a whole number of steps of %s", rfc3339(from), rfc3339(to), step)
	}
	p := evidence.Period{From: from, Step: step, Steps: int(to.Sub(from) / step)}
	l := evidence.NewLedger(p, first.ToleranceSeconds)
	l.SetBuckets(len(in))
	daily := true
	for _, r := range in {
		if r.to.Sub(r.from) > 24*time.Hour || r.from.Truncate(24*time.Hour) != r.to.Add(-time.Nanosecond).Truncate(24*time.Hour) {
			daily = false
		}
	}
	l.NoDays = !daily
	res := &evidence.Result{Ledger: l, UTCWindow: time.Duration(first.UTCWindowSeconds * float64(time.Second)),
		Inventory:      fmt.Sprintf("rolled up from %d reports; each counted its fleet as it says (first: %s)", len(in), first.Inventory),
		WindowSemantic: fmt.Sprintf("as in each report rolled up (first: %s)", first.Window)}
	meta := Meta{Profile: first.Profile, Cluster: first.Cluster}
	servers := map[string]*evidence.Server{}
	ids := map[string]map[evidence.ServerIdentity]int64{}
	type platformKey struct{ os, kernel, kubelet, runtime string }
	type buildKey struct{ command, version string }
	platforms := map[platformKey]map[string]bool{}
	collectors := map[buildKey]map[string]bool{}
	excluded := map[string]bool{}
	for i := range in {
		r := &in[i]
		if err := r.load(); err != nil {
			return nil, Meta{}, err
		}
		s := r.summary
		meta.RolledUpFrom = append(meta.RolledUpFrom, RolledInput{Report: filepath.Base(filepath.Clean(r.dir)), From: s.From, To: s.To, Schema: s.Schema, ManifestSHA256: r.manifest})
		tag := fmt.Sprintf("%s to %s: ", s.From, s.To)
		for _, w := range s.Warnings {
			res.Warnings = append(res.Warnings, tag+w)
		}
		for _, w := range s.Partial {
			res.Partial = append(res.Partial, tag+w)
		}
		for _, e := range s.ExcludedNodes {
			if !excluded[e.Node] {
				excluded[e.Node] = true
				res.Excluded = append(res.Excluded, evidence.Excluded{Node: e.Node, OSImage: e.OSImage, Reason: e.Reason})
			}
		}
		if err := addNodes(l, *r, step, daily); err != nil {
			return nil, Meta{}, err
		}
		for _, sv := range s.CrossCheckServers {
			addServer(servers, ids, sv)
		}
		for _, pl := range s.System.Platforms {
			addNames(platforms, platformKey{pl.OSImage, pl.KernelVersion, pl.KubeletVersion, pl.ContainerRuntimeVersion}, pl.Nodes)
		}
		for _, c := range s.System.Collectors {
			addNames(collectors, buildKey{c.Command, c.Version}, c.Nodes)
		}
		r.unload()
	}
	sort.Slice(res.Excluded, func(i, j int) bool { return res.Excluded[i].Node < res.Excluded[j].Node })
	for addr, sv := range servers {
		for id, n := range ids[addr] {
			id.Samples = n
			sv.Identities = append(sv.Identities, id)
		}
		evidence.SortIdentities(sv.Identities)
		res.Servers = append(res.Servers, *sv)
	}
	sort.Slice(res.Servers, func(i, j int) bool { return res.Servers[i].Address < res.Servers[j].Address })
	for k, names := range platforms {
		res.Platforms = append(res.Platforms, evidence.Platform{OSImage: k.os, KernelVersion: k.kernel, KubeletVersion: k.kubelet,
			ContainerRuntimeVersion: k.runtime, Nodes: sortedNames(names)})
	}
	evidence.SortPlatforms(res.Platforms)
	for k, names := range collectors {
		res.Collectors = append(res.Collectors, evidence.CollectorBuild{Command: k.command, Version: k.version, Nodes: sortedNames(names)})
	}
	evidence.SortCollectors(res.Collectors)
	return res, meta, nil
}

// readInput reads the report in dir, verified first; where names it in
// messages.
func readInput(dir, where string) (inputReport, error) {
	problems, err := Verify(dir)
	if err != nil {
		return inputReport{}, fmt.Errorf("verifying %s: %w", where, err)
	}
	if len(problems) > 0 {
		return inputReport{}, fmt.Errorf("%s does not verify: %s", where, strings.Join(problems, "; "))
	}
	// Verify just read these files against the manifest; read them again
	// through the same checks.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return inputReport{}, err
	}
	defer root.Close()
	manifest, err := root.ReadFile(ManifestName)
	if err != nil {
		return inputReport{}, fmt.Errorf("reading %s's manifest: %w", where, err)
	}
	raw, err := root.ReadFile("summary.json")
	if err != nil {
		return inputReport{}, fmt.Errorf("reading %s's summary: %w", where, err)
	}
	r := inputReport{dir: dir}
	sum := sha256.Sum256(manifest)
	r.manifest = hex.EncodeToString(sum[:])
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return inputReport{}, fmt.Errorf("decoding %s's manifest: %w", where, err)
	}
	for _, f := range m.Files {
		if f.Name == "summary.json" {
			r.summarySum = f.SHA256
		}
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != r.summarySum {
		return inputReport{}, fmt.Errorf("%s/summary.json changed while the rollup read it", where)
	}
	if err := json.Unmarshal(raw, &r.summary); err != nil {
		return inputReport{}, fmt.Errorf("decoding %s/summary.json: %w", where, err)
	}
	switch r.summary.Schema {
	case "chrony-evidence/summary/v1", SummarySchema:
	default:
		return inputReport{}, fmt.Errorf("%s/summary.json has schema %q; this tool rolls up chrony-evidence/summary/v1 and %s", where, r.summary.Schema, SummarySchema)
	}
	if r.from, err = time.Parse(time.RFC3339, r.summary.From); err == nil {
		r.to, err = time.Parse(time.RFC3339, r.summary.To)
	}
	if err != nil || !r.to.After(r.from) {
		return inputReport{}, fmt.Errorf("%s/summary.json: period %q to %q is not a period", where, r.summary.From, r.summary.To)
	}
	r.unload()
	return r, nil
}

// addNodes adds one input's nodes to the rollup's ledger.
func addNodes(l *evidence.Ledger, r inputReport, step time.Duration, daily bool) error {
	p := l.Period
	steps := func(seconds float64) int64 { return int64(math.Round(seconds / step.Seconds())) }
	index := func(at string) (int, error) {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return 0, err
		}
		return int(t.Sub(p.From) / step), nil
	}
	bucketsOf := func() (int, int) {
		first := int(r.from.Sub(p.From) / step)
		last := int(r.to.Sub(p.From)/step) - 1
		return first * l.Buckets() / p.Steps, last * l.Buckets() / p.Steps
	}
	for _, line := range r.summary.Nodes {
		n := l.Node(line.Node)
		if n == nil {
			n = l.Add(line.Node, line.Cluster, nil, line.InInventory)
		} else if n.Cluster != line.Cluster {
			// A node that was in the inventory but sent nothing all period
			// has no cluster in that report: it is not another cluster.
			switch {
			case n.Cluster == "":
				n.Cluster = line.Cluster
			case line.Cluster != "":
				return fmt.Errorf("%s: node %s is in cluster %q, an earlier report has it in %q", r.dir, line.Node, line.Cluster, n.Cluster)
			}
		}
		n.InInventory = n.InInventory || line.InInventory
		sec := line.Seconds
		add := [...]struct {
			s evidence.State
			v float64
		}{{evidence.Within, sec.Within}, {evidence.AboveTolerance, sec.AboveTolerance}, {evidence.Unsynchronised, sec.Unsynchronised}, {evidence.Unreachable, sec.Unreachable}, {evidence.NoData, sec.NoData}}
		var total, within int64
		for _, a := range add {
			n.Steps[a.s] += steps(a.v)
			total += steps(a.v)
		}
		within = steps(sec.Within)
		traceable := int64(0)
		if line.TraceableWithinRatio != nil {
			traceable = int64(math.Round(*line.TraceableWithinRatio * float64(total)))
		}
		n.Traceable += traceable
		utc := line.UTCSeconds
		if r.summary.Schema == "chrony-evidence/summary/v1" {
			// Before v2 no step was checked against UTC.
			utc = UTCSeconds{Unverified: line.InFleetSeconds}
		}
		n.UTCSteps[evidence.UTCVerified] += steps(utc.Verified)
		n.UTCSteps[evidence.UTCInconclusive] += steps(utc.Inconclusive)
		n.UTCSteps[evidence.UTCUnverified] += steps(utc.Unverified)
		n.UTCSteps[evidence.UTCDisagrees] += steps(utc.Disagrees)
		if line.WorstMaxError != nil && (math.IsNaN(n.Worst) || *line.WorstMaxError > n.Worst) {
			k, err := index(line.WorstAt)
			if err != nil {
				return fmt.Errorf("%s: node %s: worst_at %q: %w", r.dir, line.Node, line.WorstAt, err)
			}
			n.Worst, n.WorstStep = *line.WorstMaxError, k
		}
		if line.WorstUTCErrorBound != nil && (math.IsNaN(n.WorstUTC) || *line.WorstUTCErrorBound > n.WorstUTC) {
			k, err := index(line.WorstUTCAt)
			if err != nil {
				return fmt.Errorf("%s: node %s: worst_utc_at %q: %w", r.dir, line.Node, line.WorstUTCAt, err)
			}
			n.WorstUTC, n.WorstUTCStep = *line.WorstUTCErrorBound, k
		}
		for _, ref := range line.References {
			n.References[evidence.Reference{ID: ref.ID, Name: ref.Name}] += ref.Samples
		}
		for _, o := range line.Outages {
			start, end, err := span(o)
			if err != nil {
				return fmt.Errorf("%s: node %s: %w", r.dir, line.Node, err)
			}
			n.Outages = joinRun(n.Outages, evidence.Outage{Start: start, End: end, Cause: stateNamed(o.Cause)},
				func(o *evidence.Outage) (*time.Time, *time.Time, evidence.State) { return &o.Start, &o.End, o.Cause })
		}
		for _, o := range line.UTCOutages {
			start, end, err := span(o)
			if err != nil {
				return fmt.Errorf("%s: node %s: %w", r.dir, line.Node, err)
			}
			n.UTCOutages = joinRun(n.UTCOutages, evidence.UTCOutage{Start: start, End: end, Cause: utcStateNamed(o.Cause)},
				func(o *evidence.UTCOutage) (*time.Time, *time.Time, evidence.UTCState) {
					return &o.Start, &o.End, o.Cause
				})
		}
		if daily && total > 0 {
			d := &n.Days[int(r.from.Sub(l.DayStart())/(24*time.Hour))]
			d.InFleet += int32(total)
			d.Within += int32(within)
			d.Traceable += int32(traceable)
		}
		// Each bucket the input covers shows the input's figures: a plot
		// no finer than the reports it was made from.
		b0, b1 := bucketsOf()
		for b := b0; b <= b1 && b < len(n.Plot); b++ {
			bk := &n.Plot[b]
			if total == 0 {
				continue
			}
			bk.InFleet = true
			if within < total {
				bk.NotOK = true
			}
			if sec.Unsynchronised > 0 {
				bk.Unsync = true
			}
			if line.WorstMaxError != nil && (math.IsNaN(bk.Max) || *line.WorstMaxError > bk.Max) {
				bk.Max = *line.WorstMaxError
			}
			if line.WorstUTCErrorBound != nil && (math.IsNaN(bk.UTCBound) || *line.WorstUTCErrorBound > bk.UTCBound) {
				bk.UTCBound = *line.WorstUTCErrorBound
			}
			for st, v := range map[evidence.UTCState]float64{evidence.UTCVerified: utc.Verified, evidence.UTCInconclusive: utc.Inconclusive,
				evidence.UTCUnverified: utc.Unverified, evidence.UTCDisagrees: utc.Disagrees} {
				if v > 0 {
					bk.UTC[st] = true
				}
			}
		}
	}
	return nil
}

// joinRun appends run r, or extends the last run when r continues it with
// the same cause: a run across an input's boundary is one run. fields gives
// a run's start, end and cause.
func joinRun[R any, C comparable](runs []R, r R, fields func(*R) (start, end *time.Time, cause C)) []R {
	if k := len(runs) - 1; k >= 0 {
		_, lastEnd, lastCause := fields(&runs[k])
		start, end, cause := fields(&r)
		if lastEnd.Equal(*start) && lastCause == cause {
			*lastEnd = *end
			return runs
		}
	}
	return append(runs, r)
}

func span(o Outage) (time.Time, time.Time, error) {
	start, err := time.Parse(time.RFC3339, o.Start)
	if err != nil {
		return start, start, fmt.Errorf("outage start %q: %w", o.Start, err)
	}
	end, err := time.Parse(time.RFC3339, o.End)
	if err != nil {
		return start, end, fmt.Errorf("outage end %q: %w", o.End, err)
	}
	return start, end, nil
}

func stateNamed(name string) evidence.State {
	for _, s := range evidence.States() {
		if s.String() == name {
			return s
		}
	}
	return evidence.NoData
}

func utcStateNamed(name string) evidence.UTCState {
	for _, s := range evidence.UTCStates() {
		if s.String() == name {
			return s
		}
	}
	return evidence.UTCUnverified
}

func addServer(servers map[string]*evidence.Server, ids map[string]map[evidence.ServerIdentity]int64, in Server) {
	sv := servers[in.Address]
	if sv == nil {
		sv = evidence.NewServer(in.Address)
		servers[in.Address] = sv
		ids[in.Address] = map[evidence.ServerIdentity]int64{}
	}
	// A summary gives a count of nodes, not their names: the rollup says
	// the most nodes any one report saw.
	sv.Nodes = max(sv.Nodes, in.Nodes)
	sv.UpSamples += in.UpSamples
	sv.AnsweredSamples += in.AnsweredSamples
	sv.ConsistentSamples += in.ConsistentSamples
	sv.DisagreeingSamples += in.DisagreeingSamples
	if in.WorstErrorBound != nil && (math.IsNaN(sv.WorstBound) || *in.WorstErrorBound > sv.WorstBound) {
		sv.WorstBound = *in.WorstErrorBound
	}
	if in.OffsetMax != nil && (math.IsNaN(sv.AbsOffsetMax) || *in.OffsetMax > sv.AbsOffsetMax) {
		sv.AbsOffsetMax = *in.OffsetMax
	}
	for _, id := range in.Identities {
		ids[in.Address][evidence.ServerIdentity{Stratum: id.Stratum, ReferenceID: id.ReferenceID, ReferenceName: id.ReferenceName}] += id.Samples
	}
}

func addNames[K comparable](m map[K]map[string]bool, k K, names []string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	for _, n := range names {
		m[k][n] = true
	}
}

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Compare reads the headline of the report in dir, verified first, for the
// comparison with the period after it; where names it in messages.
func Compare(dir, where string) (*Comparison, error) {
	r, err := readInput(dir, where)
	if err != nil {
		return nil, err
	}
	s, f := r.summary, r.summary.Fleet
	c := &Comparison{Report: filepath.Base(filepath.Clean(dir)), From: s.From, To: s.To, Nodes: f.Nodes,
		TraceableWithinRatio: f.TraceableWithinRatio, WithinToleranceRatio: f.WithinToleranceRatio, NoDataRatio: f.NoDataRatio,
		Breaches: f.Breaches, Disagreements: f.Disagreements, WorstMaxError: f.WorstMaxError, WorstUTCErrorBound: f.WorstUTCErrorBound}
	if s.Schema == "chrony-evidence/summary/v1" {
		c.TraceableWithinRatio = nil // not measured then
	}
	return c, nil
}

// FindComparable looks on shelf, where reports are kept side by side, for
// the report of the period of the same length that ends at from: the
// report a scheduled run made the period before. It reads manifests only,
// newest name first; "" when there is none. A manifest it cannot read
// (storage that did not answer) is an error, not an absence.
func FindComparable(shelf Shelf, from, to time.Time) (string, error) {
	names, err := shelf.Names()
	if err != nil {
		return "", err
	}
	want := from.Add(-to.Sub(from))
	for i := len(names) - 1; i >= 0; i-- {
		raw, err := shelf.ReadManifest(names[i])
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotAReport) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("looking for the previous period's report: %w", err)
		}
		var m struct{ From, To string }
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		if m.From == rfc3339(want) && m.To == rfc3339(from) {
			return names[i], nil
		}
	}
	return "", nil
}
