package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// The page holds everything it shows (no scripts, fonts, images or styles
// from elsewhere), so a kept copy reads the same in ten years and opening it
// makes no request.
var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"ratio":   formatRatio,
	"seconds": formatOptSeconds,
	"worst":   func(n NodeLine) string { return formatWorst(n.WorstMaxError, "", n.WorstAt) },
	"svgPlot": svgPlot,
	"heatSVG": heatSVG,
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
svg text { font-family: sans-serif; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } }
</style>
</head>
<body>
{{if .PartialNotice}}<div class="partial" id="partial"><p>{{.PartialNotice}}</p><ul>{{range .Summary.Partial}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
<h1>{{.Title}}</h1>
<table>{{range .Facts}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
{{if .Summary.Warnings}}<ul class="warn">{{range .Summary.Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2>Fleet summary</h2>
<table id="fleet">{{range .Headline}}<tr><th>{{index . 0}}</th><td class="num">{{index . 1}}</td></tr>{{end}}</table>

<h2>Worst nodes</h2>
{{if .Worst}}<table><tr><th>Node</th><th>Within tolerance</th><th>No data</th><th>Worst bound</th><th>Outages</th></tr>
{{range .Worst}}<tr><td>{{.Node}}</td><td class="num">{{ratio .WithinToleranceRatio}}</td><td class="num">{{ratio .NoDataRatio}}</td><td>{{worst .}}</td><td class="num">{{len .Outages}}</td></tr>
{{end}}</table>{{else}}<p>Every node was within tolerance for every step it was in the fleet.</p>{{end}}

<h2>When any node breached</h2>
{{if .Breaches}}<table><tr><th>Node</th><th>From</th><th>To</th><th>Cause</th></tr>
{{range .Breaches}}<tr><td>{{.Node}}</td><td>{{.Start}}</td><td>{{.End}}</td><td>{{.Cause}}</td></tr>
{{end}}</table>{{if .MoreBreaches}}<p>{{.MoreBreaches}} more in outages.csv.</p>{{end}}{{else}}<p>No node was above tolerance or unsynchronised.</p>{{end}}

<h2>Nodes by day</h2>
<p>Share of each node's steps within tolerance per UTC day: green 100%, light green 99.9% or more, yellow 99% or more, orange 90% or more, red below; grey: not in the fleet.</p>
{{heatSVG .}}

<h2>Nodes</h2>
<p>{{.PlotLegend}}</p>
{{range .Plots}}<div class="node"><h3>{{.Node}}</h3><p>{{.Stats}}</p>
{{svgPlot .}}
{{if .Outages}}<table><tr><th>From</th><th>To</th><th>Cause</th></tr>{{range .Outages}}<tr><td>{{.Start}}</td><td>{{.End}}</td><td>{{.Cause}}</td></tr>{{end}}</table>{{if .MoreOutages}}<p>{{.MoreOutages}} more in outages.csv.</p>{{end}}{{end}}
</div>
{{end}}
</body>
</html>
`))

// WriteHTML writes report.html.
func writeHTML(w io.Writer, v *view) error {
	return htmlPage.Execute(w, v)
}

func heatSVG(v *view) template.HTML {
	const cell, label, top = 14.0, 190.0, 40.0
	width := label + cell*float64(len(v.Days)) + 10
	height := top + cell*float64(len(v.Heat)) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="nodes by day">`, width, height)
	for d, day := range v.Days {
		x := label + cell*float64(d) + cell/2
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="8" transform="rotate(-90 %.1f %.1f)">%s</text>`, x+3, top-4, x+3, top-4, template.HTMLEscapeString(day[5:]))
	}
	for r, row := range v.Heat {
		y := top + cell*float64(r)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="end">%s</text>`, label-4, y+cell-3, template.HTMLEscapeString(row.Node))
		for d, c := range row.Cells {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="#fff"><title>%s %s: %s</title></rect>`,
				label+cell*float64(d), y, cell, cell, htmlFill(c.Class), template.HTMLEscapeString(row.Node), v.Days[d], template.HTMLEscapeString(c.Label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func htmlFill(class string) string {
	c := heatColours[class]
	return fmt.Sprintf("rgb(%d,%d,%d)", c[0], c[1], c[2])
}

func svgPlot(p plot) template.HTML {
	const w, h, left, bottom, top, right = 720.0, 200.0, 60.0, 24.0, 8.0, 10.0
	pw, ph := w-left-right, h-top-bottom
	X := func(x float64) float64 { return left + x*pw }
	Y := func(y float64) float64 { return top + (1-y)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" role="img" aria-label="max_error of %s">`, w, h, template.HTMLEscapeString(p.Node))
	for _, r := range p.Absent {
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="#e0e0e0"/>`, X(r[0]), top, (r[1]-r[0])*pw, ph)
	}
	for _, r := range p.Shade {
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="#f4c7c3"/>`, X(r[0]), top, (r[1]-r[0])*pw, ph)
	}
	for _, r := range p.Unsync {
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="#b39ddb"/>`, X(r[0]), top, (r[1]-r[0])*pw, ph)
	}
	for _, t := range p.Ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" font-size="9" text-anchor="end">%s</text>`,
			left, left+pw, Y(t.At), Y(t.At), left-4, Y(t.At)+3, t.Label)
	}
	for _, t := range p.XTicks {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle">%s</text>`, X(t.At), h-8, t.Label)
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#555"/>`, left, top, pw, ph)
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="6 3"/>`, left, left+pw, Y(p.Tolerance), Y(p.Tolerance))
	for _, line := range p.Lines {
		b.WriteString(`<polyline fill="none" stroke="#1f4e99" stroke-width="1.2" points="`)
		for _, pt := range line {
			fmt.Fprintf(&b, "%.2f,%.2f ", X(pt[0]), Y(pt[1]))
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
