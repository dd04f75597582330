// Package report writes a period's evidence as files an auditor keeps:
// summary.json, nodes.csv, outages.csv, report.html, report.pdf, and
// manifest.json with the SHA-256 of each.
package report

import (
	"math"
	"sort"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// SummarySchema names the version of summary.json's layout; documented in
// docs/evidence.md. A change that removes or redefines a field bumps it.
const SummarySchema = "chrony-evidence/summary/v2"

// Summary is summary.json.
type Summary struct {
	Schema string `json:"schema"`
	// Run says which run of which tool made the report, from what.
	Run RunInfo `json:"run"`
	// SyncLog is the per-step log's file and rows.
	SyncLog          SyncLogInfo `json:"sync_log"`
	From             string      `json:"from"`
	To               string      `json:"to"`
	Profile          string      `json:"profile,omitempty"`
	ToleranceSeconds float64     `json:"tolerance_seconds"`
	StepSeconds      float64     `json:"step_seconds"`
	Cluster          string      `json:"cluster,omitempty"`
	Inventory        string      `json:"inventory"`
	Window           string      `json:"window"`
	Warnings         []string    `json:"warnings"`
	Partial          []string    `json:"partial"`
	// UTCWindowSeconds is the window a step's UTC state is read from.
	UTCWindowSeconds float64 `json:"utc_window_seconds"`
	// RolledUpFrom lists the verified reports a rollup combined; absent
	// for a report read from the store.
	RolledUpFrom []RolledInput `json:"rolled_up_from,omitempty"`
	// PreviousPeriod is the previous period's headline, read from its
	// verified report, for the comparison; null when none was found.
	PreviousPeriod    *Comparison `json:"previous_period"`
	Nodes             []NodeLine  `json:"nodes"`
	ExcludedNodes     []Excluded  `json:"excluded_nodes"`
	CrossCheckServers []Server    `json:"cross_check_servers"`
	System            System      `json:"system"`
	Fleet             Fleet       `json:"fleet"`

	// noDays is true when the ledger cannot place steps in UTC days.
	noDays bool
}

// SyncLogInfo says where the per-step synchronisation log is.
type SyncLogInfo struct {
	File string `json:"file"`
	Rows int64  `json:"rows"`
	Note string `json:"note,omitempty"`
}

// RunInfo identifies the run that made a report.
type RunInfo struct {
	ID          string `json:"id"`
	Tool        string `json:"tool"`
	Version     string `json:"version"`
	GeneratedAt string `json:"generated_at"`
	DataSource  string `json:"data_source"`
}

// UTCSeconds is the time a node (or the fleet) spent in each UTC state.
type UTCSeconds struct {
	Verified     float64 `json:"utc_verified"`
	Inconclusive float64 `json:"utc_inconclusive"`
	Unverified   float64 `json:"utc_unverified"`
	Disagrees    float64 `json:"utc_disagrees"`
}

func (s *UTCSeconds) add(state evidence.UTCState, v float64) {
	switch state {
	case evidence.UTCVerified:
		s.Verified += v
	case evidence.UTCInconclusive:
		s.Inconclusive += v
	case evidence.UTCUnverified:
		s.Unverified += v
	case evidence.UTCDisagrees:
		s.Disagrees += v
	}
}

// Server is one cross-check server of summary.json.
type Server struct {
	Address    string           `json:"address"`
	Identities []ServerIdentity `json:"identities"`
	Nodes      int              `json:"nodes"`
	// AnsweredRatio is the share of ntp_cross_check_up samples that were 1.
	AnsweredRatio      *float64 `json:"answered_ratio"`
	UpSamples          int64    `json:"up_samples"`
	AnsweredSamples    int64    `json:"answered_samples"`
	OffsetP50          *float64 `json:"abs_offset_p50_seconds"`
	OffsetP99          *float64 `json:"abs_offset_p99_seconds"`
	OffsetMax          *float64 `json:"abs_offset_max_seconds"`
	WorstErrorBound    *float64 `json:"worst_error_bound_seconds"`
	DisagreeingSamples int64    `json:"disagreeing_samples"`
	ConsistentSamples  int64    `json:"consistent_samples"`
}

// ServerIdentity is who answered at a server's address.
type ServerIdentity struct {
	Stratum       string `json:"stratum"`
	ReferenceID   string `json:"reference_id"`
	ReferenceName string `json:"reference_name"`
	Samples       int64  `json:"samples"`
}

// System is the system-design annex's data, from the store.
type System struct {
	Platforms  []Platform       `json:"platforms"`
	Collectors []CollectorBuild `json:"collectors"`
}

// Platform is a node image and versions, with the nodes that ran it.
type Platform struct {
	OSImage                 string   `json:"os_image"`
	KernelVersion           string   `json:"kernel_version"`
	KubeletVersion          string   `json:"kubelet_version"`
	ContainerRuntimeVersion string   `json:"container_runtime_version"`
	Nodes                   []string `json:"nodes"`
}

// CollectorBuild is a collector build, with the nodes that ran it.
type CollectorBuild struct {
	Command string   `json:"command"`
	Version string   `json:"version"`
	Nodes   []string `json:"nodes"`
}

// Seconds is the time a node (or the fleet) spent in each state.
type Seconds struct {
	Within         float64 `json:"within"`
	AboveTolerance float64 `json:"above_tolerance"`
	Unsynchronised float64 `json:"unsynchronised"`
	Unreachable    float64 `json:"unreachable"`
	NoData         float64 `json:"no_data"`
}

func (s *Seconds) add(state evidence.State, v float64) {
	switch state {
	case evidence.Within:
		s.Within += v
	case evidence.AboveTolerance:
		s.AboveTolerance += v
	case evidence.Unsynchronised:
		s.Unsynchronised += v
	case evidence.Unreachable:
		s.Unreachable += v
	case evidence.NoData:
		s.NoData += v
	}
}

// NodeLine is one node of summary.json.
type NodeLine struct {
	Node                 string      `json:"node"`
	Cluster              string      `json:"cluster"`
	InInventory          bool        `json:"in_inventory"`
	InFleetSeconds       float64     `json:"in_fleet_seconds"`
	WithinToleranceRatio *float64    `json:"within_tolerance_ratio"`
	NoDataRatio          *float64    `json:"no_data_ratio"`
	Seconds              Seconds     `json:"seconds"`
	WorstMaxError        *float64    `json:"worst_max_error_seconds"`
	WorstAt              string      `json:"worst_at,omitempty"`
	P50MaxError          *float64    `json:"p50_max_error_seconds"`
	P99MaxError          *float64    `json:"p99_max_error_seconds"`
	References           []Reference `json:"references"`
	Outages              []Outage    `json:"outages"`
	// TraceableWithinRatio is the share of steps within tolerance and
	// verified against UTC: the headline.
	TraceableWithinRatio *float64   `json:"traceable_within_ratio"`
	UTCSeconds           UTCSeconds `json:"utc_seconds"`
	WorstUTCErrorBound   *float64   `json:"worst_utc_error_bound_seconds"`
	WorstUTCAt           string     `json:"worst_utc_at,omitempty"`
	UTCOutages           []Outage   `json:"utc_outages"`

	node *evidence.Node
}

// Excluded is an inventory node outside the fleet, and why.
type Excluded struct {
	Node    string `json:"node"`
	OSImage string `json:"os_image"`
	Reason  string `json:"reason"`
}

// Reference is a reference a node followed, with how many samples named it.
type Reference struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Samples int64  `json:"samples"`
}

