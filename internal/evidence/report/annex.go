package report

import (
	"fmt"
	"sort"
	"strings"
)

// annex is the "System design (RTS 25 Art. 4)" section: how the clocks the
// report covers are synchronised and how a step is decided, generated from
// the data, then the fields only the firm can fill in. Counts, not node
// lists: the full lists are in summary.json and nodes.csv.
type annex struct {
	Intro string
	Chain []string
	// ServerChain lists the cross-check servers as links of the chain; when
	// there were none, the one line saying so.
	ServerChain    []string
	References     [][]string // reference, nodes, examples
	ReferenceNote  string
	Platforms      [][]string // os image, kernel, kubelet, runtime, nodes
	PlatformsNote  string
	Collectors     [][]string // command, version, nodes
	CollectorsNote string
	Parameters     [][2]string
	Formulas       [][2]string
	Limits         []string
	FirmNote       string
	Firm           []string
}

const annexTitle = "System design (RTS 25 Art. 4)"

const firmTitle = "To be completed by the firm"

// blankField is what an empty field of the firm's part shows.
const blankField = "(blank: to be completed by the firm)"

var (
	referenceHeader = []string{"chronyd's reference (name and ID)", "Nodes", "For example"}
	platformHeader  = []string{"OS image", "Kernel", "Kubelet", "Container runtime", "Nodes"}
	collectorHeader = []string{"Collector", "Version", "Nodes"}
)

// examplesShown is how many node names a line of the annex gives.
const examplesShown = 3

