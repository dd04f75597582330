package report

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
)

// The page holds everything it shows (no scripts, fonts, images or styles
// from elsewhere), so a kept copy reads the same in ten years and opening it
// makes no request.
var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"ratio":          formatRatio,
	"seconds":        formatOptSeconds,
	"worst":          func(n NodeLine) string { return formatWorst(n.WorstMaxError, "", n.WorstAt) },
	"worstUTC":       func(n NodeLine) string { return formatWorstUTC(n.WorstUTCErrorBound, "", n.WorstUTCAt) },
	"svgPlot":        svgPlot,
	"heatSVG":        heatSVG,
	"heatCSS":        heatCSS,
	"swatch":         svgSwatch,
	"captions":       func() [2]string { return heatCaptions },
	"hatchColour":    func() string { return htmlFill(colourAbsent) },
	"stateSwatch":    stateSwatch,
	"exceptionsNote": func() string { return exceptionsNote },
	"blank":          func() string { return blankField },
	"refHead":        func() []string { return referenceHeader },
	"platHead":       func() []string { return platformHeader },
	"collHead":       func() []string { return collectorHeader },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{.Title}}: {{.Summary.From}} to {{.Summary.To}}</title>
<style>
body { font-family: sans-serif; font-size: 11pt; margin: 2em; color: #111; max-width: 60em; }
h1 { font-size: 18pt; } h2 { font-size: 14pt; border-bottom: 1px solid #999; margin-top: 1.5em; } h3 { font-size: 11pt; margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #bbb; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #eee; } .num { text-align: right; } .warn { color: #a00; }
.partial { border: 3px solid #a00; color: #a00; padding: 0.3em 0.8em; font-weight: bold; }
.node { page-break-inside: avoid; break-inside: avoid; margin-bottom: 1.2em; }
.lead { width: 100%; table-layout: fixed; } .lead td { font-size: 12pt; padding: 6px 8px; } .lead td.trace { font-weight: bold; background: #eef6ee; } .lead th.trace { background: #d5ead5; }
.note { border-left: 4px solid #a00; padding: 0.2em 0.8em; }
.legend { display: flex; flex-wrap: wrap; gap: 0.2em 1.2em; font-size: 9pt; margin: 0.3em 0 0.8em; } .legend span { white-space: nowrap; } .legend svg { vertical-align: middle; margin-right: 0.3em; }
.heatpick label { margin-right: 1.5em; } .heatpick { margin: 0.5em 0; }
.cap-r { display: none; } #heat-r:checked ~ .cap-r { display: block; } #heat-r:checked ~ .cap-t { display: none; }
{{heatCSS}}
.conclusion { border: 2px solid #1f4e99; padding: 0.2em 1em; margin: 0.8em 0; } .conclusion h3 { margin-top: 0.4em; } .conclusion li { margin: 0.2em 0; }
#exception-table td:first-child { white-space: nowrap; }
.states td.sw { width: 26px; } .states code { white-space: nowrap; } p.fleet { font-style: italic; margin: 0.1em 0; }
svg.defs { position: absolute; }
.attest { break-before: page; page-break-before: always; } .attest h2 { margin-top: 0.5em; }
.purposes { list-style: none; padding-left: 0.5em; } .purposes li { margin: 0.5em 0; } .box { display: inline-block; width: 0.9em; height: 0.9em; border: 1.5px solid #111; vertical-align: -0.1em; margin-right: 0.6em; }
.sign { width: 100%; } .sign th { width: 25%; } .sign td { height: 3em; } .sign td.comments { height: 12em; }
.annex th { width: 16em; } .firm { width: 100%; } .firm td { height: 5em; color: #999; font-style: italic; } .firm th { width: 40%; }
nav ul { margin: 0.2em 0; padding-left: 1.2em; columns: 2; }
svg text { font-family: sans-serif; }
@page { @bottom-center { content: "{{.Title}}, {{.Summary.From}} to {{.Summary.To}}, run {{.Summary.Run.ID}}, page " counter(page) " of " counter(pages); font-size: 8pt; } }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } .firm, .sign, .conclusion, tr { page-break-inside: avoid; break-inside: avoid; } }
</style>
</head>
<body>
<svg class="defs" width="0" height="0" aria-hidden="true"><defs><pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="5" height="5" fill="#fff"/><line x1="0" y1="0" x2="0" y2="5" stroke="{{hatchColour}}" stroke-width="1.6"/></pattern></defs></svg>
{{if .PartialNotice}}<div class="partial" id="partial"><p>{{.PartialNotice}}</p><ul>{{range .Summary.Partial}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
<h1>{{.Title}}</h1>
<p id="identity">{{.Identity}}</p>
<table id="facts">{{range .Facts}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
{{if .Summary.Warnings}}<ul class="warn">{{range .Summary.Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
<nav><ul>{{range .Sections}}<li><a href="#{{.ID}}">{{.Heading}}</a></li>{{end}}</ul></nav>

<h2 id="summary">{{(.Sec "summary").Heading}}</h2>
<table class="lead" id="lead"><tr><th class="trace">{{index .LeadHead 0}}</th><th>{{index .LeadHead 1}}</th></tr>
{{range .Lead}}<tr><td class="trace">{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</table>
{{if .LeadNote}}<p class="note">{{.LeadNote}}</p>{{end}}
<div class="conclusion" id="conclusion"><h3>Conclusion</h3><ul>{{range .Conclusion}}<li>{{range .}}{{.Text}}{{if .Link}}<a href="#{{.Link}}">{{($.Sec .Link).Ref}}</a>{{end}}{{.After}} {{end}}</li>{{end}}</ul></div>
<table id="fleet">{{range .Headline}}<tr><th>{{index . 0}}</th><td class="num">{{index . 1}}</td></tr>{{end}}</table>
<p id="comparison">{{.CompareHead}}</p>{{if .Compare}}<table>{{range $i, $r := .Compare}}<tr>{{if eq $i 0}}<th>{{index $r 0}}</th><th>{{index $r 1}}</th><th>{{index $r 2}}</th>{{else}}<th>{{index $r 0}}</th><td class="num">{{index $r 1}}</td><td class="num">{{index $r 2}}</td>{{end}}</tr>{{end}}</table>{{end}}

<h2 id="method">{{(.Sec "method").Heading}}</h2>
{{with .Method}}<p>{{.Steps}}</p>
<table class="states" id="method-states"><tr><th></th><th>State</th><th>When</th></tr>{{range .States}}<tr><td class="sw">{{stateSwatch .}}</td><td><code>{{.Name}}</code></td><td>{{.When}}</td></tr>{{end}}</table>
<ul>{{range .Rules}}<li>{{.}}</li>{{end}}</ul>
<h3>Formulas</h3>
<table class="annex">{{range .Formulas}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<h3>UTC states and traceably within</h3>
<p>{{.UTCIntro}}</p>
<table class="states"><tr><th></th><th>UTC state</th><th>When</th></tr>{{range .UTC}}<tr><td class="sw">{{stateSwatch .}}</td><td><code>{{.Name}}</code></td><td>{{.When}}</td></tr>{{end}}</table>
<ul>{{range .UTCRules}}<li>{{.}}</li>{{end}}</ul>
<h3>The fleet</h3>
<ul>{{range .Fleet}}<li>{{.}}</li>{{end}}</ul>
<h3>Partial data</h3>
<ul>{{range .Partial}}<li>{{.}}</li>{{end}}</ul>
<h3>Limitations</h3>
<ul>{{range .Limits}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2 id="servers">{{(.Sec "servers").Heading}}</h2>
{{if .Servers}}<p>The independent NTP servers the nodes' collectors checked their clocks against. Answered: the share of the collectors' scrapes at which the latest check had been answered. |offset|: each node's last sample in each step. Disagreeing: samples in which the server contradicted chronyd's bound, of those that compared.</p>
<table id="server-table"><tr><th>Server, stratum, refid</th><th>Nodes</th><th>Answered</th><th>|offset| p50</th><th>|offset| p99</th><th>|offset| max</th><th>Worst error bound</th><th>Disagreeing samples</th></tr>
{{range .Servers}}<tr><td>{{.Server}}</td><td class="num">{{.Nodes}}</td><td class="num">{{.Answered}}</td><td class="num">{{.P50}}</td><td class="num">{{.P99}}</td><td class="num">{{.Max}}</td><td class="num">{{.Worst}}</td><td class="num">{{.Disagreeing}}</td></tr>
{{end}}</table>{{else}}<p class="note" id="no-servers">{{.NoServers}}</p>{{end}}

<h2 id="exceptions">{{(.Sec "exceptions").Heading}}</h2>
{{if .Exceptions}}<p>{{exceptionsNote}}</p><table id="exception-table"><tr><th>Node</th><th>Traceably within</th><th>Within (chronyd's reference only)</th><th>No data</th><th>Worst bound</th><th>Worst cross-check bound on UTC</th><th>Outages</th></tr>
{{range .Exceptions}}<tr><td>{{.Node}}</td><td class="num"><b>{{ratio .TraceableWithinRatio}}</b></td><td class="num">{{ratio .WithinToleranceRatio}}</td><td class="num">{{ratio .NoDataRatio}}</td><td>{{worst .}}</td><td>{{worstUTC .}}</td><td class="num">{{len .Outages}}</td></tr>
{{end}}</table>{{else}}<p>Every node was traceably within tolerance for every step it was in the fleet.</p>{{end}}

<h2 id="breaches">{{(.Sec "breaches").Heading}}</h2>
{{if .Breaches}}<table><tr><th>Node</th><th>From</th><th>To</th><th>Cause</th></tr>
{{range .Breaches}}<tr><td>{{.Node}}</td><td>{{.Start}}</td><td>{{.End}}</td><td>{{.Cause}}</td></tr>
{{end}}</table>{{if .MoreBreaches}}<p>{{.MoreBreaches}} more in outages.csv.</p>{{end}}{{else}}<p>No node was above tolerance or unsynchronised.</p>{{end}}

<h2 id="disagreements">{{(.Sec "disagreements").Heading}}</h2>
{{if .Disagreements}}<p>Runs of steps in which a cross-check server contradicted chronyd's bound: chronyd's reference or the server was wrong. Investigate each.</p><table><tr><th>Node</th><th>From</th><th>To</th><th>Cause</th></tr>
{{range .Disagreements}}<tr><td>{{.Node}}</td><td>{{.Start}}</td><td>{{.End}}</td><td>{{.Cause}}</td></tr>
{{end}}</table>{{if .MoreDisagreements}}<p>{{.MoreDisagreements}} more in summary.json (utc_outages).</p>{{end}}{{else}}<p>No cross-check contradicted chronyd's bound.</p>{{end}}

<h2 id="by-day">{{(.Sec "by-day").Heading}}</h2>
{{if .NoDays}}<p>{{.NoDays}}</p>{{else}}<div class="heatpick"><input type="radio" name="heat" id="heat-t" checked><label for="heat-t">Traceably within (verified against UTC)</label><input type="radio" name="heat" id="heat-r"><label for="heat-r">Within against chronyd's reference only</label>
<p class="cap-t">Shown: {{index captions 0}}</p><p class="cap-r">Shown: {{index captions 1}}</p><p>{{.HeatColumns}}</p>
{{heatSVG .}}</div>{{end}}

<h2 id="nodes">{{(.Sec "nodes").Heading}}</h2>
<p>{{.PlotLegend}}</p>
<div class="legend">{{range .Legend}}<span>{{swatch .}}{{.Label}}</span>{{end}}</div>
{{range .Plots}}<div class="node"><h3>{{.Node}}</h3>{{if .Fleet}}<p class="fleet">{{.Fleet}}</p>{{end}}<p>{{.Stats}}</p>
{{svgPlot .}}
{{if .Outages}}<table><tr><th>From</th><th>To</th><th>Cause</th></tr>{{range .Outages}}<tr><td>{{.Start}}</td><td>{{.End}}</td><td>{{.Cause}}</td></tr>{{end}}</table>{{if .MoreOutages}}<p>{{.MoreOutages}} more in outages.csv.</p>{{end}}{{end}}
{{if .UTCOutages}}<table><tr><th>From</th><th>To</th><th>Not verified against UTC</th></tr>{{range .UTCOutages}}<tr><td>{{.Start}}</td><td>{{.End}}</td><td>{{.Cause}}</td></tr>{{end}}</table>{{if .MoreUTCOutages}}<p>{{.MoreUTCOutages}} more in summary.json (utc_outages).</p>{{end}}{{end}}
</div>
{{end}}

<h2 id="annex">{{(.Sec "annex").Heading}}</h2>
{{with .Annex}}
<p>{{.Intro}}</p>
<h3>The chain to UTC</h3>
<ul>{{range .Chain}}<li>{{.}}</li>{{end}}</ul>
<h3>Cross-check servers</h3>
<ul id="annex-servers">{{range .ServerChain}}<li>{{.}}</li>{{end}}</ul>
<h3>chronyd's references</h3>
{{if .References}}<table><tr>{{range refHead}}<th>{{.}}</th>{{end}}</tr>{{range .References}}<tr><td>{{index . 0}}</td><td class="num">{{index . 1}}</td><td>{{index . 2}}</td></tr>{{end}}</table>{{end}}
{{if .ReferenceNote}}<p>{{.ReferenceNote}}</p>{{end}}
<h3>Platforms</h3>
{{if .Platforms}}<table><tr>{{range platHead}}<th>{{.}}</th>{{end}}</tr>{{range .Platforms}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td><td>{{index . 2}}</td><td>{{index . 3}}</td><td class="num">{{index . 4}}</td></tr>{{end}}</table>{{else}}<p>{{.PlatformsNote}}</p>{{end}}
<h3>Collector builds</h3>
{{if .Collectors}}<table><tr>{{range collHead}}<th>{{.}}</th>{{end}}</tr>{{range .Collectors}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td><td class="num">{{index . 2}}</td></tr>{{end}}</table>{{else}}<p>{{.CollectorsNote}}</p>{{end}}
<h3>Parameters</h3>
<table class="annex">{{range .Parameters}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<h3>How a step is decided</h3>
<table class="annex">{{range .Formulas}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<h3>What this does not prove</h3>
<ul>{{range .Limits}}<li>{{.}}</li>{{end}}</ul>

{{end}}
<h2 id="firm">{{(.Sec "firm").Heading}}</h2>
{{with .Annex}}<p>{{.FirmNote}}</p>
<table class="firm">{{range .Firm}}<tr><th>{{.}}</th><td>{{blank}}</td></tr>{{end}}</table>{{end}}

<section class="attest" id="attestation"><h2>{{(.Sec "attestation").Heading}}</h2>
{{with .Attest}}<p>{{.Intro}}</p>
<table class="annex" id="attest-report">{{range .Report}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<h3>Purpose (tick one or more)</h3>
<ul class="purposes">{{range .Purposes}}<li><span class="box" role="img" aria-label="blank box"></span>{{.}}</li>{{end}}</ul>
<table class="sign">{{range .Fields}}<tr><th>{{.}}</th><td></td></tr>{{end}}<tr><th>{{.Comments}}</th><td class="comments"></td></tr></table>{{end}}
</section>
</body>
</html>
`))

// WriteHTML writes report.html.
func writeHTML(w io.Writer, v *view) error {
	return htmlPage.Execute(w, v)
}

// heatCSS colours the heat map's cells by the figure picked: each cell
// carries the class of its traceable share (t-) and of its share within
// against chronyd's reference only (w-), and the checked radio button
// decides which one fills it, with no script.
func heatCSS() template.CSS {
	classes := make([]string, 0, len(heatColours))
	for c := range heatColours {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	var b strings.Builder
	for _, c := range classes {
		fill := htmlFill(heatColours[c])
		fmt.Fprintf(&b, "#heat-t:checked ~ svg .t-%s { fill: %s; } #heat-r:checked ~ svg .w-%s { fill: %s; }\n", c, fill, c, fill)
	}
	return template.CSS(b.String())
}

func heatSVG(v *view) template.HTML {
	const cell, label, top = 14.0, 190.0, 62.0
	width := label + cell*float64(len(v.Days)) + 10
	height := top + cell*float64(len(v.Heat)) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="nodes by day">`, width, height)
	for d, day := range v.Days {
		x := label + cell*float64(d) + cell/2
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="8" transform="rotate(-90 %.1f %.1f)">%s</text>`, x+3, top-4, x+3, top-4, template.HTMLEscapeString(day))
	}
	for r, row := range v.Heat {
		y := top + cell*float64(r)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="end">%s</text>`, label-4, y+cell-3, template.HTMLEscapeString(row.Node))
		for d, c := range row.Cells {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="t-%s w-%s" stroke="#fff"><title>%s %s: %s</title></rect>`,
				label+cell*float64(d), y, cell, cell, c.TClass, c.Class, template.HTMLEscapeString(row.Node), v.Days[d], template.HTMLEscapeString(c.Label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func htmlFill(c [3]int) string {
	return fmt.Sprintf("rgb(%d,%d,%d)", c[0], c[1], c[2])
}

// svgSwatch draws a legend entry's mark.
func svgSwatch(l legendItem) template.HTML {
	c := htmlFill(l.Colour)
	var mark string
	switch l.Kind {
	case "line":
		mark = fmt.Sprintf(`<line x1="1" x2="23" y1="6" y2="6" stroke="%s" stroke-width="2"/>`, c)
	case "dash":
		mark = fmt.Sprintf(`<line x1="1" x2="23" y1="6" y2="6" stroke="%s" stroke-dasharray="6 3"/>`, c)
	case "dots":
		mark = fmt.Sprintf(`<path d="M4 6h0M12 6h0M20 6h0" stroke="%s" stroke-width="2.6" stroke-linecap="round"/>`, c)
	case "band":
		mark = fmt.Sprintf(`<rect x="1" y="3" width="22" height="6" fill="%s"/>`, c)
	case "hatch":
		mark = `<rect x="1" y="0" width="22" height="12" fill="url(#hatch)" stroke="#999" stroke-width="0.5"/>`
	default:
		mark = fmt.Sprintf(`<rect x="1" y="0" width="22" height="12" fill="%s" stroke="#999" stroke-width="0.5"/>`, c)
	}
	return template.HTML(`<svg xmlns="http://www.w3.org/2000/svg" width="24" height="12" aria-hidden="true">` + mark + `</svg>`)
}

// stateSwatch is the mark of a state in the method's tables.
func stateSwatch(r stateRow) template.HTML {
	kind := "fill"
	if r.Hatch {
		kind = "hatch"
	}
	return svgSwatch(legendItem{Kind: kind, Colour: r.Colour})
}

// The node chart's layout in the page, in CSS pixels.
const (
	svgW, svgH                      = 720.0, 224.0
	svgLeft, svgTop, svgRight       = 60.0, 8.0, 10.0
	svgBandGap, svgBandH, svgBottom = 6.0, 7.0, 32.0
	svgPlotH                        = svgH - svgTop - svgBottom - svgBandGap - svgBandH
)

func svgPlot(p plot) template.HTML {
	pw, ph := svgW-svgLeft-svgRight, svgPlotH
	X := func(x float64) float64 { return svgLeft + x*pw }
	Y := func(y float64) float64 { return svgTop + (1-y)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="bounds of %s">`, svgW, svgH, template.HTMLEscapeString(p.Node))
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, svgLeft, Y(p.Tolerance), pw, Y(p.Warn)-Y(p.Tolerance), htmlFill(colourWarn))
	for _, r := range p.States {
		// At least 2 px wide, so that a run of one step shows.
		x0, w := X(r.X0), (r.X1-r.X0)*pw
		if w < 2 {
			x0, w = min(max(x0-(2-w)/2, svgLeft), svgLeft+pw-2), 2
		}
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s"/>`, x0, svgTop, w, ph, htmlFill(r.Colour))
	}
	for _, r := range p.Absent {
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="url(#hatch)"/>`, X(r[0]), svgTop, (r[1]-r[0])*pw, ph)
	}
	for _, t := range p.Ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" font-size="9" text-anchor="end">%s</text>`,
			svgLeft, svgLeft+pw, Y(t.At), Y(t.At), svgLeft-4, Y(t.At)+3, template.HTMLEscapeString(t.Label))
	}
	bandY := svgTop + ph + svgBandGap
	for _, r := range p.UTCBand {
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s"/>`, X(r.X0), bandY, (r.X1-r.X0)*pw, svgBandH, htmlFill(r.Colour))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="8" text-anchor="end">UTC</text>`, svgLeft-4, bandY+svgBandH-0.5)
	for i, t := range p.XTicks {
		// The first label starts at the frame's left edge and the last
		// ends at its right edge, so that neither leaves the picture.
		anchor := "middle"
		switch {
		case i == 0 && t.At <= 0:
			anchor = "start"
		case i == len(p.XTicks)-1 && t.At >= 1:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#555"/>`, X(t.At), X(t.At), bandY+svgBandH, bandY+svgBandH+3)
		// The date over the time of day, so that five labels fit.
		date, clock, _ := strings.Cut(t.Label, " ")
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="%s">%s<tspan x="%.1f" dy="10">%s</tspan></text>`,
			X(t.At), svgH-15, anchor, template.HTMLEscapeString(date), X(t.At), template.HTMLEscapeString(clock))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#555"/>`, svgLeft, svgTop, pw, ph)
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 3"/>`, svgLeft, svgLeft+pw, Y(p.Tolerance), Y(p.Tolerance), htmlFill(colourTolerance))
	lines := func(ls [][][2]float64, c [3]int) {
		for _, line := range ls {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.2" points="`, htmlFill(c))
			for _, pt := range line {
				fmt.Fprintf(&b, "%.1f,%.1f ", X(pt[0]), Y(pt[1]))
			}
			b.WriteString(`"/>`)
		}
	}
	lines(p.Lines, colourMaxError)
	lines(p.UTCLines, colourUTCBound)
	if len(p.Offsets) > 0 {
		// Dots as zero-length round-capped segments: one path, not a
		// circle per slice.
		b.WriteString(`<path fill="none" stroke="` + htmlFill(colourOffset) + `" stroke-width="1.8" stroke-linecap="round" d="`)
		for _, pt := range p.Offsets {
			fmt.Fprintf(&b, "M%.1f %.1fh0", X(pt[0]), Y(pt[1]))
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
