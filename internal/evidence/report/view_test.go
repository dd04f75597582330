package report

import (
	"bytes"
	"fmt"
	stdhtml "html"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/go-pdf/fpdf"

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

// testRun is the run the pages of the tests name.
var testRun = RunInfo{ID: "0b7e3c1a-5d2f-4c8e-9a61-3f0d2b7c9e14", Tool: "chrony-evidence", Version: "v0.9.0 0123456789abcdef0123456789abcdef01234567",
	GeneratedAt: "2026-10-04T00:00:00Z", DataSource: "https://prometheus.example:9090"}

// render builds the summary and the view and renders both pages.
func render(t *testing.T, res *evidence.Result) (*Summary, string, []byte) {
	t.Helper()
	s := Summarise(res, Meta{Profile: "mifid_ii_algo", Cluster: "aks-prod"})
	s.Run = testRun
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
		"ntp2.example:123, stratum 2, refid 192.0.2.7 (C0000207) (90% of samples), stratum 3, refid 10.0.0.1 (0A000001) (10% of samples)",
		"<td class=\"num\">99.8264%</td>", "<td class=\"num\">61 µs</td>", "<td class=\"num\">2.5 ms</td>", "<td class=\"num\">20 of 11400</td>",
		// Per node, the traceable share first.
		"<p>Traceably within 100%. Against chronyd's reference only: within tolerance 100%",
		"chronyd followed reference PHC0 (50484330).",
		// Units with the micro sign, figures to four significant digits.
		"p50 151.1 µs", "worst 4 ms at 2026-10-01T10:00:00Z",
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
		"Fleet time by UTC state</th><td class=\"num\">verified 0%, inconclusive 0%, unverified 100%",
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
// encoding, cp1252: printable ASCII, or the Latin-1 letters and signs
// (µ, §, ·) that cp1252 has at the same code points.
func TestPDFTextEncodable(t *testing.T) {
	res := fleetResult(true)
	res.Partial = []string{"query 3 of 9: the store answered with a warning"}
	s := Summarise(res, Meta{Profile: "mifid_ii_algo"})
	s.Run = testRun
	v := newView(s, testPeriod)
	var texts []string
	texts = append(texts, v.PlotLegend, v.LeadNote, v.NoServers, heatCaptions[0], heatCaptions[1], annexTitle, firmTitle, blankField, exceptionsNote,
		v.PartialNotice, v.IdentityRun, v.IdentityTool, v.HeatColumns, v.CompareHead)
	texts = append(texts, v.LeadHead[:]...)
	for _, r := range append(append(v.Lead, v.Headline...), append(v.Annex.Parameters, v.Annex.Formulas...)...) {
		texts = append(texts, r[:]...)
	}
	for _, r := range append(append(v.Facts, v.Method.Formulas...), v.Attest.Report...) {
		texts = append(texts, r[:]...)
	}
	texts = append(texts, v.Annex.Intro, v.Annex.ReferenceNote, v.Annex.FirmNote)
	texts = append(texts, v.Annex.Chain...)
	texts = append(texts, v.Annex.Limits...)
	texts = append(texts, v.Annex.Firm...)
	texts = append(texts, v.Annex.ServerChain...)
	m := v.Method
	texts = append(texts, m.Steps, m.UTCIntro)
	for _, l := range [][]string{m.Rules, m.UTCRules, m.Fleet, m.Partial, m.Limits, v.Attest.Purposes, v.Attest.Fields} {
		texts = append(texts, l...)
	}
	for _, r := range append(m.States, m.UTC...) {
		texts = append(texts, r.Name, r.When)
	}
	for _, sec := range v.Sections {
		texts = append(texts, sec.Heading(), sec.Ref())
	}
	for _, item := range v.Conclusion {
		for _, c := range item {
			texts = append(texts, c.Text, c.After)
		}
	}
	for _, l := range v.Legend {
		texts = append(texts, l.Label)
	}
	for _, p := range v.Plots {
		texts = append(texts, p.Stats, p.Fleet)
		for _, tk := range append(p.Ticks, p.XTicks...) {
			texts = append(texts, tk.Label)
		}
	}
	for _, s := range texts {
		for _, r := range s {
			if (r < 0x20 || r > 0x7e) && (r < 0xa0 || r > 0xff) {
				t.Errorf("%q holds %q, which the PDF's core fonts (cp1252) do not print", s, r)
				break
			}
		}
	}
	// And the translator prints them: µ is cp1252's 0xB5.
	tr := fpdf.New("P", "mm", "A4", "").UnicodeTranslatorFromDescriptor("")
	if got := tr(formatSeconds(85.3e-6)); got != "85.3 \xb5s" {
		t.Errorf("85.3 µs translates to %q", got)
	}
}

// The pages print durations in the unit an engineer would, with the micro
// sign, to four significant digits; shares to four decimals, never 100%
// or 0% unless they are.
func TestFormatting(t *testing.T) {
	for v, want := range map[float64]string{
		0.0024991589871845806: "2.499 ms", 999.96e-6: "1 ms", 85.3e-6: "85.3 \u00b5s", 100.5e-6: "100.5 \u00b5s", 1e-3: "1 ms",
		0: "0 s", 1e-10: "0.1 ns", 30: "30 s", 90: "90 s", 300: "5 min", 3600: "1 h", 86400: "1 d", 5400: "90 min", 0.1: "100 ms",
	} {
		if got := formatSeconds(v); got != want {
			t.Errorf("formatSeconds(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{
		1: "100%", 0: "0%", 0.99993056: "99.9931%", 0.9: "90%", 0.758333333: "75.8333%", 0.9999999: "99.99999%", 1e-7: "0.00001%", 0.000023: "0.0023%",
	} {
		if got := formatRatio(&v); got != want {
			t.Errorf("formatRatio(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatTime(testFrom.Add(8*time.Hour + 30*time.Second)); got != "2026-10-01 08:00:30 UTC" {
		t.Errorf("formatTime: %q", got)
	}
}

// The conclusion follows the lead: how many nodes were traceably within,
// and within against chronyd's reference only, for every step, where the
// exceptions are (a link), and whether the data was whole.
func TestConclusion(t *testing.T) {
	_, page, pdf := render(t, fleetResult(true))
	for _, want := range []string{
		"Under profile mifid_ii_algo (tolerance 1 ms): 1 of 5 nodes was traceably within 1 ms for every step of the period in which it was in the fleet",
		`The 4 exceptions are listed in <a href="#exceptions">§4 Exceptions</a>.`,
		"Against chronyd's reference only (not verified against UTC): 4 of 5 nodes were within 1 ms for every step of the period",
		`The 1 exception is listed in <a href="#exceptions">§4 Exceptions</a>.`,
		"The data was whole",
		`<h2 id="exceptions">4. Exceptions</h2>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	lead, concl, fleet := strings.Index(page, `id="lead"`), strings.Index(page, `id="conclusion"`), strings.Index(page, `id="fleet"`)
	if !(lead < concl && concl < fleet) {
		t.Errorf("the conclusion (at %d) is not between the lead (at %d) and the fleet summary's table (at %d)", concl, lead, fleet)
	}
	// Every exception is listed, not only the first few.
	if n := strings.Count(page[strings.Index(page, `id="exception-table"`):strings.Index(page, `id="breaches"`)], "<tr>") - 1; n != 4 {
		t.Errorf("%d exceptions listed, want 4", n)
	}
	if text := pdfText(t, pdf); text != "" {
		for _, want := range []string{"1 of 5 nodes was traceably within 1 ms for every step", "The 4 exceptions are listed in \u00a74 Exceptions.", "The data was whole"} {
			if !strings.Contains(text, want) {
				t.Errorf("report.pdf lacks %q", want)
			}
		}
	}

	res := fleetResult(false)
	res.Partial = []string{"query 3 of 9: the store answered with a warning"}
	_, page, _ = render(t, res)
	for _, want := range []string{"0 of 5 nodes were traceably within", "No step is verified against UTC", "The data was PARTIAL: the store's answer was not whole (1 reason"} {
		if !strings.Contains(page, want) {
			t.Errorf("partial, no cross-check: report.html lacks %q", want)
		}
	}
}

// The method says how a step is decided, with the formulas, the UTC
// states, the fleet's rules, partial data and the limits.
func TestMethod(t *testing.T) {
	_, page, pdf := render(t, fleetResult(true))
	want := []string{
		"The worst reading decides the step: unsynchronised, then above_tolerance, then unreachable.",
		"Only samples taken in the step count", "max_over_time(ntp_time_max_error_seconds[step])", "lookback never applies",
		"|System time| + root dispersion + root delay / 2", "|offset| + delay/2 + the server's root delay/2 + root dispersion",
		"A step is traceably within when its state is within and its UTC state is utc_verified.",
		"kube_node_info decides which nodes existed and when", "Gaps of up to 10 minutes in the inventory are bridged", "Windows nodes (os_image windows*)",
		"fails the run unless --accept-partial is given", "This report: made from whole answers.",
		"A server's UTC is as good as the server",
	}
	for _, w := range append(want, `<h2 id="method">2. Method</h2>`, `<td><code>no_data</code></td>`, `<td><code>utc_verified</code></td>`) {
		if !strings.Contains(page, w) {
			t.Errorf("report.html lacks %q", w)
		}
	}
	if text := pdfText(t, pdf); text != "" {
		for _, w := range append(want, "2. Method") {
			if !strings.Contains(text, w) {
				t.Errorf("report.pdf lacks %q", w)
			}
		}
	}
}

// The attestation names the report it attests and leaves every field
// blank: in the HTML its own section, after a page break in print; in the
// PDF its own page, the last.
func TestAttestation(t *testing.T) {
	_, page, pdf := render(t, fleetResult(true))
	i := strings.Index(page, `<section class="attest" id="attestation">`)
	if i < 0 {
		t.Fatal("report.html has no attestation section")
	}
	att := page[i:]
	for _, w := range []string{"11. Attestation", "run " + testRun.ID, "the manifest.json kept with this report",
		"Annual review under MiFID II RTS 25", "Art. 4", "Annual certification under FINRA CAT",
		"<th>Reviewer name</th><td></td>", "<th>Role</th><td></td>", "<th>Date</th><td></td>", "<th>Signature</th><td></td>", `<th>Comments</th><td class="comments"></td>`} {
		if !strings.Contains(att, w) {
			t.Errorf("the attestation lacks %q", w)
		}
	}
	if n := strings.Count(att, `<span class="box"`); n != 3 {
		t.Errorf("%d purpose boxes, want 3", n)
	}
	if strings.Contains(att, "checked") || strings.Contains(att, "<input") {
		t.Error("a purpose is ticked, or can be")
	}
	if !strings.Contains(page, ".attest { break-before: page;") {
		t.Error("no page break before the attestation in print")
	}
	pages := pdfPages(t, pdf)
	if pages == nil {
		return
	}
	last := pages[len(pages)-1]
	if !strings.HasPrefix(strings.TrimSpace(last), "11. Attestation") || !strings.Contains(last, "Reviewer name") || !strings.Contains(last, "run "+testRun.ID) {
		t.Errorf("the last page is not the attestation alone:\n%s", last)
	}
	if strings.Contains(pages[len(pages)-2], "Reviewer name") {
		t.Error("the attestation starts before its own page")
	}
}

// Each state has its own colour, on the chart and in the legend; the
// warning band sits below the tolerance; a node that joined late or left
// says when it was in the fleet.
func TestPlotStatesAndFleet(t *testing.T) {
	p := evidence.Period{From: testFrom, Step: time.Minute, Steps: 960}
	l := evidence.NewLedger(p, testTolerance)
	ok := evidence.Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 2e-4}
	late := l.Add("late", "c", []evidence.Span{{Start: 480, End: 960}}, true)
	left := l.Add("left", "c", []evidence.Span{{Start: 0, End: 600}}, true)
	back := l.Add("back", "c", []evidence.Span{{Start: 0, End: 100}, {Start: 200, End: 960}}, true)
	whole := l.Add("whole", "c", []evidence.Span{{Start: 0, End: 960}}, true)
	for k := range 960 {
		r := ok
		switch {
		case k >= 100 && k < 110:
			r.MaxErr = 3e-3
		case k >= 300 && k < 305:
			r = evidence.Reading{HaveUp: true, MinUp: 0}
		case k >= 500 && k < 520:
			r = evidence.Reading{}
		case k >= 700 && k < 701:
			r.MaxErr = math.Inf(1)
		}
		for _, n := range []*evidence.Node{late, left, back, whole} {
			l.Account(n, k, r)
		}
	}
	l.Finish()
	s := Summarise(&evidence.Result{Ledger: l}, Meta{})
	v := newView(s, p)
	plots := map[string]plot{}
	for _, pl := range v.Plots {
		plots[pl.Node] = pl
	}
	for node, want := range map[string]string{
		"late":  "In the fleet from 2026-10-01 08:00 UTC to the end of the period (joined late).",
		"left":  "In the fleet from the start of the period to 2026-10-01 10:00 UTC (left early).",
		"back":  "In the fleet in 2 spans (left and came back): from the start of the period to 2026-10-01 01:40 UTC; from 2026-10-01 03:20 UTC to the end of the period.",
		"whole": "",
	} {
		if got := plots[node].Fleet; got != want {
			t.Errorf("%s: %q, want %q", node, got, want)
		}
	}
	w := plots["whole"]
	colours := map[[3]int]bool{}
	for _, r := range w.States {
		colours[r.Colour] = true
		if r.X1 <= r.X0 {
			t.Errorf("an empty shaded range %v", r)
		}
	}
	for _, st := range []evidence.State{evidence.AboveTolerance, evidence.Unreachable, evidence.NoData, evidence.Unsynchronised} {
		if !colours[stateColours[st]] {
			t.Errorf("no %s shading on the chart", st)
		}
	}
	if len(w.States) != 4 {
		t.Errorf("%d shaded ranges, want one per run: %v", len(w.States), w.States)
	}
	// One colour per state, none a UTC band's or the warning band's.
	seen := map[[3]int]string{}
	for _, c := range []struct {
		name   string
		colour [3]int
	}{{"within", stateColours[evidence.Within]}, {"above_tolerance", stateColours[evidence.AboveTolerance]}, {"unsynchronised", stateColours[evidence.Unsynchronised]},
		{"unreachable", stateColours[evidence.Unreachable]}, {"no_data", stateColours[evidence.NoData]}, {"not in the fleet", colourAbsent}, {"warning", colourWarn},
		{"utc_verified", utcColours[evidence.UTCVerified]}, {"utc_inconclusive", utcColours[evidence.UTCInconclusive]},
		{"utc_unverified", utcColours[evidence.UTCUnverified]}, {"utc_disagrees", utcColours[evidence.UTCDisagrees]}} {
		if other, dup := seen[c.colour]; dup {
			t.Errorf("%s and %s share a colour", c.name, other)
		}
		seen[c.colour] = c.name
	}
	if !(w.Warn < w.Tolerance && w.Warn > 0) {
		t.Errorf("warning band from %v to the tolerance at %v", w.Warn, w.Tolerance)
	}
	if len(plots["late"].Absent) != 1 || plots["late"].Absent[0] != [2]float64{0, 0.5} {
		t.Errorf("late: not in the fleet %v", plots["late"].Absent)
	}
	legend := map[string]bool{}
	for _, it := range v.Legend {
		legend[it.Label] = true
	}
	for _, want := range []string{"within (no shading)", "above_tolerance", "unsynchronised", "unreachable", "no_data", "not in the fleet", "warning: 80% to 100% of the tolerance"} {
		if !legend[want] {
			t.Errorf("the legend lacks %q", want)
		}
	}
	if x := w.XTicks; len(x) != 5 || x[0].Label != "2026-10-01 00:00 UTC" || x[4].Label != "2026-10-01 16:00 UTC" {
		t.Errorf("time axis %v: want dates with their year and UTC", x)
	}
}

// A rollup's nodes have no fleet spans: when they were in the fleet comes
// from the chart's slices, no finer than the reports rolled up.
func TestFleetWordsOfRollup(t *testing.T) {
	p := evidence.Period{From: testFrom, Step: 30 * time.Second, Steps: 4 * 2880}
	l := evidence.NewLedger(p, testTolerance)
	l.SetBuckets(4)
	n := l.Add("n", "c", nil, true)
	n.Plot[1].InFleet, n.Plot[2].InFleet = true, true
	line := NodeLine{Node: "n", node: n}
	if got, want := fleetWords(line, p), "In the fleet from 2026-10-02 00:00 UTC to 2026-10-04 00:00 UTC (joined late and left early), as the reports it was rolled up from show it."; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// A heat map that fits on a page is not split: started low on a page, it
// moves to the next, whole, with its caption. One longer than a page goes
// on over pages, every row once, none split.
func TestPDFHeatMapKeptWhole(t *testing.T) {
	for _, nodes := range []int{30, 45, 70} {
		l := evidence.NewLedger(testPeriod, testTolerance)
		all := []evidence.Span{{Start: 0, End: testPeriod.Steps}}
		for i := range nodes {
			n := l.Add(fmt.Sprintf("node-%03d", i), "c", all, true)
			for k := range testPeriod.Steps {
				l.Account(n, k, evidence.Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 2e-4})
			}
		}
		l.Finish()
		s := Summarise(&evidence.Result{Ledger: l}, Meta{})
		v := newView(s, testPeriod)
		d := newPDFDoc(v, testFrom)
		d.AddPage()
		d.SetY(150) // the section starts low on its page
		d.nodesByDay(v)
		var buf bytes.Buffer
		if err := d.Output(&buf); err != nil {
			t.Fatal(err)
		}
		if dir := os.Getenv("REPORT_VIEW_KEEP"); dir != "" {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("heat-%d.pdf", nodes)), buf.Bytes(), 0o644)
		}
		pages := pdfPages(t, buf.Bytes())
		if pages == nil {
			return
		}
		fits := heatHeight(v)+10 < pdfBottom-15
		for c, caption := range []string{"Share of each node's steps traceably within", "Share of each node's steps within tolerance against"} {
			at := -1
			for i, pg := range pages {
				if strings.Contains(strings.Join(strings.Fields(pg), " "), caption) {
					at = i
				}
			}
			if at < 0 {
				t.Fatalf("%d nodes: no page has %q", nodes, caption)
			}
			if !fits {
				continue
			}
			if c == 0 && at == 0 {
				t.Errorf("%d nodes: the map starts low on the first page", nodes)
			}
			for i := range nodes {
				if name := fmt.Sprintf("node-%03d", i); strings.Count(pages[at], name) != 1 {
					t.Errorf("%d nodes: %s is not once on the page of %q", nodes, name, caption)
				}
			}
		}
		if !fits {
			// Every row twice (two maps), on its pages, never split.
			all := strings.Join(pages, "\n")
			for i := range nodes {
				if name := fmt.Sprintf("node-%03d", i); strings.Count(all, name) != 2 {
					t.Errorf("%d nodes: %s is on the pages %d times, want 2", nodes, name, strings.Count(all, name))
				}
			}
		}
	}
}

// pdfPages is the PDF's text by poppler's pdftotext, page by page, or nil
// where poppler is not installed.
func pdfPages(t *testing.T, pdf []byte) []string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Log("pdftotext not installed: the PDF's pages are not checked")
		return nil
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-layout", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return strings.Split(strings.TrimRight(string(out), "\f\n"), "\f")
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

// What differs from run to run (the version, the data source's address)
// never moves the rest of a page: with placeholders for them, the PDF's
// text is the same line for line, so that a golden of it holds anywhere.
func TestPDFLayoutIndependentOfRun(t *testing.T) {
	var texts []string
	for _, run := range []RunInfo{
		{ID: testRun.ID, Tool: "chrony-evidence", Version: "(devel)", GeneratedAt: testRun.GeneratedAt, DataSource: "http://127.0.0.1:9"},
		{ID: testRun.ID, Tool: "chrony-evidence", Version: "v0.0.0-20261204201134-8a75f69e2643 8a75f69e26439cd27bc5a80625cc1072f4c6c28c (modified)", GeneratedAt: testRun.GeneratedAt,
			DataSource: "https://defaultazuremonitorworkspace-weu-abcd.westeurope.prometheus.monitor.azure.com"},
	} {
		s := Summarise(fleetResult(true), Meta{Profile: "mifid_ii_algo", Cluster: "aks-prod"})
		s.Run = run
		var pdf bytes.Buffer
		if err := writePDF(&pdf, newView(s, testPeriod), testFrom); err != nil {
			t.Fatal(err)
		}
		pages := pdfPages(t, pdf.Bytes())
		if pages == nil {
			return
		}
		r := strings.NewReplacer(run.DataSource, "<DATA-SOURCE>", "chrony-evidence "+run.Version, "chrony-evidence <VERSION>")
		var b strings.Builder
		for _, pg := range pages {
			for _, line := range strings.Split(r.Replace(pg), "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					b.WriteString(strings.Join(f, " ") + "\n")
				}
			}
			b.WriteString("\f")
		}
		texts = append(texts, b.String())
	}
	if len(texts) == 2 && texts[0] != texts[1] {
		a, b := strings.Split(texts[0], "\n"), strings.Split(texts[1], "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("line %d differs:\n%q\n%q", i+1, a[i], b[i])
			}
		}
		t.Fatalf("%d lines, and %d", len(a), len(b))
	}
}
