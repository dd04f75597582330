package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// view is what report.html and report.pdf both show, laid out once so that
// the two say the same thing.
type view struct {
	Title   string
	Summary *Summary
	Facts   [][2]string // the report's header, label and value
	// Sections are the report's numbered sections, in order; both
	// renderers head and link them by these.
	Sections []section
	// Conclusion states plainly what the report shows, with links to the
	// sections that list the exceptions.
	Conclusion [][]sentence
	Method     method
	Attest     attestation
	// Lead is the fleet's figure side by side: traceably within (within
	// tolerance and verified against UTC) first, then within against
	// chronyd's reference only. LeadHead heads its two columns; LeadNote
	// says, when it applies, why nothing is verified.
	LeadHead [2]string
	Lead     [][2]string
	LeadNote string
	Headline [][2]string // the rest of the fleet summary
	// Exceptions are the nodes not traceably within for every step, the
	// lowest share traceably within first.
	Exceptions []NodeLine
	Breaches   []breach // when any node was above tolerance or unsynchronised
	// Disagreements are the runs of steps in which a cross-check
	// contradicted chronyd's bound.
	Disagreements     []breach
	MoreBreaches      int
	MoreDisagreements int
	Servers           []serverRow
	// NoServers is the sentence shown instead of the server table when the
	// store held no cross-check data; "" otherwise.
	NoServers string
	Days      []string // heat map columns, UTC dates
	// Identity ties a page to its run: tool, version, run id, generation
	// time, data source. Every page carries it: the PDF's footer as its two
	// lines IdentityRun (run id, generation time) and IdentityTool (tool,
	// version, data source).
	Identity     string
	IdentityRun  string
	IdentityTool string
	// HeatColumns says how many days a heat map column holds.
	HeatColumns string
	// NoDays says why there is no heat map; "" when there is one.
	NoDays string
	// Compare is the comparison with the previous period: figure, this
	// period, the previous one; CompareHead names the previous report, or
	// says there is none.
	Compare           [][3]string
	CompareHead       string
	Heat              []heatRow
	Plots             []plot
	MaxOutagesPerNode int
	PlotLegend        string
	Legend            []legendItem
	Annex             annex
	// PartialNotice is the line every page carries when the report was
	// made from an answer that was not whole; "" otherwise.
	PartialNotice string
}

type breach struct {
	Node, Start, End, Cause string
}

// serverRow is one line of the cross-check server table, as printed.
type serverRow struct {
	Server, Nodes, Answered, P50, P99, Max, Worst, Disagreeing string
}

type heatRow struct {
	Node  string
	Cells []heatCell
}

// heatCell is a node's day, both as its share of steps within tolerance
// (against chronyd's reference) and as its share traceably within.
type heatCell struct {
	Ratio     float64 // within; -1 when the node was not in the fleet that day
	Traceable float64 // traceably within; -1 likewise
	Class     string  // colour class of Ratio
	TClass    string  // colour class of Traceable
	Label     string
}

// legendItem is one entry of the charts' legend: a line, dashed line, dots,
// background fill or UTC band in a colour, and what it stands for.
type legendItem struct {
	Kind   string // "line", "dash", "dots", "fill" or "band"
	Colour [3]int
	Label  string
}

// plot is a node's bounds over the period on a log scale, in unit
// coordinates (x and y in [0,1], y up) that each renderer maps onto its page.
type plot struct {
	Node  string
	Stats string
	Lines [][][2]float64 // chronyd's max_error: runs of consecutive buckets with a bound
	// UTCLines are the cross-check's bound on UTC, likewise; Offsets the
	// cross-check |offset| points.
	UTCLines [][][2]float64
	Offsets  [][2]float64
	// States are the x ranges of the runs of steps in a state other than
	// within, each in its state's colour, the worst state last (on top).
	States    []bandRange
	Absent    [][2]float64 // x ranges the node was not in the fleet
	UTCBand   []bandRange  // the band under the chart: each slice's worst UTC state
	Tolerance float64      // y of the tolerance line
	// Warn is the y of the warning band's lower edge (warnShare of the
	// tolerance); the band ends at the tolerance line.
	Warn float64
	// Fleet says in words when the node was in the fleet, when that was
	// not the whole period; "" otherwise.
	Fleet   string
	Ticks   []tick // y axis decades
	XTicks  []tick
	Outages []Outage
	// UTCOutages are the runs of steps not verified against UTC.
	UTCOutages     []Outage
	MoreOutages    int
	MoreUTCOutages int
}