func newAnnex(s *Summary) annex {
	a := annex{
		Intro: "How the clocks this report covers are synchronised to UTC and how each step was decided, generated from the store's data for the period. " +
			"This section gives counts; the full list per node (its references, bounds, UTC states and runs, and the nodes of each platform and collector build) " +
			"is in summary.json, with one row per node in nodes.csv.",
		Chain: []string{
			"UTC -> cross-check servers: each server states its stratum and reference ID (refid); at stratum 1 the refid names its reference clock, such as GPS, above it the address of its upstream server.",
			"Cross-check server -> node: the collector on each node queries the cross-check servers itself, independently of chronyd, and bounds the node's system clock against each server's time (the cross-check bound below).",
			"chronyd's reference -> node: chronyd on each node disciplines the system clock from its reference and states a bound on the clock's error from that reference (max_error below), which the collector reads and the store keeps.",
			"A step is traceably within when chronyd's bound is within the tolerance and a cross-check in the UTC window bounds the clock against UTC within the tolerance, with no cross-check contradicting chronyd's bound.",
		},
		FirmNote: "chrony-evidence leaves these fields blank: the store does not hold them, and only the firm can state them.",
		Firm: []string{
			"Where the firm's applications apply timestamps (applications, systems, and the nodes or clusters they run on)",
			"The business clocks: which clocks timestamp reportable events, and how they take their time from the nodes covered here",
			"The UTC source(s) the firm designates, and how each traces to UTC",
			"Completed by (name, role) and date",
		},
	}
	if len(s.CrossCheckServers) == 0 {
		a.ServerChain = []string{"No cross-check data was in the store for the period: no server is in the chain, so no step is verified against UTC."}
	}
	for _, sv := range s.CrossCheckServers {
		a.ServerChain = append(a.ServerChain, fmt.Sprintf("%s; checked by %s", serverName(sv), plural(sv.Nodes, "node")))
	}

	type group struct {
		ref   string
		nodes []string
	}
	groups := map[string]*group{}
	var none []string
	multi := 0
	for _, n := range s.Nodes {
		if len(n.References) == 0 {
			none = append(none, n.Node)
			continue
		}
		if len(n.References) > 1 {
			multi++
		}
		for _, r := range n.References {
			key := r.Name
			if key == "" {
				key = "(none)"
			}
			key += " (" + r.ID + ")"
			g := groups[key]
			if g == nil {
				g = &group{ref: key}
				groups[key] = g
			}
			g.nodes = append(g.nodes, n.Node)
		}
	}
	list := make([]*group, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].nodes) != len(list[j].nodes) {
			return len(list[i].nodes) > len(list[j].nodes)
		}
		return list[i].ref < list[j].ref
	})
	for _, g := range list {
		a.References = append(a.References, []string{g.ref, fmt.Sprint(len(g.nodes)), examples(g.nodes)})
	}
	var notes []string
	if multi > 0 {
		notes = append(notes, fmt.Sprintf("%s followed more than one reference in the period and %s counted under each.", plural(multi, "node"), isAre(multi)))
	}
	if len(none) > 0 {
		notes = append(notes, fmt.Sprintf("%s named no reference: %s.", plural(len(none), "node"), examples(none)))
	}
	if len(s.Nodes) == 0 {
		notes = append(notes, "The fleet had no nodes in the period.")
	}
	a.ReferenceNote = strings.Join(notes, " ")

	for _, p := range s.System.Platforms {
		a.Platforms = append(a.Platforms, []string{orUnknown(p.OSImage), orUnknown(p.KernelVersion), orUnknown(p.KubeletVersion), orUnknown(p.ContainerRuntimeVersion), fmt.Sprint(len(p.Nodes))})
	}
	if len(a.Platforms) == 0 {
		a.PlatformsNote = "No node inventory (kube_node_info) was in the store for the period: the platforms are not known to this report."
	}
	for _, c := range s.System.Collectors {
		a.Collectors = append(a.Collectors, []string{orUnknown(c.Command), orUnknown(c.Version), fmt.Sprint(len(c.Nodes))})
	}
	if len(a.Collectors) == 0 {
		a.CollectorsNote = "No collector build information (chrony_collector_info) was in the store for the period."
	}

	profile := s.Profile
	if profile == "" {
		profile = "none (tolerance given directly)"
	}
	servers := "none in the store"
	if n := len(s.CrossCheckServers); n > 0 {
		addrs := make([]string, 0, n)
		for _, sv := range s.CrossCheckServers {
			addrs = append(addrs, sv.Address)
		}
		servers = fmt.Sprintf("%d: %s", n, strings.Join(addrs, ", "))
	}
	window := "not recorded"
	if s.UTCWindowSeconds > 0 {
		window = formatSeconds(s.UTCWindowSeconds)
	}
	a.Parameters = [][2]string{
		{"Profile", profile},
		{"Tolerance", formatSeconds(s.ToleranceSeconds)},
		{"Collection interval (the report's step)", formatSeconds(s.StepSeconds) + ": each step's readings decide its state"},
		{"UTC window W", window},
		{"Cross-check interval", "Not in the store, so not stated for this period. The shipped configuration's default for cross_check::interval is 64s."},
		{"Cross-check servers", servers},
	}

	a.Formulas = [][2]string{
		{"chronyd's bound",
			"max_error = |System time| + root dispersion + root delay / 2, at the time chronyd answered: the bound on the system clock's error from true time that chrony's documentation of `chronyc tracking` gives, " +
				"as the receiver states it for ntp.time.max_error (receiver/chronyreceiver/metadata.yaml)."},
		{"State of a step",
			"within when chronyd answered in the step (chrony_up = 1) and the step's highest max_error <= tolerance; otherwise, in this order, " +
				"unsynchronised (max_error infinite), above_tolerance (max_error > tolerance), unreachable (chrony_up = 0) or no_data."},
		{"Cross-check bound",
			"error_bound = |offset| + delay/2 + the server's root delay/2 + root dispersion, with offset and delay of the latest exchange as RFC 5905 defines them " +
				"(the server's time minus the local time, and the round trip less the server's processing time). It bounds the node's clock against the server's UTC whatever chronyd's reference says " +
				"(ntp.cross_check.error_bound, receiver/chronyreceiver/metadata.yaml)."},
		{"Consistency",
			"consistent = 1 when [-max_error, +max_error] and [offset - (delay/2 + L), offset + (delay/2 + L)] overlap, L being the server's root delay/2 + root dispersion; " +
				"0 when they do not, so that chronyd's reference or the server is wrong (ntp.cross_check.consistent)."},
		{"UTC state of the step ending at t",
			"From the node's cross-check samples of all its servers in (t - W, t]: utc_disagrees if any ntp_cross_check_consistent = 0; " +
				"else utc_verified if the smallest ntp_cross_check_error_bound <= tolerance; else utc_inconclusive if there is any bound; else utc_unverified. " +
				"A value no receiver writes makes the step utc_unverified."},
		{"Traceably within", "within AND utc_verified."},
	}
	a.Limits = []string{
		"Between two cross-checks the node relies on chronyd's bound and on its reference not jumping: a step is verified by a check up to W before it, not by a measurement at the step itself.",
		"The cross-check bound relies on the root delay and root dispersion each server states for itself, and on the server's own traceability to UTC.",
		"Two servers that disagree with each other both flag the node: the node's steps are utc_disagrees whenever one server contradicts chronyd's bound. " +
			"A disagreement says that chronyd's reference or a server is wrong, not which: investigate each one (the server table counts each server's disagreeing samples).",
		"The report covers the nodes' system clocks. Where the firm's applications take their timestamps from them is the firm's to state below.",
	}
	if n := len(s.ExcludedNodes); n > 0 {
		a.Limits = append(a.Limits, fmt.Sprintf("%s of the inventory %s not covered (Windows nodes, no chronyd); they are listed in the fleet summary and summary.json.", plural(n, "node"), isAre(n)))
	}
	return a
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func orUnknown(s string) string {
	if s == "" {
		return "(not stated)"
	}
	return s
}

// examples names the first few of the nodes and counts the rest.
func examples(nodes []string) string {
	if len(nodes) <= examplesShown {
		return strings.Join(nodes, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(nodes[:examplesShown], ", "), len(nodes)-examplesShown)
}
