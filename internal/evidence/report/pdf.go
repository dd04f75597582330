package report

import (
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"codeberg.org/go-pdf/fpdf"
)

// writePDF draws the same content as report.html with the PDF core fonts,
// so the image needs no browser to print it.
func writePDF(w io.Writer, v *view, generated time.Time) error {
	d := newPDFDoc(v, generated)
	d.AddPage()
	d.front(v)
	d.fleetSummary(v)
	d.servers(v)
	d.worstNodes(v)
	d.breaches(v)
	d.disagreements(v)
	d.nodesByDay(v)
	d.nodePlots(v)
	d.annex(v)
	d.firm(v)
	if err := d.Error(); err != nil {
		return err
	}
	return d.Output(w)
}

// pdfTextWidth is the width between the margins of an A4 page, in mm;
// pdfBottom the lowest y a row of text may reach before the footer.
const (
	pdfTextWidth = 180.0
	pdfBottom    = 280.0
)

// pdfDoc is the report's PDF being drawn, with the translation of UTF-8
// text into the core fonts' encoding and the internal links of the
// contents.
type pdfDoc struct {
	*fpdf.Fpdf
	tr    func(string) string
	links map[string]int
}

// The sections the first page's contents link to, in order.
var pdfSections = []string{"Fleet summary", "Cross-check servers", "Worst nodes", "When any node breached", "When a cross-check disagreed",
	"Nodes by day", "Nodes", annexTitle, firmTitle}

// newPDFDoc sets up the document: its metadata, and the footer and (for a
// partial answer) header every page carries.
func newPDFDoc(v *view, generated time.Time) *pdfDoc {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(generated)
	pdf.SetModificationDate(generated)
	pdf.SetTitle(v.Title, true)
	pdf.SetCreator("chrony-evidence", true)
	pdf.SetMargins(15, 15, 15)
	pdf.SetAutoPageBreak(true, 15)
	d := &pdfDoc{Fpdf: pdf, tr: pdf.UnicodeTranslatorFromDescriptor(""), links: map[string]int{}}
	for _, s := range pdfSections {
		d.links[s] = pdf.AddLink()
	}
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-13)
		pdf.SetFont("Helvetica", "", 7.5)
		profile := v.Summary.Profile
		if profile == "" {
			profile = "tolerance " + formatSeconds(v.Summary.ToleranceSeconds)
		}
		pdf.CellFormat(0, 4, d.tr(fmt.Sprintf("%s, %s to %s, %s, page %d of {nb}", v.Title, v.Summary.From, v.Summary.To, profile, pdf.PageNo())), "", 1, "C", false, 0, "")
		pdf.CellFormat(0, 4, d.tr(shorten(v.Identity, 150)), "", 0, "C", false, 0, "")
	})
	if v.PartialNotice != "" {
		// Every page says it, so that no page printed or copied alone
		// reads as evidence made from a whole answer.
		pdf.SetHeaderFunc(func() { d.partialHeader(v) })
	}
	return d
}

func (d *pdfDoc) partialHeader(v *view) {
	d.SetTextColor(170, 0, 0)
	d.SetFont("Helvetica", "B", 8)
	d.MultiCell(pdfTextWidth, 3.8, d.tr(v.PartialNotice), "", "L", false)
	d.SetFont("Helvetica", "", 7)
	for i, p := range v.Summary.Partial {
		if i == partialPerPage {
			d.MultiCell(pdfTextWidth, 3.5, d.tr(fmt.Sprintf("and %d more on page 1", len(v.Summary.Partial)-i)), "", "L", false)
			break
		}
		d.MultiCell(pdfTextWidth, 3.5, d.tr("- "+shorten(p, 240)), "", "L", false)
	}
	d.SetTextColor(0, 0, 0)
	d.Ln(2)
}

