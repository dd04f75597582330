// Package evidence turns what the collectors stored in a Prometheus-compatible
// store into per-node compliance evidence for a period: every step of every
// node in the fleet is accounted for exactly once, as within tolerance or as
// the reason it was not.
package evidence

import (
	"math"
	"sort"
	"time"
)

// State is what one step of one node counts as.
type State uint8

// The states, from the only good one to the reasons a step is not.
const (
	Within State = iota
	AboveTolerance
	Unsynchronised
	Unreachable
	NoData
	numStates
)

var stateNames = [numStates]string{"within", "above_tolerance", "unsynchronised", "unreachable", "no_data"}

func (s State) String() string { return stateNames[s] }

// States lists every state in report order.
func States() []State { return []State{Within, AboveTolerance, Unsynchronised, Unreachable, NoData} }

// Profiles are the tolerances of the compliance profiles, the same as the
// chrony:tolerance_seconds rules in deploy/prometheus/chrony-rules.yaml (a
// test holds them equal).
var Profiles = map[string]float64{
	"mifid_ii_hft":  100e-6,
	"mifid_ii_algo": 1e-3,
	"finra_cat":     50e-3,
	"voice":         1,
}

// Reading is what a step's samples say, reduced on the server: the lowest
// chrony_up and the highest max_error in the step, each with whether any
// sample was taken at all. Invalid marks a value in the step that no
// collector writes (see AddUp and AddMaxError): such a step is never within.
type Reading struct {
	HaveUp  bool
	MinUp   float64
	HaveErr bool
	MaxErr  float64
	Invalid bool
	// UTC is the step's cross-check window.
	UTC UTCReading
}

// AddUp merges one chrony_up value into the step: the lowest decides. NaN
// is no value. Anything but 0 or 1 is not a value of chrony_up: it marks the
// step invalid and AddUp returns false.
func (r *Reading) AddUp(v float64) bool {
	switch {
	case math.IsNaN(v):
		return true
	case !validUp(v):
		r.Invalid = true
		return false
	case !r.HaveUp || v < r.MinUp:
		r.HaveUp, r.MinUp = true, v
	}
	return true
}

// AddMaxError merges one bound into the step: the highest decides, +Inf
// (unsynchronised) above all. NaN is no value. A bound below zero, -Inf
// included, is not a bound: it marks the step invalid and AddMaxError
// returns false.
func (r *Reading) AddMaxError(v float64) bool {
	switch {
	case math.IsNaN(v):
		return true
	case !validBound(v):
		r.Invalid = true
		return false
	case !r.HaveErr || v > r.MaxErr:
		r.HaveErr, r.MaxErr = true, v
	}
	return true
}

func validUp(v float64) bool    { return v == 0 || v == 1 }
func validBound(v float64) bool { return v >= 0 } // false for NaN and -Inf

// Classify decides a step from its worst readings. A breach seen in the step
// outranks a failed read in it; a step counts as within only when a read
// succeeded in it and gave a bound within tolerance, so neither a gap nor a
// stale value can become evidence. A value that cannot be a reading (NaN,
// chrony_up other than 0 or 1, a negative bound) is not one.
func Classify(r Reading, tolerance float64) State {
	haveUp := r.HaveUp && validUp(r.MinUp)
	haveErr := r.HaveErr && validBound(r.MaxErr)
	switch {
	case haveErr && math.IsInf(r.MaxErr, 1):
		return Unsynchronised
	case haveErr && r.MaxErr > tolerance:
		return AboveTolerance
	case haveUp && r.MinUp < 1:
		return Unreachable
	case !haveUp || !haveErr || r.Invalid:
		return NoData
	}
	return Within
}

// Period is the report's range cut into steps: step k covers
// (From + k·Step, From + (k+1)·Step].
type Period struct {
	From  time.Time
	Step  time.Duration
	Steps int
}

// To is the period's end.
func (p Period) To() time.Time { return p.At(p.Steps) }

// At is the start of step k (and the end of step k-1).
func (p Period) At(k int) time.Time { return p.From.Add(time.Duration(k) * p.Step) }

// Index is the step whose end is t, as a range query evaluated at the steps'
// ends returns it; ok is false for a t that is not one.
func (p Period) Index(tMillis int64) (int, bool) {
	d := tMillis - p.From.UnixMilli()
	s := p.Step.Milliseconds()
	if d <= 0 || d%s != 0 {
		return 0, false
	}
	k := int(d/s) - 1
	return k, k < p.Steps
}

// Span is a run of steps [Start, End).
type Span struct{ Start, End int }

// Outage is a maximal run of steps in one non-within state.
type Outage struct {
	Start, End time.Time
	Cause      State
}

// Histogram buckets are 1% wide from 1 ns up: a percentile read from them is
// within 0.5% of the true value.
const (
	histBase   = 1e-9
	histGrowth = 1.01
	histSize   = 3200 // up to about 2.4e4 s
)

