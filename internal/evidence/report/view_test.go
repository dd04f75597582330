package report

import (
	"bytes"
	stdhtml "html"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

var testFrom = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// testPeriod is two days of one-minute steps.
var testPeriod = evidence.Period{From: testFrom, Step: time.Minute, Steps: 2 * 24 * 60}

const testTolerance = 1e-3

var phc0 = evidence.Reference{ID: "50484330", Name: "PHC0"}

// fleetResult builds a finished collection by hand: five nodes, one of
// them traceably within for every step, with cross-check samples that
// verify, fall short of, are missing from or contradict chronyd's bound.
// withUTC false leaves every node without cross-check data.
func fleetResult(withUTC bool) *evidence.Result {
	l := evidence.NewLedger(testPeriod, testTolerance)
	all := []evidence.Span{{Start: 0, End: testPeriod.Steps}}
	good := func(k int) evidence.Reading {
		r := evidence.Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 150e-6 + 50e-6*math.Sin(float64(k)/90)}
		if withUTC {
			r.UTC = evidence.UTCReading{HaveConsistent: true, MinConsistent: 1, HaveBound: true, MinBound: 400e-6 + 100e-6*math.Cos(float64(k)/200),
				HaveOffset: true, MaxAbsOffset: 60e-6 + 40e-6*math.Abs(math.Sin(float64(k)/50))}
		}
		return r
	}
	type nodeSpec struct {
		name string
		step func(k int) evidence.Reading
	}
	specs := []nodeSpec{
		{"node-a-ok", good},
		{"node-b-breach", func(k int) evidence.Reading {
			r := good(k)
			if k >= 600 && k < 660 {
				r.MaxErr = 4e-3
			}
			return r
		}},
		{"node-c-inconclusive", func(k int) evidence.Reading {
			r := good(k)
			switch {
			case k >= 1000 && k < 1300:
				r.UTC.MinBound = 2.5e-3 // a bound, above the tolerance
			case k >= 2000 && k < 2200:
				r.UTC = evidence.UTCReading{} // no cross-check sample
			}
			return r
		}},
		{"node-d-disagrees", func(k int) evidence.Reading {
			r := good(k)
			if withUTC && k >= 1500 && k < 1520 {
				r.UTC.MinConsistent = 0
			}
			return r
		}},
		{"node-e-no-check", func(k int) evidence.Reading {
			r := good(k)
			r.UTC = evidence.UTCReading{}
			return r
		}},
	}
	for _, sp := range specs {
		n := l.Add(sp.name, "aks-prod", all, true)
		n.References[phc0] = int64(testPeriod.Steps)
		for k := range testPeriod.Steps {
			l.Account(n, k, sp.step(k))
		}
	}
	l.Node("node-e-no-check").References[evidence.Reference{ID: "C0000207", Name: "192.0.2.7"}] = 10
	l.Finish()
	res := &evidence.Result{Ledger: l, Inventory: "kube_node_info", WindowSemantic: "test", UTCWindow: 3 * time.Minute,
		Platforms: []evidence.Platform{
			{OSImage: "Ubuntu 22.04.5 LTS", KernelVersion: "5.15.0-1079-azure", KubeletVersion: "v1.31.5", ContainerRuntimeVersion: "containerd://1.7.27-1",
				Nodes: []string{"node-a-ok", "node-b-breach", "node-c-inconclusive", "node-d-disagrees"}},
			{OSImage: "Azure Linux 3.0", KernelVersion: "6.6.64.2-9.azl3", KubeletVersion: "v1.31.5", ContainerRuntimeVersion: "containerd://2.0.0",
				Nodes: []string{"node-e-no-check"}},
		},
		Collectors: []evidence.CollectorBuild{{Command: "otelcol-chrony", Version: "0.9.0", Nodes: []string{"node-a-ok", "node-b-breach", "node-c-inconclusive", "node-d-disagrees", "node-e-no-check"}}},
	}
	if withUTC {
		res.Servers = []evidence.Server{
			{Address: "ntp1.example:123", Identities: []evidence.ServerIdentity{{Stratum: "1", ReferenceID: "47505300", ReferenceName: "GPS", Samples: 5000}},
				Nodes: 4, UpSamples: 11520, AnsweredSamples: 11500, ConsistentSamples: 11400, DisagreeingSamples: 20, WorstBound: 2.5e-3},
			{Address: "ntp2.example:123", Identities: []evidence.ServerIdentity{
				{Stratum: "2", ReferenceID: "C0000207", ReferenceName: "192.0.2.7", Samples: 900},
				{Stratum: "3", ReferenceID: "0A000001", ReferenceName: "10.0.0.1", Samples: 100}},
				Nodes: 4, UpSamples: 11520, AnsweredSamples: 10000, ConsistentSamples: 9000, WorstBound: 1.1e-3},
		}
	}
	return res
}