// bandRange is an x range of the UTC band in one colour.
type bandRange struct {
	X0, X1 float64
	Colour [3]int
}

type tick struct {
	At    float64
	Label string
}

const (
	breachesShown          = 50
	outagesShownPerNode    = 20
	utcOutagesShownPerNode = 10
	// plotDecades is the most decades a chart spans; values below its
	// floor are drawn on it.
	plotDecades = 7
)

// The charts' colours, shared by both renderers.
var (
	colourMaxError  = [3]int{31, 78, 153}
	colourUTCBound  = [3]int{230, 97, 0}
	colourOffset    = [3]int{40, 40, 40}
	colourTolerance = [3]int{204, 0, 0}
	colourWarn      = [3]int{255, 232, 150}
	// colourAbsent is the hatching of the time a node was not in the
	// fleet, on a white ground.
	colourAbsent = [3]int{150, 150, 150}
	// stateColours shade a chart's background by the state of its steps,
	// one colour each; within is left white.
	stateColours = map[evidence.State][3]int{
		evidence.Within:         {255, 255, 255},
		evidence.AboveTolerance: {247, 168, 168},
		evidence.Unsynchronised: {196, 166, 232},
		evidence.Unreachable:    {222, 196, 158},
		evidence.NoData:         {196, 196, 196},
	}
	// stateDrawOrder is the order the states' shading is drawn in: the
	// worst last, on top, as the worst reading decides a step.
	stateDrawOrder = []evidence.State{evidence.NoData, evidence.Unreachable, evidence.AboveTolerance, evidence.Unsynchronised}
	// utcColours are the UTC band's, by state.
	utcColours = map[evidence.UTCState][3]int{
		evidence.UTCVerified:     {77, 175, 74},
		evidence.UTCInconclusive: {255, 191, 0},
		evidence.UTCUnverified:   {116, 173, 209},
		evidence.UTCDisagrees:    {120, 0, 30},
	}
)

// warnShare is where the charts' warning band starts, as a share of the
// tolerance.
const warnShare = 0.8

// chartLegend is the charts' legend, shared by both renderers.
func chartLegend() []legendItem {
	return []legendItem{
		{"line", colourMaxError, "chronyd's max_error"},
		{"line", colourUTCBound, "cross-check bound on UTC"},
		{"dots", colourOffset, "cross-check |offset|"},
		{"dash", colourTolerance, "tolerance"},
		{"fill", colourWarn, fmt.Sprintf("warning: %.0f%% to 100%% of the tolerance", warnShare*100)},
		{"fill", stateColours[evidence.Within], "within (no shading)"},
		{"fill", stateColours[evidence.AboveTolerance], "above_tolerance"},
		{"fill", stateColours[evidence.Unsynchronised], "unsynchronised"},
		{"fill", stateColours[evidence.Unreachable], "unreachable"},
		{"fill", stateColours[evidence.NoData], "no_data"},
		{"hatch", colourAbsent, "not in the fleet"},
		{"band", utcColours[evidence.UTCVerified], "UTC verified"},
		{"band", utcColours[evidence.UTCInconclusive], "UTC inconclusive"},
		{"band", utcColours[evidence.UTCUnverified], "UTC unverified"},
		{"band", utcColours[evidence.UTCDisagrees], "UTC disagrees"},
	}
}

