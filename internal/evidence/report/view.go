package report

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// view is what report.html and report.pdf both show, laid out once so that
// the two say the same thing.
type view struct {
	Title             string
	Summary           *Summary
	Facts             [][2]string // the report's header, label and value
	Headline          [][2]string // the fleet summary
	Worst             []NodeLine  // the nodes with the lowest share within tolerance
	Breaches          []breach    // when any node was above tolerance or unsynchronised
	MoreBreaches      int
	Days              []string // heat map columns, UTC dates
	Heat              []heatRow
	Plots             []plot
	MaxOutagesPerNode int
	PlotLegend        string
	// PartialNotice is the line every page carries when the report was
	// made from an answer that was not whole; "" otherwise.
	PartialNotice string
}

type breach struct {
	Node, Start, End, Cause string
}

type heatRow struct {
	Node  string
	Cells []heatCell
}

type heatCell struct {
	Ratio float64 // -1 when the node was not in the fleet that day
	Class string  // colour class
	Label string
}

// plot is a node's max_error over the period on a log scale, in unit
// coordinates (x and y in [0,1], y up) that each renderer maps onto its page.
type plot struct {
	Node        string
	Stats       string
	Lines       [][][2]float64 // runs of consecutive buckets with a bound
	Shade       [][2]float64   // x ranges with a step not within tolerance
	Unsync      [][2]float64   // x ranges with an unsynchronised step
	Absent      [][2]float64   // x ranges the node was not in the fleet
	Tolerance   float64        // y of the tolerance line
	Ticks       []tick         // y axis decades
	XTicks      []tick
	Outages     []Outage
	MoreOutages int
}

type tick struct {
	At    float64
	Label string
}

const (
	worstShown          = 10
	breachesShown       = 50
	outagesShownPerNode = 20
)

func newView(s *Summary, period evidence.Period) *view {
	title := "Clock compliance evidence"
	if len(s.Partial) > 0 {
		title += ": PARTIAL DATA"
	}
	v := &view{Title: title, Summary: s, MaxOutagesPerNode: outagesShownPerNode,
		PlotLegend: "Per node, the highest error bound (max_error) in each slice of the period on a log scale (blue), the tolerance (dashed red), slices with a step not within tolerance (pink), unsynchronised (purple), and not in the fleet (grey)."}
	profile := s.Profile
	if profile == "" {
		profile = "(tolerance given directly)"
	}
	cluster := s.Cluster
	if cluster == "" {
		cluster = "all clusters in the store"
	}
	v.Facts = [][2]string{
		{"Period (UTC)", s.From + " to " + s.To},
		{"Profile", profile},
		{"Tolerance", formatSeconds(s.ToleranceSeconds)},
		{"Step", formatSeconds(s.StepSeconds)},
		{"Cluster", cluster},
		{"Fleet from", s.Inventory},
	}
	if n := len(s.Partial); n > 0 {
		v.PartialNotice = fmt.Sprintf("PARTIAL DATA: made with --accept-partial from an answer of the store that was not whole (%d reason(s), listed in the header); steps without a valid reading count as no_data, and what the store did not answer is not in this report.", n)
	}
	f := s.Fleet
	v.Headline = [][2]string{
		{"Nodes", fmt.Sprint(f.Nodes)},
		{"Nodes within tolerance for every step", fmt.Sprintf("%d of %d", f.NodesFullyWithin, f.Nodes)},
		{"Fleet share of steps within tolerance", formatRatio(f.WithinToleranceRatio)},
		{"Fleet share of steps without data", formatRatio(f.NoDataRatio)},
		{"Worst bound", formatWorst(f.WorstMaxError, f.WorstNode, f.WorstAt)},
		{"Breaches (above tolerance or unsynchronised)", fmt.Sprint(f.Breaches)},
		{"Outages of any cause", fmt.Sprint(f.Outages)},
		{"Nodes that sent no data", fmt.Sprint(f.NodesWithoutData)},
	}
	if n := len(s.ExcludedNodes); n > 0 {
		names := make([]string, 0, n)
		for _, e := range s.ExcludedNodes {
			names = append(names, e.Node)
		}
		v.Headline = append(v.Headline, [2]string{"Windows nodes not covered (no chronyd)", fmt.Sprintf("%d: %s", n, strings.Join(names, ", "))})
	}

	worst := append([]NodeLine{}, s.Nodes...)
	sort.SliceStable(worst, func(i, j int) bool { return ratioOf(worst[i]) < ratioOf(worst[j]) })
	for _, n := range worst {
		if len(v.Worst) == worstShown || ratioOf(n) >= 1 {
			break
		}
		v.Worst = append(v.Worst, n)
	}

	for _, n := range s.Nodes {
		for _, o := range n.Outages {
			if o.Cause == evidence.AboveTolerance.String() || o.Cause == evidence.Unsynchronised.String() {
				v.Breaches = append(v.Breaches, breach{Node: n.Node, Start: o.Start, End: o.End, Cause: o.Cause})
			}
		}
	}
	sort.SliceStable(v.Breaches, func(i, j int) bool { return v.Breaches[i].Start < v.Breaches[j].Start })
	if len(v.Breaches) > breachesShown {
		v.MoreBreaches = len(v.Breaches) - breachesShown
		v.Breaches = v.Breaches[:breachesShown]
	}

	dayStart := period.From.UTC().Truncate(24 * time.Hour)
	for _, n := range s.Nodes {
		row := heatRow{Node: n.Node}
		for d, day := range n.node.Days {
			if len(v.Days) <= d {
				v.Days = append(v.Days, dayStart.Add(time.Duration(d)*24*time.Hour).Format("2006-01-02"))
			}
			row.Cells = append(row.Cells, cellFor(day))
		}
		v.Heat = append(v.Heat, row)
		v.Plots = append(v.Plots, newPlot(n, s.ToleranceSeconds, period))
	}
	return v
}