// heading starts a section, on a new page when fewer than need mm (besides
// the heading) are left on this one, and makes it the target of its link.
func (d *pdfDoc) heading(s string, need float64) {
	if d.GetY()+14+need > pdfBottom {
		d.AddPage()
	} else {
		d.Ln(3)
	}
	if id, ok := d.links[s]; ok {
		d.SetLink(id, -1, -1)
	}
	d.SetFont("Helvetica", "B", 13)
	d.CellFormat(0, 8, d.tr(s), "B", 1, "L", false, 0, "")
	d.Ln(2)
	d.SetFont("Helvetica", "", 9)
}

func (d *pdfDoc) subheading(s string) {
	if d.GetY()+20 > pdfBottom {
		d.AddPage()
	} else {
		d.Ln(2)
	}
	d.SetFont("Helvetica", "B", 10)
	d.CellFormat(0, 6, d.tr(s), "", 1, "L", false, 0, "")
	d.SetFont("Helvetica", "", 9)
}

// para is a paragraph of text at the given size.
func (d *pdfDoc) para(s string, size float64) {
	d.SetFont("Helvetica", "", size)
	d.MultiCell(pdfTextWidth, size*0.5, d.tr(s), "", "L", false)
}

// cellStyle is how row draws one cell.
type cellStyle struct {
	bold  bool
	fill  []int // RGB, or nil for none
	align string
	grey  bool // text in grey italics
}

// row draws one table row whose cells wrap, as high as its tallest cell
// and at least minH, on a new page when it would not fit on this one.
func (d *pdfDoc) row(widths []float64, cells []string, size, lineH, minH float64, style func(i int) cellStyle) {
	lines := make([][]string, len(cells))
	h := minH
	for i, c := range cells {
		st := style(i)
		d.setCellFont(st, size)
		lines[i] = d.SplitText(c, widths[i])
		if len(lines[i]) == 0 {
			lines[i] = []string{""}
		}
		h = max(h, float64(len(lines[i]))*lineH+1)
	}
	if d.GetY()+h > pdfBottom {
		d.AddPage()
	}
	x0, y := d.GetX(), d.GetY()
	x := x0
	for i := range cells {
		st := style(i)
		if st.fill != nil {
			d.SetFillColor(st.fill[0], st.fill[1], st.fill[2])
			d.Rect(x, y, widths[i], h, "FD")
		} else {
			d.Rect(x, y, widths[i], h, "D")
		}
		d.setCellFont(st, size)
		if st.grey {
			d.SetTextColor(130, 130, 130)
		}
		align := st.align
		if align == "" {
			align = "L"
		}
		for j, l := range lines[i] {
			d.SetXY(x, y+0.5+float64(j)*lineH)
			d.CellFormat(widths[i], lineH, d.tr(l), "", 0, align, false, 0, "")
		}
		d.SetTextColor(0, 0, 0)
		x += widths[i]
	}
	d.SetXY(x0, y+h)
}

func (d *pdfDoc) setCellFont(st cellStyle, size float64) {
	switch {
	case st.bold:
		d.SetFont("Helvetica", "B", size)
	case st.grey:
		d.SetFont("Helvetica", "I", size)
	default:
		d.SetFont("Helvetica", "", size)
	}
}

var headerFill = []int{235, 235, 235}

// pairs draws a two-column table of labels and values, each row as high
// as the taller of its two cells.
func (d *pdfDoc) pairs(rows [][2]string, labelW float64) {
	widths := []float64{labelW, pdfTextWidth - labelW}
	for _, r := range rows {
		d.row(widths, r[:], 9, 4.2, 5, func(i int) cellStyle { return cellStyle{bold: i == 0} })
	}
}

// table draws a header row and rows whose cells wrap, the header again at
// the top of each page it continues on; numeric columns (numCols) are
// right-aligned.
func (d *pdfDoc) table(widths []float64, header []string, rows [][]string, numCols ...int) {
	head := func(int) cellStyle { return cellStyle{bold: true, fill: headerFill} }
	body := func(i int) cellStyle {
		if slices.Contains(numCols, i) {
			return cellStyle{align: "R"}
		}
		return cellStyle{}
	}
	// The header with room for a row under it, so that it never ends a
	// page alone.
	if d.GetY()+16 > pdfBottom {
		d.AddPage()
	}
	d.row(widths, header, 8, 3.8, 5, head)
	for _, r := range rows {
		if d.rowHeight(widths, r, 8, 3.8, 5)+d.GetY() > pdfBottom {
			d.AddPage()
			d.row(widths, header, 8, 3.8, 5, head)
		}
		d.row(widths, r, 8, 3.8, 5, body)
	}
}