// render builds the summary and the view and renders both pages.
func render(t *testing.T, res *evidence.Result) (*Summary, string, []byte) {
	t.Helper()
	s := Summarise(res, Meta{Profile: "mifid_ii_algo", Cluster: "aks-prod"})
	// evidence.Server's offsets are unexported: the offset columns are set
	// here, as the collection would have made them.
	for i := range s.CrossCheckServers {
		s.CrossCheckServers[i].OffsetP50, s.CrossCheckServers[i].OffsetP99, s.CrossCheckServers[i].OffsetMax = ptr(61e-6), ptr(98e-6), ptr(140e-6)
	}
	v := newView(s, res.Ledger.Period)
	var html, pdf bytes.Buffer
	if err := writeHTML(&html, v); err != nil {
		t.Fatal(err)
	}
	if err := writePDF(&pdf, v, testFrom.Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("REPORT_VIEW_KEEP"); dir != "" {
		// For looking at the pages: REPORT_VIEW_KEEP=/tmp/view go test ...
		name := strings.ReplaceAll(t.Name(), "/", "_")
		os.WriteFile(filepath.Join(dir, name+".html"), html.Bytes(), 0o644)
		os.WriteFile(filepath.Join(dir, name+".pdf"), pdf.Bytes(), 0o644)
	}
	// Read as a browser shows it: html/template escapes ' and + in text.
	return s, stdhtml.UnescapeString(html.String()), pdf.Bytes()
}

func TestSummaryFigures(t *testing.T) {
	s, _, _ := render(t, fleetResult(true))
	f := s.Fleet
	if f.Nodes != 5 || f.NodesFullyTraceable != 1 || f.NodesFullyWithin != 4 || f.Disagreements != 1 {
		t.Fatalf("fleet %+v: the fixture is not what the tests below assume", f)
	}
}

// The page leads with the traceable figure, the figure against chronyd's
// reference beside it and labelled so; the server table, the UTC chart
// layers, the heat map's two figures and the annex are there.
func TestHTML(t *testing.T) {
	_, page, _ := render(t, fleetResult(true))
	for _, want := range []string{
		"1 of 5 nodes traceably within 1 ms for every step",
		"4 of 5 nodes within 1 ms for every step, against chronyd's reference only",
		"Against chronyd's reference only",
		// The server table.
		"<td>ntp1.example:123, stratum 1, refid GPS (47505300)</td>",
		"ntp2.example:123, stratum 2, refid 192.0.2.7 (C0000207) (90.0000% of samples), stratum 3, refid 10.0.0.1 (0A000001) (10.0000% of samples)",
		"<td class=\"num\">99.8264%</td>", "<td class=\"num\">61 us</td>", "<td class=\"num\">2.5 ms</td>", "<td class=\"num\">20 of 11400</td>",
		// Per node, the traceable share first.
		"<p>traceably within 100%; against chronyd's reference only: within tolerance 100%",
		"reference PHC0 (50484330)",
		// The disagreement, and the node's runs not verified.
		"<td>node-d-disagrees</td><td>2026-10-02T01:00:00Z</td><td>2026-10-02T01:20:00Z</td><td>utc_disagrees</td>",
		"<th>Not verified against UTC</th>",
		// The chart's cross-check layers and the UTC band.
		`stroke="rgb(230,97,0)"`, `stroke-linecap="round" d="M`, `fill="rgb(120,0,30)"`, `fill="rgb(255,191,0)"`, ">UTC</text>",
		// The heat map's switch.
		`id="heat-t" checked`, `class="t-r90 w-full"`, "#heat-r:checked ~ svg .w-full",
		// The annex.
		"System design (RTS 25 Art. 4)",
		"<td>PHC0 (50484330)</td><td class=\"num\">5</td><td>node-a-ok, node-b-breach, node-c-inconclusive and 2 more</td>",
		"1 node followed more than one reference in the period and is counted under each.",
		"<td>Ubuntu 22.04.5 LTS</td><td>5.15.0-1079-azure</td><td>v1.31.5</td><td>containerd://1.7.27-1</td><td class=\"num\">4</td>",
		"<td>otelcol-chrony</td><td>0.9.0</td><td class=\"num\">5</td>",
		"The shipped configuration's default for cross_check::interval is 64s.",
		"max_error = |System time| + root dispersion + root delay / 2",
		"error_bound = |offset| + delay/2 + the server's root delay/2 + root dispersion",
		"utc_disagrees if any ntp_cross_check_consistent = 0",
		"<th>Traceably within</th><td>within AND utc_verified.</td>",
		"is in summary.json, with one row per node in nodes.csv",
		"Two servers that disagree with each other both flag the node",
		"To be completed by the firm", "<td>(blank: to be completed by the firm)</td>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	lead, ref := strings.Index(page, "nodes traceably within"), strings.Index(page, "nodes within 1 ms for every step")
	if lead < 0 || ref < lead {
		t.Errorf("the traceable figure (at %d) does not lead the one against chronyd's reference (at %d)", lead, ref)
	}
	if strings.Contains(page, "No cross-check data was in the store") {
		t.Error("with cross-check servers, the page says there were none")
	}
	// What the e2e test looks for in a report without cross-check data
	// holds here too.
	for _, want := range []string{"Fleet summary", "<svg", "node-b-breach", "above_tolerance"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

// Without cross-check data the page says so plainly, and nothing is
// traceable.
func TestHTMLWithoutCrossCheck(t *testing.T) {
	_, page, _ := render(t, fleetResult(false))
	for _, want := range []string{
		"0 of 5 nodes traceably within 1 ms for every step",
		"4 of 5 nodes within 1 ms for every step, against chronyd's reference only",
		"No cross-check data was in the store for the period, so no step is verified against UTC",
		"No cross-check data was in the store for the period: no server is in the chain",
		"Fleet time by UTC state</th><td class=\"num\">verified 0.0000%, inconclusive 0.0000%, unverified 100%",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Contains(page, `id="server-table"`) {
		t.Error("a server table without servers")
	}
}

// The PDF says the same, in text a reader can search.
func TestPDF(t *testing.T) {
	for _, withUTC := range []bool{true, false} {
		_, _, pdf := render(t, fleetResult(withUTC))
		if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Fatalf("not a PDF: %.20q", pdf)
		}
		text := pdfText(t, pdf)
		if text == "" {
			continue
		}
		want := []string{"0 of 5 nodes traceably within 1 ms for every step", "No cross-check data was in the store"}
		if withUTC {
			want = []string{"1 of 5 nodes traceably within 1 ms for every step", "ntp1.example:123, stratum 1, refid GPS (47505300)", "20 of 11400", "node-d-disagrees"}
		}
		want = append(want, "against chronyd's reference only", "System design (RTS 25 Art. 4)", "cross_check::interval is 64s", "max_error = |System time| + root dispersion + root delay / 2",
			"within AND utc_verified", "To be completed by the firm", "(blank: to be completed by the firm)", "UTC inconclusive")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("with cross-check data %v, report.pdf lacks %q", withUTC, w)
			}
		}
	}
}

// pdfText is the PDF's text by poppler's pdftotext, lines joined, or ""
// (the test then checks less) where poppler is not installed.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Log("pdftotext not installed: the PDF's text is not checked")
		return ""
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-raw", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// Every string the PDF prints from the view is in the core fonts'
// encoding: ASCII here.
func TestPDFTextASCII(t *testing.T) {
	s := Summarise(fleetResult(true), Meta{Profile: "mifid_ii_algo"})
	v := newView(s, testPeriod)
	var texts []string
	texts = append(texts, v.PlotLegend, v.LeadNote, v.NoServers, heatCaptions[0], heatCaptions[1], annexTitle, firmTitle, blankField)
	texts = append(texts, v.LeadHead[:]...)
	for _, r := range append(append(v.Lead, v.Headline...), append(v.Annex.Parameters, v.Annex.Formulas...)...) {
		texts = append(texts, r[:]...)
	}
	texts = append(texts, v.Annex.Intro, v.Annex.ReferenceNote, v.Annex.FirmNote)
	texts = append(texts, v.Annex.Chain...)
	texts = append(texts, v.Annex.Limits...)
	texts = append(texts, v.Annex.Firm...)
	texts = append(texts, v.Annex.ServerChain...)
	for _, l := range v.Legend {
		texts = append(texts, l.Label)
	}
	for _, p := range v.Plots {
		texts = append(texts, p.Stats)
	}
	for _, s := range texts {
		for _, r := range s {
			if r > 0x7e || r < 0x20 {
				t.Errorf("%q holds %q, which the PDF's core fonts may not print", s, r)
				break
			}
		}
	}
}

// A chart spans at most plotDecades decades, whatever the smallest offset.
func TestPlotRange(t *testing.T) {
	p := evidence.Period{From: testFrom, Step: time.Minute, Steps: 10}
	l := evidence.NewLedger(p, testTolerance)
	n := l.Add("n", "c", []evidence.Span{{Start: 0, End: 10}}, false)
	for k := range 10 {
		l.Account(n, k, evidence.Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 2e-4,
			UTC: evidence.UTCReading{HaveBound: true, MinBound: 3e-4, HaveOffset: true, MaxAbsOffset: 1e-15 * float64(k)}})
	}
	l.Finish()
	s := Summarise(&evidence.Result{Ledger: l}, Meta{})
	pl := newView(s, p).Plots[0]
	if got := len(pl.Ticks) - 1; got > plotDecades {
		t.Errorf("%d decades, want at most %d", got, plotDecades)
	}
	if len(pl.Offsets) != 10 || pl.Offsets[0][1] != 0 {
		t.Errorf("offsets %v: want every slice's, the smallest on the floor", pl.Offsets)
	}
	if len(pl.UTCLines) != 1 || len(pl.UTCLines[0]) != 10 || len(pl.UTCBand) != 1 || pl.UTCBand[0].Colour != utcColours[evidence.UTCVerified] {
		t.Errorf("UTC line %v, band %v", pl.UTCLines, pl.UTCBand)
	}
}

// A report made from a partial answer says so on every page, the annex's
// and the firm's included.
func TestPDFPartialEveryPage(t *testing.T) {
	res := fleetResult(true)
	res.Partial = []string{"query 3 of 9: the store answered with a warning"}
	_, page, pdf := render(t, res)
	if !strings.Contains(page, "PARTIAL DATA") {
		t.Error("report.html lacks the partial-data notice")
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed")
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	os.WriteFile(path, pdf, 0o644)
	out, err := exec.Command(bin, "-raw", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pages := strings.Split(strings.TrimRight(string(out), "\f\n"), "\f")
	if len(pages) < 5 {
		t.Fatalf("%d pages", len(pages))
	}
	for i, p := range pages {
		if !strings.Contains(p, "PARTIAL DATA") {
			t.Errorf("page %d lacks the partial-data notice", i+1)
		}
	}
}