// Node accumulates one node's steps in time order.
type Node struct {
	Name, Cluster string
	// Fleet is when the node was in the fleet, ascending; steps outside it
	// are not accounted.
	Fleet []Span
	// InInventory is true for a node of the inventory; false for a node
	// seen only in chrony series, and for every node when no inventory was
	// read.
	InInventory bool

	Steps     [numStates]int64
	Worst     float64 // the highest finite bound; NaN while none
	WorstStep int
	hist      histogram

	// UTCSteps counts the in-fleet steps by UTC state; Traceable the steps
	// both within tolerance and verified against UTC.
	UTCSteps  [numUTCStates]int64
	Traceable int64
	// WorstUTC is the highest of the steps' UTC bounds (each step's the
	// lowest in its window): the weakest verification in the period. NaN
	// while none.
	WorstUTC     float64
	WorstUTCStep int
	UTCOutages   []UTCOutage

	Days []Day
	Plot []Bucket

	Outages []Outage

	// References maps "id name" to the samples of ntp_reference_info seen.
	References map[Reference]int64

	next    int // the next step to account
	fleetAt int // index into Fleet of the span holding next
	run     run[State]
	utcRun  run[UTCState]
}

// run is the current run of steps in one state.
type run[S comparable] struct {
	state S
	start int
	last  int
	open  bool
}

// extend adds step k in state s, and returns the run it ended, if any.
func (r *run[S]) extend(k int, s S) (ended run[S], ok bool) {
	if r.open && (r.state != s || r.last != k-1) {
		ended, ok = *r, true
		r.open = false
	}
	if !r.open {
		r.state, r.start, r.open = s, k, true
	}
	r.last = k
	return ended, ok
}

// Reference is a time reference a node followed.
type Reference struct{ ID, Name string }

// Day is one UTC day of a node's steps.
type Day struct{ Within, Traceable, InFleet int32 }

// Bucket is a slice of the period for plotting: the highest finite bound,
// and whether any step in it was not within tolerance.
type Bucket struct {
	Max     float64 // NaN when no bound was read
	NotOK   bool
	Unsync  bool
	InFleet bool
	// UTCBound is the highest of the steps' UTC bounds, Offset the largest
	// cross-check |offset|; NaN when none.
	UTCBound float64
	Offset   float64
	// UTC says which UTC states the bucket's in-fleet steps were in.
	UTC [numUTCStates]bool
}

func newNode(name, cluster string, fleet []Span, days, buckets int) *Node {
	n := &Node{Name: name, Cluster: cluster, Fleet: fleet, Worst: math.NaN(), WorstUTC: math.NaN(), hist: newHistogram(),
		Days: make([]Day, days), Plot: make([]Bucket, buckets), References: map[Reference]int64{}}
	for i := range n.Plot {
		n.Plot[i].Max, n.Plot[i].UTCBound, n.Plot[i].Offset = math.NaN(), math.NaN(), math.NaN()
	}
	return n
}

// Ledger holds the fleet while the period is read chunk by chunk.
type Ledger struct {
	Period    Period
	Tolerance float64
	nodes     map[string]*Node
	dayStart  time.Time
	days      int
	buckets   int
	// NoDays is true when the ledger cannot say how a node's steps fell
	// into UTC days (a rollup of reports longer than a day): Node.Days is
	// then empty, not zero.
	NoDays bool
}

// NewLedger starts a ledger for the period.
func NewLedger(p Period, tolerance float64) *Ledger {
	dayStart := p.From.UTC().Truncate(24 * time.Hour)
	days := int(p.To().Sub(dayStart) / (24 * time.Hour))
	if dayStart.Add(time.Duration(days) * 24 * time.Hour).Before(p.To()) {
		days++
	}
	return &Ledger{Period: p, Tolerance: tolerance, nodes: map[string]*Node{}, dayStart: dayStart, days: days, buckets: min(p.Steps, 480)}
}

// SetBuckets sets how many plot buckets the nodes added from now on have
// (480 at most, by default): a rollup plots no finer than its inputs.
func (l *Ledger) SetBuckets(n int) { l.buckets = max(1, min(n, l.Period.Steps, 480)) }

// Buckets is how many plot buckets a node has.
func (l *Ledger) Buckets() int { return l.buckets }

// DayStart is the start of the UTC day of Node.Days[0].
func (l *Ledger) DayStart() time.Time { return l.dayStart }

// Add puts a node in the fleet for the given spans of steps.
func (l *Ledger) Add(name, cluster string, fleet []Span, inInventory bool) *Node {
	n := newNode(name, cluster, fleet, l.days, l.buckets)
	n.InInventory = inInventory
	l.nodes[name] = n
	return n
}

// Node returns the node of that name, or nil.
func (l *Ledger) Node(name string) *Node { return l.nodes[name] }