// rowHeight is how high row would draw the cells in the regular font.
func (d *pdfDoc) rowHeight(widths []float64, cells []string, size, lineH, minH float64) float64 {
	d.SetFont("Helvetica", "", size)
	h := minH
	for i, c := range cells {
		h = max(h, float64(max(len(d.SplitText(c, widths[i])), 1))*lineH+1)
	}
	return h
}

// list draws each line as an item of a list, in the current colour.
func (d *pdfDoc) list(lines []string) {
	for _, l := range lines {
		d.MultiCell(pdfTextWidth, 4.5, d.tr("- "+l), "", "L", false)
	}
}

// front is the first page's top: the title, the facts of the run, why the
// answer was not whole and what else to know, when anything, and the
// contents.
func (d *pdfDoc) front(v *view) {
	d.SetFont("Helvetica", "B", 18)
	d.CellFormat(0, 10, d.tr(v.Title), "", 1, "L", false, 0, "")
	d.pairs(v.Facts, 40)
	if len(v.Summary.Partial) > 0 {
		d.Ln(2)
		d.SetTextColor(170, 0, 0)
		d.SetFont("Helvetica", "B", 9)
		d.MultiCell(pdfTextWidth, 4.5, "Why the store's answer was not whole:", "", "L", false)
		d.SetFont("Helvetica", "", 9)
		d.list(v.Summary.Partial)
		d.SetTextColor(0, 0, 0)
	}
	if len(v.Summary.Warnings) > 0 {
		d.Ln(2)
		d.SetTextColor(170, 0, 0)
		d.list(v.Summary.Warnings)
		d.SetTextColor(0, 0, 0)
	}
	d.Ln(2)
	d.SetFont("Helvetica", "B", 9)
	d.Write(4.5, "Contents: ")
	d.SetFont("Helvetica", "", 9)
	for i, s := range pdfSections {
		d.SetTextColor(31, 78, 153)
		d.WriteLinkID(4.5, d.tr(s), d.links[s])
		d.SetTextColor(0, 0, 0)
		if i < len(pdfSections)-1 {
			d.Write(4.5, ", ")
		}
	}
	d.Ln(5)
}

// fleetSummary leads with the traceable figure beside the one against
// chronyd's reference only, then the rest of the summary.
func (d *pdfDoc) fleetSummary(v *view) {
	d.heading("Fleet summary", 40)
	widths := []float64{pdfTextWidth / 2, pdfTextWidth / 2}
	d.row(widths, v.LeadHead[:], 9, 4.2, 5, func(i int) cellStyle {
		if i == 0 {
			return cellStyle{bold: true, fill: []int{213, 234, 213}}
		}
		return cellStyle{bold: true, fill: headerFill}
	})
	for _, r := range v.Lead {
		d.row(widths, r[:], 10, 4.8, 6, func(i int) cellStyle {
			if i == 0 {
				return cellStyle{bold: true, fill: []int{238, 246, 238}}
			}
			return cellStyle{}
		})
	}
	if v.LeadNote != "" {
		d.Ln(1.5)
		d.SetTextColor(170, 0, 0)
		d.para(v.LeadNote, 9)
		d.SetTextColor(0, 0, 0)
	}
	d.Ln(2)
	d.pairs(v.Headline, 80)
	d.Ln(2)
	d.para(v.CompareHead, 9)
	if len(v.Compare) > 0 {
		rows := make([][]string, 0, len(v.Compare)-1)
		for _, r := range v.Compare[1:] {
			rows = append(rows, r[:])
		}
		d.table([]float64{pdfTextWidth - 70, 35, 35}, v.Compare[0][:], rows, 1, 2)
	}
}