// Outage is a run of steps in one state other than within.
type Outage struct {
	Start string `json:"start"`
	End   string `json:"end"`
	Cause string `json:"cause"`
}

// Fleet sums the nodes up.
type Fleet struct {
	Nodes                int        `json:"nodes"`
	NodesFullyWithin     int        `json:"nodes_fully_within"`
	NodesWithoutData     int        `json:"nodes_without_data"`
	WithinToleranceRatio *float64   `json:"within_tolerance_ratio"`
	NoDataRatio          *float64   `json:"no_data_ratio"`
	Seconds              Seconds    `json:"seconds"`
	WorstMaxError        *float64   `json:"worst_max_error_seconds"`
	WorstNode            string     `json:"worst_node,omitempty"`
	WorstAt              string     `json:"worst_at,omitempty"`
	Outages              int        `json:"outages"`
	Breaches             int        `json:"breaches"`
	NodesFullyTraceable  int        `json:"nodes_fully_traceable"`
	TraceableWithinRatio *float64   `json:"traceable_within_ratio"`
	UTCSeconds           UTCSeconds `json:"utc_seconds"`
	WorstUTCErrorBound   *float64   `json:"worst_utc_error_bound_seconds"`
	WorstUTCNode         string     `json:"worst_utc_node,omitempty"`
	WorstUTCAt           string     `json:"worst_utc_at,omitempty"`
	UTCOutages           int        `json:"utc_outages"`
	Disagreements        int        `json:"disagreements"`
}