// Nodes returns the fleet sorted by name.
func (l *Ledger) Nodes() []*Node {
	out := make([]*Node, 0, len(l.nodes))
	for _, n := range l.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Account records step k of node n; steps must come in ascending order and
// any skipped step counts as no_data.
func (l *Ledger) Account(n *Node, k int, r Reading) {
	for n.next < k {
		l.record(n, n.next, Reading{})
	}
	if n.next == k {
		l.record(n, k, r)
	}
}

// Finish accounts every step not yet accounted as no_data and closes runs.
func (l *Ledger) Finish() {
	for _, n := range l.nodes {
		for n.next < l.Period.Steps {
			l.record(n, n.next, Reading{})
		}
		l.closeRuns(n)
	}
}

func (l *Ledger) inFleet(n *Node, k int) bool {
	for n.fleetAt < len(n.Fleet) && n.Fleet[n.fleetAt].End <= k {
		n.fleetAt++
	}
	return n.fleetAt < len(n.Fleet) && n.Fleet[n.fleetAt].Start <= k
}

func (l *Ledger) record(n *Node, k int, r Reading) {
	n.next = k + 1
	if !l.inFleet(n, k) {
		return
	}
	s := Classify(r, l.Tolerance)
	u := ClassifyUTC(r.UTC, l.Tolerance)
	n.Steps[s]++
	n.UTCSteps[u]++
	day := &n.Days[int(l.Period.At(k).Sub(l.dayStart)/(24*time.Hour))]
	day.InFleet++
	b := &n.Plot[k*l.buckets/l.Period.Steps]
	b.InFleet = true
	b.UTC[u] = true
	if s == Within {
		day.Within++
		if u == UTCVerified {
			day.Traceable++
			n.Traceable++
		}
	} else {
		b.NotOK = true
	}
	if s == Unsynchronised {
		b.Unsync = true
	}
	if r.HaveErr && validBound(r.MaxErr) && !math.IsInf(r.MaxErr, 1) {
		if math.IsNaN(n.Worst) || r.MaxErr > n.Worst {
			n.Worst, n.WorstStep = r.MaxErr, k
		}
		b.Max = maxKnown(b.Max, r.MaxErr)
		n.hist.add(r.MaxErr)
	}
	if r.UTC.HaveBound && !r.UTC.Invalid {
		if math.IsNaN(n.WorstUTC) || r.UTC.MinBound > n.WorstUTC {
			n.WorstUTC, n.WorstUTCStep = r.UTC.MinBound, k
		}
		b.UTCBound = maxKnown(b.UTCBound, r.UTC.MinBound)
	}
	if r.UTC.HaveOffset {
		b.Offset = maxKnown(b.Offset, r.UTC.MaxAbsOffset)
	}
	if ended, ok := n.run.extend(k, s); ok {
		l.outage(n, ended)
	}
	if ended, ok := n.utcRun.extend(k, u); ok {
		l.utcOutage(n, ended)
	}
}

// maxKnown is the larger of a and v, a being NaN while unknown.
func maxKnown(a, v float64) float64 {
	if math.IsNaN(a) || v > a {
		return v
	}
	return a
}

func (l *Ledger) closeRuns(n *Node) {
	if n.run.open {
		l.outage(n, n.run)
		n.run.open = false
	}
	if n.utcRun.open {
		l.utcOutage(n, n.utcRun)
		n.utcRun.open = false
	}
}

func (l *Ledger) outage(n *Node, r run[State]) {
	if r.state != Within {
		n.Outages = append(n.Outages, Outage{Start: l.Period.At(r.start), End: l.Period.At(r.last + 1), Cause: r.state})
	}
}

func (l *Ledger) utcOutage(n *Node, r run[UTCState]) {
	if r.state != UTCVerified {
		n.UTCOutages = append(n.UTCOutages, UTCOutage{Start: l.Period.At(r.start), End: l.Period.At(r.last + 1), Cause: r.state})
	}
}

// Percentile is the q-quantile of the node's finite bounds, from the
// histogram (to within 0.5%), or NaN when it read none.
func (n *Node) Percentile(q float64) float64 { return n.hist.percentile(q) }

// histogram counts values in buckets 1% wide from 1 ns up.
type histogram struct {
	counts []uint32
	n      int64
	max    float64 // NaN while empty
}

func newHistogram() histogram { return histogram{counts: make([]uint32, histSize), max: math.NaN()} }

func (h *histogram) add(v float64) {
	i := 0
	if v > histBase {
		i = min(int(math.Log(v/histBase)/math.Log(histGrowth))+1, histSize-1)
	}
	h.counts[i]++
	h.n++
	h.max = maxKnown(h.max, v)
}

// percentile is the q-quantile to within 0.5%, never above the largest
// value added; NaN when empty.
func (h *histogram) percentile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := max(int64(math.Ceil(q*float64(h.n))), 1)
	var seen int64
	for i, c := range h.counts {
		seen += int64(c)
		if seen >= rank {
			if i == 0 {
				return histBase
			}
			lo := histBase * math.Pow(histGrowth, float64(i-1))
			return min(lo*math.Sqrt(histGrowth), h.max)
		}
	}
	return h.max
}

// InFleetSteps is how many steps the node was in the fleet.
func (n *Node) InFleetSteps() int64 {
	var t int64
	for _, c := range n.Steps {
		t += c
	}
	return t
}