func (d *pdfDoc) servers(v *view) {
	d.heading("Cross-check servers", 30)
	if len(v.Servers) == 0 {
		d.SetTextColor(170, 0, 0)
		d.para(v.NoServers, 9)
		d.SetTextColor(0, 0, 0)
		return
	}
	d.para("The independent NTP servers the nodes' collectors checked their clocks against. Answered: the share of the collectors' scrapes at which the latest check had been answered. |offset|: each node's last sample in each step. Disagreeing: samples in which the server contradicted chronyd's bound, of those that compared.", 8)
	d.Ln(1)
	var rows [][]string
	for _, s := range v.Servers {
		rows = append(rows, []string{s.Server, s.Nodes, s.Answered, s.P50, s.P99, s.Max, s.Worst, s.Disagreeing})
	}
	d.table([]float64{52, 12, 18, 17, 17, 17, 22, 25},
		[]string{"Server, stratum, refid", "Nodes", "Answered", "|offset| p50", "|offset| p99", "|offset| max", "Worst error bound", "Disagreeing samples"}, rows, 1, 2, 3, 4, 5, 6, 7)
}

func (d *pdfDoc) worstNodes(v *view) {
	d.heading("Worst nodes", 20)
	if len(v.Worst) == 0 {
		d.para("Every node was traceably within tolerance for every step it was in the fleet.", 9)
		return
	}
	var rows [][]string
	for _, n := range v.Worst {
		rows = append(rows, []string{n.Node, formatRatio(n.TraceableWithinRatio), formatRatio(n.WithinToleranceRatio), formatRatio(n.NoDataRatio),
			formatWorst(n.WorstMaxError, "", ""), formatWorstUTC(n.WorstUTCErrorBound, "", ""), fmt.Sprint(len(n.Outages))})
	}
	d.table([]float64{46, 22, 26, 20, 22, 26, 18},
		[]string{"Node", "Traceably within", "Within (chronyd's reference only)", "No data", "Worst bound", "Worst cross-check bound on UTC", "Outages"}, rows, 1, 2, 3, 6)
}

func (d *pdfDoc) breaches(v *view) {
	d.heading("When any node breached", 20)
	if len(v.Breaches) == 0 {
		d.para("No node was above tolerance or unsynchronised.", 9)
		return
	}
	d.runs(v.Breaches, v.MoreBreaches, "outages.csv")
}

func (d *pdfDoc) disagreements(v *view) {
	d.heading("When a cross-check disagreed", 20)
	if len(v.Disagreements) == 0 {
		d.para("No cross-check contradicted chronyd's bound.", 9)
		return
	}
	d.para("Runs of steps in which a cross-check server contradicted chronyd's bound: chronyd's reference or the server was wrong. Investigate each.", 9)
	d.Ln(1)
	d.runs(v.Disagreements, v.MoreDisagreements, "summary.json (utc_outages)")
}

func (d *pdfDoc) runs(bs []breach, more int, where string) {
	var rows [][]string
	for _, b := range bs {
		rows = append(rows, []string{b.Node, b.Start, b.End, b.Cause})
	}
	d.table([]float64{55, 42, 42, 41}, []string{"Node", "From", "To", "Cause"}, rows)
	if more > 0 {
		d.para(fmt.Sprintf("%d more in %s.", more, where), 9)
	}
}

// nodesByDay draws the heat map twice, traceably within first: a page has
// no switch.
func (d *pdfDoc) nodesByDay(v *view) {
	d.heading("Nodes by day", 40)
	if v.NoDays != "" {
		d.para(v.NoDays, 9)
		return
	}
	d.para(v.HeatColumns, 9)
	for i, caption := range heatCaptions {
		if i > 0 && d.GetY()+40 > pdfBottom {
			d.AddPage()
		}
		d.SetFont("Helvetica", "B", 9)
		d.para(caption, 9)
		d.Ln(1)
		drawHeat(d.Fpdf, v, d.tr, i == 0)
		d.Ln(2)
	}
}