// Meta is what the report is about besides the ledger.
type Meta struct {
	Profile string
	Cluster string
	// RolledUpFrom lists the reports a rollup was made from; nil for a
	// report read from the store.
	RolledUpFrom []RolledInput
	// Previous is the report of the period before, of the same length, for
	// the comparison; nil when there is none.
	Previous *Comparison
}

// Comparison is the headline of the previous period's report.
type Comparison struct {
	Report               string   `json:"report"`
	From                 string   `json:"from"`
	To                   string   `json:"to"`
	Nodes                int      `json:"nodes"`
	TraceableWithinRatio *float64 `json:"traceable_within_ratio"`
	WithinToleranceRatio *float64 `json:"within_tolerance_ratio"`
	NoDataRatio          *float64 `json:"no_data_ratio"`
	Breaches             int      `json:"breaches"`
	Disagreements        int      `json:"disagreements"`
	WorstMaxError        *float64 `json:"worst_max_error_seconds"`
	WorstUTCErrorBound   *float64 `json:"worst_utc_error_bound_seconds"`
}

// RolledInput is one report a rollup was made from.
type RolledInput struct {
	Report         string `json:"report"`
	From           string `json:"from"`
	To             string `json:"to"`
	Schema         string `json:"schema"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Summarise builds summary.json's content from a finished collection.
func Summarise(res *evidence.Result, meta Meta) *Summary {
	l := res.Ledger
	p := l.Period
	step := p.Step.Seconds()
	s := &Summary{
		Schema: SummarySchema, From: rfc3339(p.From), To: rfc3339(p.To()), Profile: meta.Profile,
		ToleranceSeconds: l.Tolerance, StepSeconds: step, Cluster: meta.Cluster, Inventory: res.Inventory,
		Window: res.WindowSemantic, Warnings: append([]string{}, res.Warnings...), Partial: append([]string{}, res.Partial...),
		Nodes: []NodeLine{}, ExcludedNodes: []Excluded{}, UTCWindowSeconds: res.UTCWindow.Seconds(),
		CrossCheckServers: servers(res.Servers), System: system(res), RolledUpFrom: meta.RolledUpFrom,
		PreviousPeriod: meta.Previous, noDays: l.NoDays,
	}
	for _, e := range res.Excluded {
		s.ExcludedNodes = append(s.ExcludedNodes, Excluded{Node: e.Node, OSImage: e.OSImage, Reason: e.Reason})
	}
	var fleetSteps, fleetWithin, fleetNoData, fleetTraceable int64
	worst, worstUTC := math.NaN(), math.NaN()
	for _, n := range l.Nodes() {
		total := n.InFleetSteps()
		line := NodeLine{Node: n.Name, Cluster: n.Cluster, InInventory: n.InInventory, InFleetSeconds: float64(total) * step,
			WorstMaxError: ptr(n.Worst), P50MaxError: ptr(n.Percentile(0.5)), P99MaxError: ptr(n.Percentile(0.99)),
			References: []Reference{}, Outages: []Outage{}, UTCOutages: []Outage{}, WorstUTCErrorBound: ptr(n.WorstUTC), node: n}
		if total > 0 {
			line.WithinToleranceRatio = ptr(float64(n.Steps[evidence.Within]) / float64(total))
			line.NoDataRatio = ptr(float64(n.Steps[evidence.NoData]) / float64(total))
			line.TraceableWithinRatio = ptr(float64(n.Traceable) / float64(total))
		}
		for _, st := range evidence.UTCStates() {
			line.UTCSeconds.add(st, float64(n.UTCSteps[st])*step)
			s.Fleet.UTCSeconds.add(st, float64(n.UTCSteps[st])*step)
		}
		if !math.IsNaN(n.WorstUTC) {
			line.WorstUTCAt = rfc3339(p.At(n.WorstUTCStep))
			if math.IsNaN(worstUTC) || n.WorstUTC > worstUTC {
				worstUTC = n.WorstUTC
				s.Fleet.WorstUTCNode, s.Fleet.WorstUTCAt = n.Name, line.WorstUTCAt
			}
		}
		for _, o := range n.UTCOutages {
			line.UTCOutages = append(line.UTCOutages, Outage{Start: rfc3339(o.Start), End: rfc3339(o.End), Cause: o.Cause.String()})
			if o.Cause == evidence.UTCDisagrees {
				s.Fleet.Disagreements++
			}
		}
		s.Fleet.UTCOutages += len(n.UTCOutages)
		if total > 0 && n.Traceable == total {
			s.Fleet.NodesFullyTraceable++
		}
		fleetTraceable += n.Traceable
		for _, st := range evidence.States() {
			line.Seconds.add(st, float64(n.Steps[st])*step)
			s.Fleet.Seconds.add(st, float64(n.Steps[st])*step)
		}
		if !math.IsNaN(n.Worst) {
			line.WorstAt = rfc3339(p.At(n.WorstStep))
			if math.IsNaN(worst) || n.Worst > worst {
				worst = n.Worst
				s.Fleet.WorstNode, s.Fleet.WorstAt = n.Name, line.WorstAt
			}
		}
		for ref, c := range n.References {
			line.References = append(line.References, Reference{ID: ref.ID, Name: ref.Name, Samples: c})
		}
		sort.Slice(line.References, func(i, j int) bool {
			a, b := line.References[i], line.References[j]
			if a.Samples != b.Samples {
				return a.Samples > b.Samples
			}
			return a.ID+a.Name < b.ID+b.Name
		})
		for _, o := range n.Outages {
			line.Outages = append(line.Outages, Outage{Start: rfc3339(o.Start), End: rfc3339(o.End), Cause: o.Cause.String()})
			if o.Cause == evidence.AboveTolerance || o.Cause == evidence.Unsynchronised {
				s.Fleet.Breaches++
			}
		}
		s.Fleet.Outages += len(n.Outages)
		s.Fleet.Nodes++
		if total > 0 && n.Steps[evidence.Within] == total {
			s.Fleet.NodesFullyWithin++
		}
		if total > 0 && n.Steps[evidence.NoData] == total {
			s.Fleet.NodesWithoutData++
		}
		fleetSteps += total
		fleetWithin += n.Steps[evidence.Within]
		fleetNoData += n.Steps[evidence.NoData]
		s.Nodes = append(s.Nodes, line)
	}
	if fleetSteps > 0 {
		s.Fleet.WithinToleranceRatio = ptr(float64(fleetWithin) / float64(fleetSteps))
		s.Fleet.NoDataRatio = ptr(float64(fleetNoData) / float64(fleetSteps))
		s.Fleet.TraceableWithinRatio = ptr(float64(fleetTraceable) / float64(fleetSteps))
	}
	s.Fleet.WorstMaxError = ptr(worst)
	s.Fleet.WorstUTCErrorBound = ptr(worstUTC)
	return s
}

func servers(in []evidence.Server) []Server {
	out := []Server{}
	for _, sv := range in {
		line := Server{Address: sv.Address, Identities: []ServerIdentity{}, Nodes: sv.Nodes,
			OffsetP50: ptr(sv.OffsetPercentile(0.5)), OffsetP99: ptr(sv.OffsetPercentile(0.99)), OffsetMax: ptr(sv.AbsOffsetMax), UpSamples: sv.UpSamples, AnsweredSamples: sv.AnsweredSamples,
			WorstErrorBound: ptr(sv.WorstBound), DisagreeingSamples: sv.DisagreeingSamples, ConsistentSamples: sv.ConsistentSamples}
		if sv.UpSamples > 0 {
			line.AnsweredRatio = ptr(float64(sv.AnsweredSamples) / float64(sv.UpSamples))
		}
		for _, id := range sv.Identities {
			line.Identities = append(line.Identities, ServerIdentity{Stratum: id.Stratum, ReferenceID: id.ReferenceID, ReferenceName: id.ReferenceName, Samples: id.Samples})
		}
		out = append(out, line)
	}
	return out
}

func system(res *evidence.Result) System {
	sys := System{Platforms: []Platform{}, Collectors: []CollectorBuild{}}
	for _, p := range res.Platforms {
		sys.Platforms = append(sys.Platforms, Platform{OSImage: p.OSImage, KernelVersion: p.KernelVersion, KubeletVersion: p.KubeletVersion,
			ContainerRuntimeVersion: p.ContainerRuntimeVersion, Nodes: append([]string{}, p.Nodes...)})
	}
	for _, c := range res.Collectors {
		sys.Collectors = append(sys.Collectors, CollectorBuild{Command: c.Command, Version: c.Version, Nodes: append([]string{}, c.Nodes...)})
	}
	return sys
}
