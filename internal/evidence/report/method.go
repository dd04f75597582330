package report

import (
	"fmt"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// section is one of the report's numbered sections: its anchor in the
// HTML, its number and its title, the same in both renderers.
type section struct {
	ID    string
	N     int
	Title string
}

// Heading is the section's title as headed: "4. Exceptions".
func (s section) Heading() string { return fmt.Sprintf("%d. %s", s.N, s.Title) }

// Ref is how the text refers to the section: "§4 Exceptions".
func (s section) Ref() string { return fmt.Sprintf("\u00a7%d %s", s.N, s.Title) }

const (
	methodTitle     = "Method"
	exceptionsTitle = "Exceptions"
	attestTitle     = "Attestation"
)

// exceptionsNote heads the exceptions' table.
const exceptionsNote = "Every node that was not traceably within the tolerance for every step it was in the fleet, the lowest share traceably within first: " +
	"the exceptions of the conclusion, both those against UTC and those against chronyd's reference only."

func sections() []section {
	list := []section{
		{ID: "summary", Title: "Fleet summary"},
		{ID: "method", Title: methodTitle},
		{ID: "servers", Title: "Cross-check servers"},
		{ID: "exceptions", Title: exceptionsTitle},
		{ID: "breaches", Title: "When any node breached"},
		{ID: "disagreements", Title: "When a cross-check disagreed"},
		{ID: "by-day", Title: "Nodes by day"},
		{ID: "nodes", Title: "Nodes"},
		{ID: "annex", Title: annexTitle},
		{ID: "firm", Title: firmTitle},
		{ID: "attestation", Title: attestTitle},
	}
	for i := range list {
		list[i].N = i + 1
	}
	return list
}

// Sec is the section with that anchor; it panics on a name no section has,
// which the tests would show at once.
func (v *view) Sec(id string) section {
	for _, s := range v.Sections {
		if s.ID == id {
			return s
		}
	}
	panic("report: no section " + id)
}

// sentence is a sentence of running text that may refer to a section: Text,
// then (when Link names one) the section's reference as a link, then After.
type sentence struct {
	Text  string
	Link  string
	After string
}

// conclusion states plainly, for the report's profile, how many nodes were
// traceably within, and within against chronyd's reference only, for every
// step of the period, where the exceptions are, and whether the data was
// whole: one item of sentences per claim.
func conclusion(s *Summary, v *view) [][]sentence {
	f := s.Fleet
	tol := formatSeconds(s.ToleranceSeconds)
	under := fmt.Sprintf("Under profile %s (tolerance %s)", s.Profile, tol)
	if s.Profile == "" {
		under = fmt.Sprintf("With a tolerance of %s, given directly (no profile)", tol)
	}
	if f.Nodes == 0 {
		return [][]sentence{{{Text: under + ": the fleet had no nodes in the period, so this report shows no clock within or outside the tolerance."}}, {partialSentence(s)}}
	}
	exceptions := func(fully int) sentence {
		if fully == f.Nodes {
			return sentence{Text: "There are no exceptions."}
		}
		return sentence{Text: fmt.Sprintf("The %s %s listed in ", plural(f.Nodes-fully, "exception"), isAre(f.Nodes-fully)), Link: "exceptions", After: "."}
	}
	out := [][]sentence{
		{{Text: fmt.Sprintf("%s: %d of %d %s traceably within %s for every step of the period in which it was in the fleet (within the tolerance and verified against UTC by the cross-check).",
			under, f.NodesFullyTraceable, f.Nodes, nodesWas(f.Nodes, f.NodesFullyTraceable), tol)},
			exceptions(f.NodesFullyTraceable)},
		{{Text: fmt.Sprintf("Against chronyd's reference only (not verified against UTC): %d of %d %s within %s for every step of the period in which it was in the fleet.",
			f.NodesFullyWithin, f.Nodes, nodesWas(f.Nodes, f.NodesFullyWithin), tol)},
			exceptions(f.NodesFullyWithin)},
	}
	if v.LeadNote != "" {
		out = append(out, []sentence{{Text: "No step is verified against UTC: no cross-check data was in the store for the period."}})
	}
	if n := len(s.ExcludedNodes); n > 0 {
		out = append(out, []sentence{{Text: fmt.Sprintf("%s of the inventory %s not covered (Windows, no chronyd); the fleet summary names them.", plural(n, "node"), isAre(n))}})
	}
	return append(out, []sentence{partialSentence(s)})
}

// nodesWas is "nodes was" or "nodes were", by the count that was.
func nodesWas(total, n int) string {
	noun := "nodes"
	if total == 1 {
		noun = "node"
	}
	if n == 1 {
		return noun + " was"
	}
	return noun + " were"
}

func partialSentence(s *Summary) sentence {
	if n := len(s.Partial); n > 0 {
		return sentence{Text: fmt.Sprintf("The data was PARTIAL: the store's answer was not whole (%s, listed on the first page), "+
			"so a step without a valid reading counts as no_data and what the store did not answer is not in this report.", plural(n, "reason"))}
	}
	return sentence{Text: "The data was whole: every answer of the store was complete, and every value read was a reading."}
}

// method is the "Method" section: how the report decides each step and
// counts the fleet, short and exact, as docs/evidence.md states it.
type method struct {
	Steps    string
	States   []stateRow
	Rules    []string
	Formulas [][2]string
	UTCIntro string
	UTC      []stateRow
	UTCRules []string
	Fleet    []string
	Partial  []string
	Limits   []string
}

// stateRow is a state with its colour on the pages and when a step is in
// it. Hatch draws the colour as hatching on white (not in the fleet).
type stateRow struct {
	Name   string
	When   string
	Colour [3]int
	Hatch  bool
}

func newMethod(s *Summary) method {
	tol := formatSeconds(s.ToleranceSeconds)
	step := formatSeconds(s.StepSeconds)
	window := "the UTC window W"
	if s.UTCWindowSeconds > 0 {
		window = "W = " + formatSeconds(s.UTCWindowSeconds)
	}
	m := method{
		Steps: fmt.Sprintf("The period is cut into steps of %s. Step k covers (from + k\u00b7step, from + (k+1)\u00b7step]. "+
			"Each step of each node, for every step the node is in the fleet, is in exactly one state (tolerance %s):", step, tol),
		States: []stateRow{
			{evidence.Within.String(), "a read of chronyd succeeded in the step (chrony_up = 1), and every bound read in it (max_error) is at most the tolerance", stateColours[evidence.Within], false},
			{evidence.AboveTolerance.String(), "a finite bound read in the step is above the tolerance", stateColours[evidence.AboveTolerance], false},
			{evidence.Unsynchronised.String(), "a bound read in the step is infinite: chronyd had no reference", stateColours[evidence.Unsynchronised], false},
			{evidence.Unreachable.String(), "a read in the step failed (chrony_up = 0), and no bound in it was above the tolerance", stateColours[evidence.Unreachable], false},
			{evidence.NoData.String(), "no sample of chrony_up, or no bound, was taken in the step, or a value in it cannot be a reading", stateColours[evidence.NoData], false},
			{"not in the fleet", "the node was not in the fleet (below): the step is not counted for it (charts only)", colourAbsent, true},
		},
		Rules: []string{
			"The worst reading decides the step: unsynchronised, then above_tolerance, then unreachable. Duplicate series or samples merge into the step, the lowest chrony_up and the highest bound deciding.",
			"Only samples taken in the step count: the queries reduce each step on the server, min_over_time(chrony_up[step]) and max_over_time(ntp_time_max_error_seconds[step]), evaluated at the step's end. " +
				"Prometheus's 5-minute lookback never applies, so a gap cannot become evidence.",
			"A node's share within is its steps within over its steps in the fleet. An outage is a maximal run of steps in one state other than within; a breach is an outage above_tolerance or unsynchronised.",
		},
		Formulas: [][2]string{
			{"chronyd's bound (max_error)", "|System time| + root dispersion + root delay / 2, at the time chronyd answered: the bound on the clock's error from chronyd's reference " +
				"(ntp.time.max_error, receiver/chronyreceiver/metadata.yaml)."},
			{"Cross-check bound on UTC", "|offset| + delay/2 + the server's root delay/2 + root dispersion, from the latest exchange with an independent NTP server " +
				"(RFC 5905's offset and delay): a bound on the clock's error from the server's UTC that holds whatever chronyd's reference says (ntp.cross_check.error_bound)."},
			{"Consistency", "[-max_error, +max_error] and [offset - (delay/2 + L), offset + (delay/2 + L)] overlap, L being the server's root delay/2 + root dispersion. " +
				"When they do not, chronyd's claim and the server's measurement cannot both be true: the cross-check disagrees (ntp.cross_check.consistent = 0)."},
		},
		UTCIntro: fmt.Sprintf("A step ending at t takes its UTC state from the node's cross-check samples, all its servers together, in (t - W, t], %s, in this order:", window),
		UTC: []stateRow{
			{evidence.UTCDisagrees.String(), "some sample in the window has ntp_cross_check_consistent = 0", utcColours[evidence.UTCDisagrees], false},
			{evidence.UTCVerified.String(), "otherwise, and the smallest cross-check bound in the window is at most the tolerance", utcColours[evidence.UTCVerified], false},
			{evidence.UTCInconclusive.String(), "otherwise, with at least one bound in the window, all above the tolerance: the path to the servers is too long to prove this tolerance", utcColours[evidence.UTCInconclusive], false},
			{evidence.UTCUnverified.String(), "no cross-check bound in the window (none configured, every server down or unfit, or a value that cannot be a reading)", utcColours[evidence.UTCUnverified], false},
		},
		UTCRules: []string{
			"A step is traceably within when its state is within and its UTC state is utc_verified. A node is traceably within for the period when every step it was in the fleet is.",
			"One server within the tolerance is enough; a disagreement of any server outranks every bound. Only samples taken in the window count.",
		},
		Fleet: []string{
			"With the inventory (the default), kube-state-metrics' kube_node_info decides which nodes existed and when: a node counts from the step of its first inventory sample to the step of its last.",
			"Gaps of up to 10 minutes in the inventory are bridged, so a missed scrape does not take a node out of the fleet; a longer gap means the node left and came back.",
			"Windows nodes (os_image windows*) run no chronyd and no collector: they are excluded, and named in the fleet summary.",
			"A node of the inventory that sent no chrony series counts with every step no_data; a node with chrony series but no inventory entry counts for the whole period.",
			"Without an inventory (--inventory none, or none in the store), every node seen in the period counts for the whole period, and a node whose collector never ran is not seen.",
			"This report: " + s.Inventory + ".",
		},
		Partial: []string{
			"A warning in any answer of the store (a part of it did not answer), or a value that cannot be a reading, fails the run unless --accept-partial is given.",
			"With it, the report is made, says on every page that its data is partial, and lists the reasons; a step without a valid reading is no_data, never within, and what the store did not answer is not in the report.",
		},
		Limits: []string{
			"Between two cross-checks the node relies on chronyd's bound and on its reference not jumping: a check about every minute, read over the window, cannot see a step of the host's clock that comes and goes within the window.",
			"A server's UTC is as good as the server: the firm names the servers it designates, and how each traces to UTC, in " + firmRef + ".",
			"Two servers that disagree with each other both flag the node (utc_disagrees): which one is wrong is to be investigated before concluding the node was.",
			"The report covers the nodes' system clocks; where the firm's applications take their timestamps is the firm's to state in " + firmRef + ".",
			"Times are counted in whole steps. p50 and p99 come from buckets 1% wide (within 0.5%); the worst bound is exact.",
		},
	}
	if n := len(s.Partial); n > 0 {
		m.Partial = append(m.Partial, fmt.Sprintf("This report: PARTIAL DATA, %s, listed on the first page.", plural(n, "reason")))
	} else {
		m.Partial = append(m.Partial, "This report: made from whole answers.")
	}
	return m
}

// firmRef names the firm's section in running text.
var firmRef = func() string {
	for _, s := range sections() {
		if s.ID == "firm" {
			return s.Ref()
		}
	}
	return firmTitle
}()

// attestation is the page a reviewer fills in: it names the report it
// attests and leaves every field blank.
type attestation struct {
	Intro    string
	Report   [][2]string
	Purposes []string
	Fields   []string
	Comments string
}

func newAttestation(s *Summary) attestation {
	profile := s.Profile
	if profile == "" {
		profile = "none (tolerance given directly)"
	}
	cluster := s.Cluster
	if cluster == "" {
		cluster = "all clusters in the store"
	}
	return attestation{
		Intro: "For the firm's reviewer. chrony-evidence fills in none of this page: every field and box below is blank until the reviewer completes it.",
		Report: [][2]string{
			{"Report attested", "run " + s.Run.ID + ", generated " + s.Run.GeneratedAt},
			{"Period (UTC)", s.From + " to " + s.To},
			{"Profile and tolerance", profile + ", " + formatSeconds(s.ToleranceSeconds)},
			{"Cluster", cluster},
			{"Manifest", "the manifest.json kept with this report, which records the SHA-256 of each of its files; its own SHA-256 is the one the run printed and the next report of the chain records"},
		},
		Purposes: []string{
			"Annual review under MiFID II RTS 25 (Commission Delegated Regulation (EU) 2017/574), Art. 4",
			"Annual certification under FINRA CAT (clock synchronisation)",
			"Other (state):",
		},
		Fields:   []string{"Reviewer name", "Role", "Date", "Signature"},
		Comments: "Comments",
	}
}