// nodePlots draws each node's plot with its outages, starting a new page
// where the plot would not fit on this one.
func (d *pdfDoc) nodePlots(v *view) {
	d.heading("Nodes", 60)
	d.para(v.PlotLegend, 8)
	d.Ln(1)
	d.legend(v.Legend)
	d.Ln(2)
	for _, p := range v.Plots {
		need := 66.0 + 4.5*float64(len(p.Outages)+len(p.UTCOutages))
		if d.GetY()+min(need, 80) > pdfBottom {
			d.AddPage()
		}
		d.nodePlot(p)
		d.Ln(3)
	}
}

// legend draws the charts' legend: a mark and a label each, in rows.
func (d *pdfDoc) legend(items []legendItem) {
	d.SetFont("Helvetica", "", 7)
	x0 := d.GetX()
	x, y := x0, d.GetY()
	for _, it := range items {
		w := 8 + d.GetStringWidth(it.Label) + 4
		if x+w > x0+pdfTextWidth {
			x, y = x0, y+4.5
		}
		drawSwatch(d.Fpdf, it, x, y+2, 6)
		d.SetXY(x+7, y)
		d.CellFormat(w-7, 4, d.tr(it.Label), "", 0, "L", false, 0, "")
		x += w
	}
	d.SetXY(x0, y+4.5)
}

func drawSwatch(pdf *fpdf.Fpdf, it legendItem, x, y, w float64) {
	c := it.Colour
	switch it.Kind {
	case "line", "dash":
		pdf.SetDrawColor(c[0], c[1], c[2])
		pdf.SetLineWidth(0.4)
		if it.Kind == "dash" {
			pdf.SetDashPattern([]float64{1.5, 0.8}, 0)
		}
		pdf.Line(x, y, x+w, y)
		pdf.SetDashPattern(nil, 0)
	case "dots":
		pdf.SetFillColor(c[0], c[1], c[2])
		for i := 0; i < 3; i++ {
			pdf.Circle(x+0.8+float64(i)*(w-1.6)/2, y, 0.45, "F")
		}
	case "band":
		pdf.SetFillColor(c[0], c[1], c[2])
		pdf.Rect(x, y-0.9, w, 1.8, "F")
	default:
		pdf.SetFillColor(c[0], c[1], c[2])
		pdf.SetDrawColor(150, 150, 150)
		pdf.SetLineWidth(0.1)
		pdf.Rect(x, y-1.5, w, 3, "FD")
	}
	pdf.SetLineWidth(0.2)
	pdf.SetDrawColor(0, 0, 0)
}

func (d *pdfDoc) nodePlot(p plot) {
	d.SetFont("Helvetica", "B", 10)
	d.CellFormat(0, 6, d.tr(p.Node), "", 1, "L", false, 0, "")
	d.SetFont("Helvetica", "", 8)
	d.MultiCell(pdfTextWidth, 4, d.tr(p.Stats), "", "L", false)
	x0, y0 := d.GetX(), d.GetY()
	drawPlot(d.Fpdf, p, x0, y0+3, pdfTextWidth, 50)
	d.SetXY(x0, y0+56)
	if len(p.Outages) > 0 {
		var rows [][]string
		for _, o := range p.Outages {
			rows = append(rows, []string{o.Start, o.End, o.Cause})
		}
		d.table([]float64{50, 50, 40}, []string{"From", "To", "Cause"}, rows)
		if p.MoreOutages > 0 {
			d.para(fmt.Sprintf("%d more in outages.csv.", p.MoreOutages), 8)
		}
	}
	if len(p.UTCOutages) > 0 {
		if len(p.Outages) > 0 {
			d.Ln(1.5)
		}
		var rows [][]string
		for _, o := range p.UTCOutages {
			rows = append(rows, []string{o.Start, o.End, o.Cause})
		}
		d.table([]float64{50, 50, 40}, []string{"From", "To", "Not verified against UTC"}, rows)
		if p.MoreUTCOutages > 0 {
			d.para(fmt.Sprintf("%d more in summary.json (utc_outages).", p.MoreUTCOutages), 8)
		}
	}
}