func newView(s *Summary, period evidence.Period) *view {
	title := "Clock compliance evidence"
	if len(s.Partial) > 0 {
		title += ": PARTIAL DATA"
	}
	v := &view{Title: title, Summary: s, MaxOutagesPerNode: outagesShownPerNode, Sections: sections(),
		PlotLegend: "Per node, on one log scale: chronyd's bound on the clock's error from its reference (max_error, blue line, the highest in each slice of the period); " +
			"the cross-check's bound on the clock's error from UTC (orange line, the highest of the steps' best-server bounds in the slice); " +
			"the cross-check |offset| (black dots, the largest in the slice); the tolerance (dashed red), and below it the warning band, " +
			fmt.Sprintf("%.0f%% to 100%% of the tolerance (pale yellow). ", warnShare*100) +
			"The background is shaded by the state of the node's steps, one colour per state, the worst state of a slice on top: " +
			"within (white), above_tolerance (pink), unsynchronised (purple), unreachable (tan), no_data (grey); hatched: not in the fleet. " +
			"The band under each chart is the slice's UTC state, the worst of its steps: verified (green), inconclusive (amber: a bound, above the tolerance), " +
			"unverified (blue: no cross-check bound), disagrees (dark red: a cross-check contradicted chronyd's bound); white: not in the fleet. Times are UTC.",
		Legend: chartLegend()}
	profile := s.Profile
	if profile == "" {
		profile = "(tolerance given directly)"
	}
	cluster := s.Cluster
	if cluster == "" {
		cluster = "all clusters in the store"
	}
	v.Identity = fmt.Sprintf("%s %s, run %s, generated %s from %s", s.Run.Tool, s.Run.Version, s.Run.ID, s.Run.GeneratedAt, s.Run.DataSource)
	v.IdentityRun = fmt.Sprintf("Run %s, generated %s", s.Run.ID, s.Run.GeneratedAt)
	v.IdentityTool = fmt.Sprintf("%s %s, reading %s", s.Run.Tool, s.Run.Version, s.Run.DataSource)
	// One fact a row, so that a longer version or address never moves
	// the rest of the page.
	v.Facts = [][2]string{
		{"Run", s.Run.ID},
		{"Generated", s.Run.GeneratedAt},
		{"Tool", strings.TrimSpace(s.Run.Tool + " " + s.Run.Version)},
		{"Data source", s.Run.DataSource},
		{"Period (UTC)", s.From + " to " + s.To},
		{"Profile", profile},
		{"Tolerance", formatSeconds(s.ToleranceSeconds)},
		{"Step", formatSeconds(s.StepSeconds)},
		{"UTC window", formatWindow(s.UTCWindowSeconds)},
		{"Cluster", cluster},
		{"Fleet from", s.Inventory},
	}
	if n := len(s.Partial); n > 0 {
		v.PartialNotice = fmt.Sprintf("PARTIAL DATA: made with --accept-partial from an answer of the store that was not whole (%d reason(s), listed in the header); steps without a valid reading count as no_data, and what the store did not answer is not in this report.", n)
	}
	f := s.Fleet
	tol := formatSeconds(s.ToleranceSeconds)
	v.LeadHead = [2]string{"Traceably within: within tolerance and verified against UTC by the cross-check", "Against chronyd's reference only: within tolerance, not verified against UTC"}
	v.Lead = [][2]string{
		{fmt.Sprintf("%d of %d nodes traceably within %s for every step", f.NodesFullyTraceable, f.Nodes, tol),
			fmt.Sprintf("%d of %d nodes within %s for every step, against chronyd's reference only", f.NodesFullyWithin, f.Nodes, tol)},
		{fmt.Sprintf("%s of the fleet's steps traceably within %s", formatRatio(f.TraceableWithinRatio), tol),
			fmt.Sprintf("%s of the fleet's steps within %s, against chronyd's reference only", formatRatio(f.WithinToleranceRatio), tol)},
	}
	if len(s.CrossCheckServers) == 0 {
		u := f.UTCSeconds
		if u.Verified == 0 && u.Inconclusive == 0 && u.Disagrees == 0 {
			v.NoServers = "No cross-check data was in the store for the period, so no step is verified against UTC and no node is traceably within. " +
				"The figures against chronyd's reference only say how far each clock may be from chronyd's reference, not from UTC."
		} else {
			v.NoServers = "No cross-check server is listed for the period, though some steps have a UTC state other than utc_unverified: see summary.json."
		}
		v.LeadNote = v.NoServers
	}
	v.Headline = [][2]string{
		{"Nodes", fmt.Sprint(f.Nodes)},
		{"Fleet time by UTC state", formatUTCShares(f.UTCSeconds, f.Seconds)},
		{"Worst cross-check bound on UTC", formatWorstUTC(f.WorstUTCErrorBound, f.WorstUTCNode, f.WorstUTCAt)},
		{"Runs not verified against UTC (of which the cross-check disagreed)", fmt.Sprintf("%d (%d)", f.UTCOutages, f.Disagreements)},
		{"Fleet share of steps without data", formatRatio(f.NoDataRatio)},
		{"Worst bound (chronyd's max_error)", formatWorst(f.WorstMaxError, f.WorstNode, f.WorstAt)},
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

	for _, sv := range s.CrossCheckServers {
		v.Servers = append(v.Servers, newServerRow(sv))
	}

	worst := append([]NodeLine{}, s.Nodes...)
	sort.SliceStable(worst, func(i, j int) bool {
		a, b := worst[i], worst[j]
		if ta, tb := traceOf(a), traceOf(b); ta != tb {
			return ta < tb
		}
		return ratioOf(a) < ratioOf(b)
	})
	for _, n := range worst {
		if traceOf(n) >= 1 {
			break
		}
		v.Exceptions = append(v.Exceptions, n)
	}
	v.Conclusion = conclusion(s, v)

	for _, n := range s.Nodes {
		for _, o := range n.Outages {
			if o.Cause == evidence.AboveTolerance.String() || o.Cause == evidence.Unsynchronised.String() {
				v.Breaches = append(v.Breaches, breach{Node: n.Node, Start: o.Start, End: o.End, Cause: o.Cause})
			}
		}
		for _, o := range n.UTCOutages {
			if o.Cause == evidence.UTCDisagrees.String() {
				v.Disagreements = append(v.Disagreements, breach{Node: n.Node, Start: o.Start, End: o.End, Cause: o.Cause})
			}
		}
	}
	v.Breaches, v.MoreBreaches = firstByStart(v.Breaches, breachesShown)
	v.Disagreements, v.MoreDisagreements = firstByStart(v.Disagreements, breachesShown)

	v.CompareHead, v.Compare = comparison(s)
	if s.noDays {
		v.NoDays = "No day-by-day map: this report was rolled up from reports longer than a day, which do not say how their steps fell into days. Each input report has its own."
	}
	dayStart := period.From.UTC().Truncate(24 * time.Hour)
	// A column per day up to a quarter; longer periods group days, so that
	// the map stays readable (and a year of a large fleet small).
	group := 1
	if len(s.Nodes) > 0 {
		switch days := len(s.Nodes[0].node.Days); {
		case days > 731:
			group = 30
		case days > 92:
			group = 7
		}
	}
	v.HeatColumns = "Each column is one UTC day."
	if group > 1 {
		v.HeatColumns = fmt.Sprintf("Each column is %d UTC days from the date it names (the period is longer than %d days); the last may be shorter.", group, map[int]int{7: 92, 30: 731}[group])
	}
	for _, n := range s.Nodes {
		row := heatRow{Node: n.Node}
		for d := 0; d < len(n.node.Days) && !s.noDays; d += group {
			col := d / group
			if len(v.Days) <= col {
				v.Days = append(v.Days, dayStart.Add(time.Duration(d)*24*time.Hour).Format("2006-01-02"))
			}
			var sum evidence.Day
			for _, day := range n.node.Days[d:min(d+group, len(n.node.Days))] {
				sum.Within += day.Within
				sum.Traceable += day.Traceable
				sum.InFleet += day.InFleet
			}
			row.Cells = append(row.Cells, cellFor(sum))
		}
		v.Heat = append(v.Heat, row)
		v.Plots = append(v.Plots, newPlot(n, s.ToleranceSeconds, period))
	}
	v.Annex = newAnnex(s)
	v.Method = newMethod(s)
	v.Attest = newAttestation(s)
	return v
}

// firstByStart sorts the runs by their start and keeps the first n,
// returning how many it left out.
func firstByStart(bs []breach, n int) ([]breach, int) {
	sort.SliceStable(bs, func(i, j int) bool { return bs[i].Start < bs[j].Start })
	if len(bs) > n {
		return bs[:n], len(bs) - n
	}
	return bs, 0
}

func ratioOf(n NodeLine) float64 {
	if n.WithinToleranceRatio == nil {
		return 2
	}
	return *n.WithinToleranceRatio
}

func traceOf(n NodeLine) float64 {
	if n.TraceableWithinRatio == nil {
		return 2
	}
	return *n.TraceableWithinRatio
}

// formatUTCShares is the share of the in-fleet time in each UTC state.
func formatUTCShares(u UTCSeconds, s Seconds) string {
	total := s.Within + s.AboveTolerance + s.Unsynchronised + s.Unreachable + s.NoData
	if total <= 0 {
		return "n/a"
	}
	share := func(v float64) string { r := v / total; return formatRatio(&r) }
	return fmt.Sprintf("verified %s, inconclusive %s, unverified %s, disagrees %s",
		share(u.Verified), share(u.Inconclusive), share(u.Unverified), share(u.Disagrees))
}

func formatWindow(sec float64) string {
	if sec <= 0 {
		return "not recorded"
	}
	return formatSeconds(sec) + ": a step's UTC state is read from the cross-check samples in the window ending at the step"
}

// formatIdentity is who answered at a server's address, as "stratum 1,
// refid GPS (47505300)".
func formatIdentity(id ServerIdentity) string {
	ref := id.ReferenceName
	switch {
	case ref == "" && id.ReferenceID == "":
		ref = "none"
	case ref == "":
		ref = id.ReferenceID
	case id.ReferenceID != "":
		ref += " (" + id.ReferenceID + ")"
	}
	stratum := id.Stratum
	if stratum == "" {
		stratum = "?"
	}
	return "stratum " + stratum + ", refid " + ref
}

// serverName is a server's address with who answered there, most named
// first, each with its share of the samples when there were several.
func serverName(sv Server) string {
	if len(sv.Identities) == 0 {
		return sv.Address + ", no valid reply seen (stratum and refid unknown)"
	}
	var total int64
	for _, id := range sv.Identities {
		total += id.Samples
	}
	parts := []string{sv.Address}
	for _, id := range sv.Identities {
		p := formatIdentity(id)
		if len(sv.Identities) > 1 && total > 0 {
			r := float64(id.Samples) / float64(total)
			p += " (" + formatRatio(&r) + " of samples)"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

func newServerRow(sv Server) serverRow {
	dis := fmt.Sprint(sv.DisagreeingSamples)
	if sv.ConsistentSamples > 0 {
		dis = fmt.Sprintf("%d of %d", sv.DisagreeingSamples, sv.ConsistentSamples)
	}
	return serverRow{Server: serverName(sv), Nodes: fmt.Sprint(sv.Nodes), Answered: formatRatio(sv.AnsweredRatio),
		P50: formatOptSeconds(sv.OffsetP50), P99: formatOptSeconds(sv.OffsetP99), Max: formatOptSeconds(sv.OffsetMax),
		Worst: formatOptSeconds(sv.WorstErrorBound), Disagreeing: dis}
}

func cellFor(d evidence.Day) heatCell {
	if d.InFleet == 0 {
		return heatCell{Ratio: -1, Traceable: -1, Class: "absent", TClass: "absent", Label: "not in the fleet"}
	}
	r := float64(d.Within) / float64(d.InFleet)
	t := float64(d.Traceable) / float64(d.InFleet)
	return heatCell{Ratio: r, Traceable: t, Class: heatClass(r), TClass: heatClass(t),
		Label: fmt.Sprintf("%s traceably within, %s within against chronyd's reference only", formatRatio(&t), formatRatio(&r))}
}

func heatClass(r float64) string {
	switch {
	case r >= 1:
		return "full"
	case r >= 0.999:
		return "r999"
	case r >= 0.99:
		return "r99"
	case r >= 0.9:
		return "r90"
	}
	return "low"
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

// heatScale is the heat map's key, the same for both of its figures.
const heatScale = "green 100%, light green 99.9% or more, yellow 99% or more, orange 90% or more, red below; grey: not in the fleet."

// heatCaptions say what each figure of the heat map shows.
var heatCaptions = [2]string{
	"Share of each node's steps traceably within tolerance (within tolerance and verified against UTC by the cross-check) in each column: " + heatScale,
	"Share of each node's steps within tolerance against chronyd's reference only (not verified against UTC) in each column: " + heatScale,
}

func newPlot(n NodeLine, tolerance float64, period evidence.Period) plot {
	p := plot{Node: n.Node, Fleet: fleetWords(n, period)}
	refs := make([]string, 0, len(n.References))
	for _, r := range n.References {
		name := r.Name
		if name == "" {
			name = "(none)"
		}
		refs = append(refs, fmt.Sprintf("%s (%s)", name, r.ID))
	}
	followed := "No reference of chronyd was seen."
	if len(refs) > 0 {
		followed = "chronyd followed reference " + strings.Join(refs, ", ") + "."
	}
	p.Stats = fmt.Sprintf("Traceably within %s. Against chronyd's reference only: within tolerance %s, no data %s, worst %s, p50 %s, p99 %s. Worst cross-check bound on UTC %s. %s",
		formatRatio(n.TraceableWithinRatio), formatRatio(n.WithinToleranceRatio), formatRatio(n.NoDataRatio), formatWorst(n.WorstMaxError, "", n.WorstAt),
		formatOptSeconds(n.P50MaxError), formatOptSeconds(n.P99MaxError), formatWorstUTC(n.WorstUTCErrorBound, "", n.WorstUTCAt), followed)
	if n.node == nil {
		return p
	}
	buckets := n.node.Plot
	lo, hi := tolerance*warnShare, tolerance
	for _, b := range buckets {
		for _, v := range []float64{b.Max, b.UTCBound, b.Offset} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) && v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	// Whole decades with room on both sides, so the tolerance line never
	// sits on the frame, and no more than plotDecades of them.
	lo = math.Pow(10, math.Ceil(math.Log10(lo))-1)
	hi = math.Pow(10, math.Floor(math.Log10(hi))+1)
	lo = math.Max(lo, hi/math.Pow(10, plotDecades))
	y := func(v float64) float64 {
		v = math.Min(math.Max(v, lo), hi)
		return (math.Log10(v) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo))
	}
	for d := lo; d <= hi*1.0001; d *= 10 {
		p.Ticks = append(p.Ticks, tick{At: y(d), Label: formatSeconds(d)})
	}
	p.Tolerance = y(tolerance)
	p.Warn = y(tolerance * warnShare)
	nb := len(buckets)
	var line, utcLine [][2]float64
	for i, b := range buckets {
		x0, x1 := float64(i)/float64(nb), float64(i+1)/float64(nb)
		xm := (x0 + x1) / 2
		line, p.Lines = extendLine(line, p.Lines, xm, b.Max, y)
		utcLine, p.UTCLines = extendLine(utcLine, p.UTCLines, xm, b.UTCBound, y)
		if !math.IsNaN(b.Offset) {
			p.Offsets = append(p.Offsets, [2]float64{xm, y(b.Offset)})
		}
		if !b.InFleet {
			p.Absent = appendRange(p.Absent, x0, x1)
		}
		if st, ok := worstUTC(b); ok {
			p.UTCBand = appendBand(p.UTCBand, x0, x1, utcColours[st])
		}
	}
	// The states' shading comes from the node's runs, each widened to the
	// slices it touches, so that a run of one step still shows; the worst
	// states are drawn last.
	if nb > 0 && period.Steps > 0 && period.Step > 0 {
		bucketOf := func(t time.Time) int {
			k := int(t.Sub(period.From) / period.Step)
			return min(max(k, 0), period.Steps-1) * nb / period.Steps
		}
		for _, st := range stateDrawOrder {
			var rs []bandRange
			for _, o := range n.node.Outages {
				if o.Cause != st || !o.End.After(o.Start) {
					continue
				}
				b0, b1 := bucketOf(o.Start), bucketOf(o.End.Add(-period.Step))
				rs = appendBand(rs, float64(b0)/float64(nb), float64(b1+1)/float64(nb), stateColours[st])
			}
			p.States = append(p.States, rs...)
		}
	}
	if len(line) > 0 {
		p.Lines = append(p.Lines, line)
	}
	if len(utcLine) > 0 {
		p.UTCLines = append(p.UTCLines, utcLine)
	}
	total := period.To().Sub(period.From)
	for i := 0; i <= 4; i++ {
		at := period.From.Add(time.Duration(float64(total) * float64(i) / 4))
		p.XTicks = append(p.XTicks, tick{At: float64(i) / 4, Label: formatTime(at)})
	}
	p.Outages = n.Outages
	if len(p.Outages) > outagesShownPerNode {
		p.MoreOutages = len(p.Outages) - outagesShownPerNode
		p.Outages = p.Outages[:outagesShownPerNode]
	}
	p.UTCOutages = n.UTCOutages
	if len(p.UTCOutages) > utcOutagesShownPerNode {
		p.MoreUTCOutages = len(p.UTCOutages) - utcOutagesShownPerNode
		p.UTCOutages = p.UTCOutages[:utcOutagesShownPerNode]
	}
	return p
}

// formatTime is a time as the pages print it outside tables: the date with
// its year, the time of day to the minute (to the second when it has
// seconds), and UTC.
func formatTime(t time.Time) string {
	t = t.UTC()
	if t.Second() != 0 {
		return t.Format("2006-01-02 15:04:05") + " UTC"
	}
	return t.Format("2006-01-02 15:04") + " UTC"
}

// fleetWords says when a node was in the fleet, in words, when that was not
// the whole period: from its fleet spans (a report read from the store),
// or from the chart's slices (a rollup, no finer than its inputs).
func fleetWords(n NodeLine, period evidence.Period) string {
	if n.node == nil || period.Steps <= 0 {
		return ""
	}
	spans := n.node.Fleet
	approx := ""
	if spans == nil {
		// A rollup: the slices in the fleet, as step spans.
		nb := len(n.node.Plot)
		start := func(b int) int { return (b*period.Steps + nb - 1) / nb }
		for b := 0; b < nb; b++ {
			if !n.node.Plot[b].InFleet {
				continue
			}
			e := b
			for e+1 < nb && n.node.Plot[e+1].InFleet {
				e++
			}
			spans = append(spans, evidence.Span{Start: start(b), End: start(e + 1)})
			b = e
		}
		approx = ", as the reports it was rolled up from show it"
	}
	var clipped []evidence.Span
	for _, sp := range spans {
		sp.Start, sp.End = max(sp.Start, 0), min(sp.End, period.Steps)
		if sp.End > sp.Start {
			clipped = append(clipped, sp)
		}
	}
	switch {
	case len(clipped) == 0:
		return "Not in the fleet at any step of the period" + approx + "."
	case len(clipped) == 1 && clipped[0].Start == 0 && clipped[0].End == period.Steps:
		return ""
	}
	from := func(sp evidence.Span) string {
		if sp.Start == 0 {
			return "the start of the period"
		}
		return formatTime(period.At(sp.Start))
	}
	to := func(sp evidence.Span) string {
		if sp.End == period.Steps {
			return "the end of the period"
		}
		return formatTime(period.At(sp.End))
	}
	if len(clipped) == 1 {
		sp := clipped[0]
		var why string
		switch {
		case sp.Start > 0 && sp.End < period.Steps:
			why = "joined late and left early"
		case sp.Start > 0:
			why = "joined late"
		default:
			why = "left early"
		}
		return fmt.Sprintf("In the fleet from %s to %s (%s)%s.", from(sp), to(sp), why, approx)
	}
	parts := make([]string, 0, len(clipped))
	for _, sp := range clipped {
		parts = append(parts, "from "+from(sp)+" to "+to(sp))
	}
	return fmt.Sprintf("In the fleet in %d spans (left and came back): %s%s.", len(clipped), strings.Join(parts, "; "), approx)
}

// extendLine adds a bucket's value to the current run of a line, or ends
// the run at a bucket without one (NaN, or +Inf: unsynchronised, shaded).
func extendLine(line [][2]float64, lines [][][2]float64, x, v float64, y func(float64) float64) ([][2]float64, [][][2]float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		if len(line) > 0 {
			lines = append(lines, line)
		}
		return nil, lines
	}
	return append(line, [2]float64{x, y(v)}), lines
}

// worstUTC is the last of the UTC states, in report order (from verified
// to disagrees), that a bucket's steps were in.
func worstUTC(b evidence.Bucket) (evidence.UTCState, bool) {
	states := evidence.UTCStates()
	for i := len(states) - 1; i >= 0; i-- {
		if b.UTC[states[i]] {
			return states[i], true
		}
	}
	return 0, false
}

func appendBand(rs []bandRange, x0, x1 float64, c [3]int) []bandRange {
	if n := len(rs); n > 0 && rs[n-1].Colour == c && math.Abs(rs[n-1].X1-x0) < 1e-12 {
		rs[n-1].X1 = x1
		return rs
	}
	return append(rs, bandRange{X0: x0, X1: x1, Colour: c})
}

func appendRange(rs [][2]float64, x0, x1 float64) [][2]float64 {
	if n := len(rs); n > 0 && math.Abs(rs[n-1][1]-x0) < 1e-12 {
		rs[n-1][1] = x1
		return rs
	}
	return append(rs, [2]float64{x0, x1})
}

// formatRatio prints a share as a percentage to four decimals, trailing
// zeros dropped, and never rounds a share that is not whole to 100% or one
// that is not nil to 0%: it takes the decimals needed to tell them apart.
func formatRatio(r *float64) string {
	if r == nil {
		return "n/a"
	}
	v := *r * 100
	switch {
	case *r == 1:
		return "100%"
	case *r == 0:
		return "0%"
	}
	for d := 4; d <= 12; d++ {
		s := strconv.FormatFloat(v, 'f', d, 64)
		if f, _ := strconv.ParseFloat(s, 64); f != 100 && f != 0 {
			if strings.Contains(s, ".") {
				s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
			}
			return s + "%"
		}
	}
	if v > 50 {
		return "just under 100%"
	}
	return "just over 0%"
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

// formatWorstUTC is formatWorst for the cross-check's bound on UTC.
func formatWorstUTC(v *float64, node, at string) string {
	if v == nil {
		return "none (no cross-check bound read)"
	}
	return formatWorst(v, node, at)
}

// formatSeconds prints a duration in the unit an engineer would, to four
// significant digits: 85.3 µs, 1.2 ms, 30 s, 5 min. The pages print µ (the
// micro sign, U+00B5, which the PDF's core fonts have in cp1252);
// summary.json and the CSV files keep the numbers whole.
func formatSeconds(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		if v == 0 {
			return "0 s"
		}
		return fmt.Sprint(v)
	}
	// Round first, so that 999.96 µs reads 1 ms, not 1000 µs.
	r := sig4(v)
	a := math.Abs(r)
	scale, unit := 1e-9, "ns"
	switch {
	case a >= 60:
		// Whole minutes, hours or days, as a window or a step is set.
		scale, unit = 1, "s"
		for _, u := range []struct {
			scale float64
			name  string
		}{{86400, "d"}, {3600, "h"}, {60, "min"}} {
			if math.Mod(a, u.scale) == 0 {
				scale, unit = u.scale, u.name
				break
			}
		}
	case a >= 1:
		scale, unit = 1, "s"
	case a >= 1e-3:
		scale, unit = 1e-3, "ms"
	case a >= 1e-6:
		scale, unit = 1e-6, "\u00b5s"
	}
	return strconv.FormatFloat(sig4(r/scale), 'f', -1, 64) + " " + unit
}

// sig4 is v rounded to four significant digits.
func sig4(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	return r
}

// comparison sets the period's headline beside the previous period's.
func comparison(s *Summary) (string, [][3]string) {
	p := s.PreviousPeriod
	if p == nil {
		return "No report of the previous period of the same length was found beside this one, so there is no comparison.", nil
	}
	f := s.Fleet
	head := fmt.Sprintf("Against the previous period, %s to %s (report %s, verified against its manifest before it was read).", p.From, p.To, p.Report)
	opt := func(v *float64) string { return formatOptSeconds(v) }
	return head, [][3]string{
		{"Figure", "This period", "Previous period"},
		{"Nodes", fmt.Sprint(f.Nodes), fmt.Sprint(p.Nodes)},
		{"Fleet share of steps traceably within", formatRatio(f.TraceableWithinRatio), formatRatio(p.TraceableWithinRatio)},
		{"Fleet share of steps within, against chronyd's reference only", formatRatio(f.WithinToleranceRatio), formatRatio(p.WithinToleranceRatio)},
		{"Fleet share of steps without data", formatRatio(f.NoDataRatio), formatRatio(p.NoDataRatio)},
		{"Breaches (above tolerance or unsynchronised)", fmt.Sprint(f.Breaches), fmt.Sprint(p.Breaches)},
		{"Runs in which a cross-check disagreed", fmt.Sprint(f.Disagreements), fmt.Sprint(p.Disagreements)},
		{"Worst bound (chronyd's max_error)", opt(f.WorstMaxError), opt(p.WorstMaxError)},
		{"Worst cross-check bound on UTC", opt(f.WorstUTCErrorBound), opt(p.WorstUTCErrorBound)},
	}
}