func ratioOf(n NodeLine) float64 {
	if n.WithinToleranceRatio == nil {
		return 2
	}
	return *n.WithinToleranceRatio
}

func cellFor(d evidence.Day) heatCell {
	if d.InFleet == 0 {
		return heatCell{Ratio: -1, Class: "absent", Label: "not in the fleet"}
	}
	r := float64(d.Within) / float64(d.InFleet)
	c := heatCell{Ratio: r, Label: fmt.Sprintf("%.4f%% within", r*100)}
	switch {
	case r >= 1:
		c.Class = "full"
	case r >= 0.999:
		c.Class = "r999"
	case r >= 0.99:
		c.Class = "r99"
	case r >= 0.9:
		c.Class = "r90"
	default:
		c.Class = "low"
	}
	return c
}

// heatColours are the heat map's fill colours, shared by both renderers.
var heatColours = map[string][3]int{
	"full":   {26, 152, 80},
	"r999":   {145, 207, 96},
	"r99":    {254, 224, 139},
	"r90":    {252, 141, 89},
	"low":    {215, 48, 39},
	"absent": {224, 224, 224},
}

func newPlot(n NodeLine, tolerance float64, period evidence.Period) plot {
	p := plot{Node: n.Node}
	refs := make([]string, 0, len(n.References))
	for _, r := range n.References {
		name := r.Name
		if name == "" {
			name = "(none)"
		}
		refs = append(refs, fmt.Sprintf("%s (%s)", name, r.ID))
	}
	if len(refs) == 0 {
		refs = append(refs, "none seen")
	}
	p.Stats = fmt.Sprintf("within tolerance %s, no data %s, worst %s, p50 %s, p99 %s; reference %s",
		formatRatio(n.WithinToleranceRatio), formatRatio(n.NoDataRatio), formatWorst(n.WorstMaxError, "", n.WorstAt),
		formatOptSeconds(n.P50MaxError), formatOptSeconds(n.P99MaxError), strings.Join(refs, ", "))
	buckets := n.node.Plot
	lo, hi := tolerance, tolerance
	for _, b := range buckets {
		if !math.IsNaN(b.Max) && b.Max > 0 {
			lo, hi = math.Min(lo, b.Max), math.Max(hi, b.Max)
		}
	}
	// Whole decades with room on both sides, so the tolerance line never
	// sits on the frame.
	lo = math.Pow(10, math.Ceil(math.Log10(lo))-1)
	hi = math.Pow(10, math.Floor(math.Log10(hi))+1)
	y := func(v float64) float64 {
		v = math.Max(v, lo)
		return (math.Log10(v) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo))
	}
	for d := lo; d <= hi*1.0001; d *= 10 {
		p.Ticks = append(p.Ticks, tick{At: y(d), Label: formatSeconds(d)})
	}
	p.Tolerance = y(tolerance)
	nb := float64(len(buckets))
	var line [][2]float64
	for i, b := range buckets {
		x0, x1 := float64(i)/nb, float64(i+1)/nb
		if math.IsNaN(b.Max) {
			if len(line) > 0 {
				p.Lines = append(p.Lines, line)
				line = nil
			}
		} else {
			line = append(line, [2]float64{(x0 + x1) / 2, y(b.Max)})
		}
		if b.NotOK {
			p.Shade = appendRange(p.Shade, x0, x1)
		}
		if b.Unsync {
			p.Unsync = appendRange(p.Unsync, x0, x1)
		}
		if !b.InFleet {
			p.Absent = appendRange(p.Absent, x0, x1)
		}
	}
	if len(line) > 0 {
		p.Lines = append(p.Lines, line)
	}
	total := period.To().Sub(period.From)
	for i := 0; i <= 4; i++ {
		at := period.From.Add(time.Duration(float64(total) * float64(i) / 4))
		p.XTicks = append(p.XTicks, tick{At: float64(i) / 4, Label: at.UTC().Format("01-02 15:04")})
	}
	p.Outages = n.Outages
	if len(p.Outages) > outagesShownPerNode {
		p.MoreOutages = len(p.Outages) - outagesShownPerNode
		p.Outages = p.Outages[:outagesShownPerNode]
	}
	return p
}

func appendRange(rs [][2]float64, x0, x1 float64) [][2]float64 {
	if n := len(rs); n > 0 && math.Abs(rs[n-1][1]-x0) < 1e-12 {
		rs[n-1][1] = x1
		return rs
	}
	return append(rs, [2]float64{x0, x1})
}

func formatRatio(r *float64) string {
	if r == nil {
		return "n/a"
	}
	if *r == 1 {
		return "100%"
	}
	return fmt.Sprintf("%.4f%%", *r*100)
}

func formatOptSeconds(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return formatSeconds(*v)
}

func formatWorst(v *float64, node, at string) string {
	if v == nil {
		return "no bound read"
	}
	s := formatSeconds(*v)
	if node != "" {
		s += " on " + node
	}
	if at != "" {
		s += " at " + at
	}
	return s
}

// formatSeconds prints a duration in the unit an engineer would: 85.3 us,
// 1.2 ms, 3 s. ASCII only, so the PDF's core fonts print it.
func formatSeconds(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0 s"
	case a < 1e-6:
		return trim(v*1e9) + " ns"
	case a < 1e-3:
		return trim(v*1e6) + " us"
	case a < 1:
		return trim(v*1e3) + " ms"
	}
	return trim(v) + " s"
}

func trim(v float64) string {
	return fmt.Sprintf("%.4g", v)
}