// annex is the system design section, on a page of its own.
func (d *pdfDoc) annex(v *view) {
	a := v.Annex
	d.AddPage()
	d.heading(annexTitle, 0)
	d.para(a.Intro, 9)
	d.subheading("The chain to UTC")
	d.SetFont("Helvetica", "", 9)
	d.list(a.Chain)
	d.subheading("Cross-check servers")
	d.SetFont("Helvetica", "", 9)
	d.list(a.ServerChain)
	d.subheading("chronyd's references")
	if len(a.References) > 0 {
		d.table([]float64{60, 20, 100}, referenceHeader, a.References, 1)
	}
	if a.ReferenceNote != "" {
		d.Ln(1)
		d.para(a.ReferenceNote, 9)
	}
	d.subheading("Platforms")
	if len(a.Platforms) > 0 {
		d.table([]float64{50, 45, 30, 40, 15}, platformHeader, a.Platforms, 4)
	} else {
		d.para(a.PlatformsNote, 9)
	}
	d.subheading("Collector builds")
	if len(a.Collectors) > 0 {
		d.table([]float64{60, 100, 20}, collectorHeader, a.Collectors, 2)
	} else {
		d.para(a.CollectorsNote, 9)
	}
	d.subheading("Parameters")
	d.pairs(a.Parameters, 55)
	d.subheading("How a step is decided")
	d.pairs(a.Formulas, 40)
	d.subheading("What this does not prove")
	d.SetFont("Helvetica", "", 9)
	d.list(a.Limits)
}

// firm is the part only the firm can fill in, on a page of its own so that
// it can be printed and completed: blank boxes, nothing invented.
func (d *pdfDoc) firm(v *view) {
	a := v.Annex
	d.AddPage()
	d.heading(firmTitle, 0)
	d.para(a.FirmNote, 9)
	d.Ln(2)
	for _, f := range a.Firm {
		d.row([]float64{pdfTextWidth}, []string{f}, 9, 4.2, 5, func(int) cellStyle { return cellStyle{bold: true, fill: headerFill} })
		d.row([]float64{pdfTextWidth}, []string{blankField}, 8, 4, 30, func(int) cellStyle { return cellStyle{grey: true} })
		d.Ln(3)
	}
}

// partialPerPage is how many reasons of a partial answer each page's header
// lists; the first page lists them all.
const partialPerPage = 3

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// drawHeat draws the heat map of the share traceably within, or of the
// share within against chronyd's reference only.
func drawHeat(pdf *fpdf.Fpdf, v *view, tr func(string) string, traceable bool) {
	const labelW, top = 45.0, 14.0
	cell := min(4.5, (180-labelW)/float64(max(len(v.Days), 1)))
	startPage := func() float64 {
		x0, y0 := pdf.GetX(), pdf.GetY()
		pdf.SetFont("Helvetica", "", 5)
		for d, day := range v.Days {
			if len(v.Days) > 20 && d%7 != 0 && d != len(v.Days)-1 {
				continue
			}
			pdf.TransformBegin()
			x := x0 + labelW + cell*float64(d) + cell/2
			pdf.TransformRotate(60, x, y0+top-1)
			pdf.Text(x, y0+top-1, day)
			pdf.TransformEnd()
		}
		return y0 + top
	}
	y := startPage()
	x0 := pdf.GetX()
	for _, row := range v.Heat {
		if y+cell > pdfBottom {
			pdf.AddPage()
			y = startPage()
		}
		pdf.SetFont("Helvetica", "", 6)
		pdf.SetXY(x0, y)
		pdf.CellFormat(labelW-1, cell, tr(row.Node), "", 0, "R", false, 0, "")
		for d, c := range row.Cells {
			class := c.Class
			if traceable {
				class = c.TClass
			}
			col := heatColours[class]
			pdf.SetFillColor(col[0], col[1], col[2])
			pdf.SetDrawColor(255, 255, 255)
			pdf.Rect(x0+labelW+cell*float64(d), y, cell, cell, "FD")
		}
		y += cell
	}
	pdf.SetDrawColor(0, 0, 0)
	pdf.SetXY(x0, y+3)
}

