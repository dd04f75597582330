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
const SummarySchema = "chrony-evidence/summary/v1"

// Summary is summary.json.
type Summary struct {
	Schema           string     `json:"schema"`
	From             string     `json:"from"`
	To               string     `json:"to"`
	Profile          string     `json:"profile,omitempty"`
	ToleranceSeconds float64    `json:"tolerance_seconds"`
	StepSeconds      float64    `json:"step_seconds"`
	Cluster          string     `json:"cluster,omitempty"`
	Inventory        string     `json:"inventory"`
	Window           string     `json:"window"`
	Warnings         []string   `json:"warnings"`
	Partial          []string   `json:"partial"`
	Nodes            []NodeLine `json:"nodes"`
	ExcludedNodes    []Excluded `json:"excluded_nodes"`
	Fleet            Fleet      `json:"fleet"`
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
	Nodes                int      `json:"nodes"`
	NodesFullyWithin     int      `json:"nodes_fully_within"`
	NodesWithoutData     int      `json:"nodes_without_data"`
	WithinToleranceRatio *float64 `json:"within_tolerance_ratio"`
	NoDataRatio          *float64 `json:"no_data_ratio"`
	Seconds              Seconds  `json:"seconds"`
	WorstMaxError        *float64 `json:"worst_max_error_seconds"`
	WorstNode            string   `json:"worst_node,omitempty"`
	WorstAt              string   `json:"worst_at,omitempty"`
	Outages              int      `json:"outages"`
	Breaches             int      `json:"breaches"`
}

// Meta is what the report is about besides the ledger.
type Meta struct {
	Profile string
	Cluster string
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
		Nodes: []NodeLine{}, ExcludedNodes: []Excluded{},
	}
	for _, e := range res.Excluded {
		s.ExcludedNodes = append(s.ExcludedNodes, Excluded{Node: e.Node, OSImage: e.OSImage, Reason: e.Reason})
	}
	var fleetSteps, fleetWithin, fleetNoData int64
	worst := math.NaN()
	for _, n := range l.Nodes() {
		total := n.InFleetSteps()
		line := NodeLine{Node: n.Name, Cluster: n.Cluster, InInventory: n.InInventory, InFleetSeconds: float64(total) * step,
			WorstMaxError: ptr(n.Worst), P50MaxError: ptr(n.Percentile(0.5)), P99MaxError: ptr(n.Percentile(0.99)),
			References: []Reference{}, Outages: []Outage{}, node: n}
		if total > 0 {
			line.WithinToleranceRatio = ptr(float64(n.Steps[evidence.Within]) / float64(total))
			line.NoDataRatio = ptr(float64(n.Steps[evidence.NoData]) / float64(total))
		}
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
	}
	s.Fleet.WorstMaxError = ptr(worst)
	return s
}