// drawPlot draws a node's chart in the box (x, y, w, h): the plot, the UTC
// band under it and the time axis.
func drawPlot(pdf *fpdf.Fpdf, p plot, x, y, w, h float64) {
	const left, bottom, bandGap, bandH = 16.0, 4.4, 1.8, 2.2
	pw, ph := w-left, h-bottom-bandGap-bandH
	X := func(v float64) float64 { return x + left + v*pw }
	Y := func(v float64) float64 { return y + (1-v)*ph }
	fill := func(rs [][2]float64, c [3]int) {
		pdf.SetFillColor(c[0], c[1], c[2])
		for _, r := range rs {
			pdf.Rect(X(r[0]), y, (r[1]-r[0])*pw, ph, "F")
		}
	}
	fill(p.Absent, colourAbsent)
	fill(p.Shade, colourNotOK)
	fill(p.Unsync, colourUnsync)
	pdf.SetFont("Helvetica", "", 6)
	pdf.SetLineWidth(0.1)
	pdf.SetDrawColor(210, 210, 210)
	for _, t := range p.Ticks {
		pdf.Line(X(0), Y(t.At), X(1), Y(t.At))
		pdf.SetXY(x, Y(t.At)-1.5)
		pdf.CellFormat(left-1, 3, t.Label, "", 0, "R", false, 0, "")
	}
	bandY := y + ph + bandGap
	for _, r := range p.UTCBand {
		pdf.SetFillColor(r.Colour[0], r.Colour[1], r.Colour[2])
		pdf.Rect(X(r.X0), bandY, (r.X1-r.X0)*pw, bandH, "F")
	}
	pdf.SetFont("Helvetica", "", 5)
	pdf.SetXY(x, bandY-0.4)
	pdf.CellFormat(left-1, 3, "UTC", "", 0, "R", false, 0, "")
	pdf.SetFont("Helvetica", "", 6)
	for i, t := range p.XTicks {
		// The last label ends at the frame's right edge, not in the margin.
		pdf.SetXY(X(t.At)-10, bandY+bandH+0.6)
		align := "C"
		if i == len(p.XTicks)-1 && t.At >= 1 {
			pdf.SetX(X(t.At) - 20)
			align = "R"
		}
		pdf.CellFormat(20, 3, t.Label, "", 0, align, false, 0, "")
	}
	pdf.SetDrawColor(80, 80, 80)
	pdf.Rect(X(0), y, pw, ph, "D")
	c := colourTolerance
	pdf.SetDrawColor(c[0], c[1], c[2])
	pdf.SetDashPattern([]float64{1.5, 0.8}, 0)
	pdf.Line(X(0), Y(p.Tolerance), X(1), Y(p.Tolerance))
	pdf.SetDashPattern(nil, 0)
	pdf.SetLineWidth(0.3)
	lines := func(ls [][][2]float64, c [3]int) {
		pdf.SetDrawColor(c[0], c[1], c[2])
		for _, line := range ls {
			if len(line) == 1 {
				pdf.Circle(X(line[0][0]), Y(line[0][1]), 0.3, "D")
				continue
			}
			for i := 1; i < len(line); i++ {
				pdf.Line(X(line[i-1][0]), Y(line[i-1][1]), X(line[i][0]), Y(line[i][1]))
			}
		}
	}
	lines(p.Lines, colourMaxError)
	lines(p.UTCLines, colourUTCBound)
	if len(p.Offsets) > 0 {
		// Dots as zero-length round-capped lines: a few bytes each.
		c := colourOffset
		pdf.SetDrawColor(c[0], c[1], c[2])
		pdf.SetLineWidth(0.7)
		pdf.SetLineCapStyle("round")
		for _, pt := range p.Offsets {
			pdf.Line(X(pt[0]), Y(pt[1]), X(pt[0]), Y(pt[1]))
		}
		pdf.SetLineCapStyle("butt")
	}
	pdf.SetLineWidth(0.2)
	pdf.SetDrawColor(0, 0, 0)
}
