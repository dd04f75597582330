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
	d.method(v)
	d.servers(v)
	d.exceptions(v)
	d.breaches(v)
	d.disagreements(v)
	d.nodesByDay(v)
	d.nodePlots(v)
	d.annex(v)
	d.firm(v)
	d.attestation(v)
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
// sections.
type pdfDoc struct {
	*fpdf.Fpdf
	v     *view
	tr    func(string) string
	links map[string]int // by section id
}

// newPDFDoc sets up the document: its metadata, and the footer and (for a
// partial answer) header every page carries.
func newPDFDoc(v *view, generated time.Time) *pdfDoc {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(generated)
	pdf.SetModificationDate(generated)
	pdf.SetCatalogSort(true) // the same report gives the same bytes (fonts and images are otherwise written in map order)
	pdf.SetTitle(v.Title, true)
	pdf.SetCreator("chrony-evidence", true)
	pdf.SetMargins(15, 15, 15)
	pdf.SetAutoPageBreak(true, 15)
	d := &pdfDoc{Fpdf: pdf, v: v, tr: pdf.UnicodeTranslatorFromDescriptor(""), links: map[string]int{}}
	for _, s := range v.Sections {
		d.links[s.ID] = pdf.AddLink()
	}
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		// Three lines of fixed content: the title, period and page; the
		// run and its time; the tool, its version and the data source.
		// Every page names its run, whatever its neighbours say.
		pdf.SetY(-14.5)
		pdf.SetFont("Helvetica", "", 7.5)
		profile := v.Summary.Profile
		if profile == "" {
			profile = "tolerance " + formatSeconds(v.Summary.ToleranceSeconds)
		}
		pdf.CellFormat(0, 3.6, d.tr(fmt.Sprintf("%s, %s to %s, %s, page %d of {nb}", v.Title, v.Summary.From, v.Summary.To, profile, pdf.PageNo())), "", 1, "C", false, 0, "")
		pdf.SetFont("Helvetica", "", 6.5)
		pdf.CellFormat(0, 3.1, d.tr(v.IdentityRun), "", 1, "C", false, 0, "")
		// A long version and address in a smaller font, cut only past 4.5 pt.
		for size := 6.5; size > 4.5 && pdf.GetStringWidth(d.tr(v.IdentityTool)) > pdfTextWidth-2; size -= 0.25 {
			pdf.SetFont("Helvetica", "", size-0.25)
		}
		pdf.CellFormat(0, 3.1, d.tr(d.fit(v.IdentityTool, pdfTextWidth-2)), "", 0, "C", false, 0, "")
	})
	if v.PartialNotice != "" {
		// Every page says it, so that no page printed or copied alone
		// reads as evidence made from a whole answer.
		pdf.SetHeaderFunc(func() { d.partialHeader(v) })
	}
	return d
}

// fit shortens s, in the current font, to the width w.
func (d *pdfDoc) fit(s string, w float64) string {
	for n := len(s); d.GetStringWidth(d.tr(s)) > w && n > 0; {
		n -= 4
		s = shorten(s, max(n, 0))
	}
	return s
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

// heading starts the section with that id, on a new page when fewer than
// need mm (besides the heading) are left on this one, and makes it the
// target of its link.
func (d *pdfDoc) heading(id string, need float64) {
	if d.GetY()+14+need > pdfBottom {
		d.AddPage()
	} else {
		d.Ln(3)
	}
	d.SetLink(d.links[id], -1, -1)
	d.SetFont("Helvetica", "B", 13)
	d.CellFormat(0, 8, d.tr(d.v.Sec(id).Heading()), "B", 1, "L", false, 0, "")
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
	hatch bool // the cell hatched in the not-in-the-fleet colour
	// shrink sets the cell in a smaller font, down to 5 pt, rather than
	// wrap it: a fact whose length varies from run to run (a version, an
	// address) then never moves the rest of the page.
	shrink bool
}

// row draws one table row whose cells wrap, as high as its tallest cell
// and at least minH, on a new page when it would not fit on this one.
func (d *pdfDoc) row(widths []float64, cells []string, size, lineH, minH float64, style func(i int) cellStyle) {
	lines := make([][]string, len(cells))
	sizes := make([]float64, len(cells))
	h := minH
	for i, c := range cells {
		st := style(i)
		sizes[i] = size
		d.setCellFont(st, size)
		for st.shrink && sizes[i] > 5 && len(d.SplitText(c, widths[i])) > 1 {
			sizes[i] -= 0.25
			d.setCellFont(st, sizes[i])
		}
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
		switch {
		case st.hatch:
			hatchRect(d.Fpdf, x, y, widths[i], h)
			d.Rect(x, y, widths[i], h, "D")
		case st.fill != nil:
			d.SetFillColor(st.fill[0], st.fill[1], st.fill[2])
			d.Rect(x, y, widths[i], h, "FD")
		default:
			d.Rect(x, y, widths[i], h, "D")
		}
		d.setCellFont(st, sizes[i])
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
	widths := []float64{40, pdfTextWidth - 40}
	for _, r := range v.Facts {
		varies := r[0] == "Tool" || r[0] == "Data source"
		d.row(widths, r[:], 9, 4.2, 5, func(i int) cellStyle { return cellStyle{bold: i == 0, shrink: i == 1 && varies} })
	}
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
	for i, s := range v.Sections {
		d.SetTextColor(31, 78, 153)
		d.WriteLinkID(4.5, d.tr(s.Heading()), d.links[s.ID])
		d.SetTextColor(0, 0, 0)
		if i < len(v.Sections)-1 {
			d.Write(4.5, "; ")
		}
	}
	d.Ln(5)
}

// fleetSummary leads with the traceable figure beside the one against
// chronyd's reference only, then the conclusion, then the rest of the
// summary.
func (d *pdfDoc) fleetSummary(v *view) {
	d.heading("summary", 40)
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
	d.Ln(3)
	d.conclusion(v)
	d.Ln(3)
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

// conclusion draws the conclusion in a frame, one item a claim, the
// sections it refers to as links; on the next page when it would not fit
// on this one.
func (d *pdfDoc) conclusion(v *view) {
	const size, lineH, indent, pad = 9.5, 4.6, 5.0, 2.5
	texts := make([]string, len(v.Conclusion))
	d.SetFont("Helvetica", "", size)
	h := 6 + 2*pad
	for i, item := range v.Conclusion {
		for _, s := range item {
			texts[i] += s.Text
			if s.Link != "" {
				texts[i] += v.Sec(s.Link).Ref()
			}
			texts[i] += s.After + " "
		}
		h += float64(len(d.SplitText(texts[i], pdfTextWidth-indent-2*pad)))*lineH + 1
	}
	if d.GetY()+h > pdfBottom {
		d.AddPage()
	}
	left, _, right, _ := d.GetMargins()
	x0, y0 := d.GetX(), d.GetY()
	d.SetXY(x0+pad, y0+pad)
	d.SetFont("Helvetica", "B", 10)
	d.CellFormat(0, 6, "Conclusion", "", 1, "L", false, 0, "")
	d.SetLeftMargin(left + pad + indent)
	d.SetRightMargin(right + pad)
	for _, item := range v.Conclusion {
		d.SetX(left + pad)
		d.SetFont("Helvetica", "B", size)
		d.CellFormat(indent, lineH, "-", "", 0, "L", false, 0, "")
		d.SetFont("Helvetica", "", size)
		for _, s := range item {
			d.Write(lineH, d.tr(s.Text))
			if s.Link != "" {
				d.SetTextColor(31, 78, 153)
				d.WriteLinkID(lineH, d.tr(v.Sec(s.Link).Ref()), d.links[s.Link])
				d.SetTextColor(0, 0, 0)
			}
			d.Write(lineH, d.tr(s.After+" "))
		}
		d.Ln(lineH + 1)
	}
	d.SetLeftMargin(left)
	d.SetRightMargin(right)
	y1 := d.GetY() + pad - 1
	d.SetDrawColor(31, 78, 153)
	d.SetLineWidth(0.5)
	d.Rect(x0, y0, pdfTextWidth, y1-y0, "D")
	d.SetLineWidth(0.2)
	d.SetDrawColor(0, 0, 0)
	d.SetXY(x0, y1)
}

// method is the method section: the states, the step rule, the formulas,
// the UTC states, the fleet, partial data and the limitations.
func (d *pdfDoc) method(v *view) {
	m := v.Method
	d.heading("method", 60)
	d.para(m.Steps, 9)
	d.Ln(1)
	d.states("State", m.States)
	d.Ln(1)
	d.SetFont("Helvetica", "", 9)
	d.list(m.Rules)
	d.subheading("Formulas")
	d.pairs(m.Formulas, 40)
	d.subheading("UTC states and traceably within")
	d.para(m.UTCIntro, 9)
	d.Ln(1)
	d.states("UTC state", m.UTC)
	d.Ln(1)
	d.SetFont("Helvetica", "", 9)
	d.list(m.UTCRules)
	for _, part := range []struct {
		head  string
		lines []string
	}{{"The fleet", m.Fleet}, {"Partial data", m.Partial}, {"Limitations", m.Limits}} {
		d.subheading(part.head)
		d.SetFont("Helvetica", "", 9)
		d.list(part.lines)
	}
}

// states draws a table of states, each with its colour on the pages.
func (d *pdfDoc) states(head string, rows []stateRow) {
	widths := []float64{8, 32, pdfTextWidth - 40}
	d.row(widths, []string{"", head, "When"}, 8, 3.8, 5, func(int) cellStyle { return cellStyle{bold: true, fill: headerFill} })
	for _, r := range rows {
		c := r.Colour
		d.row(widths, []string{"", r.Name, r.When}, 8, 3.8, 5, func(i int) cellStyle {
			switch {
			case i == 0 && r.Hatch:
				return cellStyle{hatch: true}
			case i == 0:
				return cellStyle{fill: []int{c[0], c[1], c[2]}}
			case i == 1:
				return cellStyle{bold: true}
			}
			return cellStyle{}
		})
	}
}

func (d *pdfDoc) servers(v *view) {
	d.heading("servers", 30)
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

func (d *pdfDoc) exceptions(v *view) {
	d.heading("exceptions", 20)
	if len(v.Exceptions) == 0 {
		d.para("Every node was traceably within tolerance for every step it was in the fleet.", 9)
		return
	}
	d.para(exceptionsNote, 9)
	d.Ln(1)
	var rows [][]string
	for _, n := range v.Exceptions {
		rows = append(rows, []string{n.Node, formatRatio(n.TraceableWithinRatio), formatRatio(n.WithinToleranceRatio), formatRatio(n.NoDataRatio),
			formatWorst(n.WorstMaxError, "", ""), formatWorstUTC(n.WorstUTCErrorBound, "", ""), fmt.Sprint(len(n.Outages))})
	}
	d.table([]float64{46, 22, 26, 20, 22, 26, 18},
		[]string{"Node", "Traceably within", "Within (chronyd's reference only)", "No data", "Worst bound", "Worst cross-check bound on UTC", "Outages"}, rows, 1, 2, 3, 6)
}

func (d *pdfDoc) breaches(v *view) {
	d.heading("breaches", 20)
	if len(v.Breaches) == 0 {
		d.para("No node was above tolerance or unsynchronised.", 9)
		return
	}
	d.runs(v.Breaches, v.MoreBreaches, "outages.csv")
}

func (d *pdfDoc) disagreements(v *view) {
	d.heading("disagreements", 20)
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
// no switch. Each map starts on a new page when it would fit on one but not
// on the rest of this one; one longer than a page repeats its dates on each.
func (d *pdfDoc) nodesByDay(v *view) {
	_, pageH := d.GetPageSize()
	_, top, _, _ := d.GetMargins()
	// The room a fresh page gives, below its header when it has one.
	fresh := pdfBottom - top - d.headerHeight()
	d.SetFont("Helvetica", "B", 9)
	capH := float64(len(d.SplitText(heatCaptions[0], pdfTextWidth)))*4.5 + 1
	// The heading goes with the first map: to the next page when the map
	// would.
	need := 40.0
	if first := 5 + capH + heatHeight(v); v.NoDays == "" && (first+14 <= fresh || d.GetY() > pageH/2) {
		need = min(first, pdfBottom-d.GetY()+1)
	}
	d.heading("by-day", need)
	if v.NoDays != "" {
		d.para(v.NoDays, 9)
		return
	}
	d.para(v.HeatColumns, 9)
	for i, caption := range heatCaptions {
		d.SetFont("Helvetica", "B", 9)
		capH := float64(len(d.SplitText(caption, pdfTextWidth)))*4.5 + 1
		need := capH + heatHeight(v)
		if d.GetY()+need > pdfBottom && (need <= fresh || d.GetY() > pageH/2) {
			d.AddPage()
		}
		d.SetFont("Helvetica", "B", 9)
		d.MultiCell(pdfTextWidth, 4.5, d.tr(caption), "", "L", false)
		d.Ln(1)
		drawHeat(d.Fpdf, v, d.tr, i == 0)
		d.Ln(2)
	}
}

// headerHeight is how far a partial answer's header pushes a page's
// content down, by estimate: its notice and reasons.
func (d *pdfDoc) headerHeight() float64 {
	if d.v.PartialNotice == "" {
		return 0
	}
	return 4*3.8 + float64(min(len(d.v.Summary.Partial), partialPerPage+1))*3.5*2 + 2
}

// nodePlots draws each node's chart with its outages, starting a new page
// where the heading, the stats and the chart would not fit on this one.
func (d *pdfDoc) nodePlots(v *view) {
	d.heading("nodes", 60)
	d.para(v.PlotLegend, 8)
	d.Ln(1)
	d.legend(v.Legend)
	d.Ln(2)
	_, top, _, _ := d.GetMargins()
	fresh := pdfBottom - top - d.headerHeight()
	for _, p := range v.Plots {
		d.SetFont("Helvetica", "", 8)
		head := 6 + 4*float64(len(d.SplitText(p.Stats, pdfTextWidth))) + 56
		if p.Fleet != "" {
			d.SetFont("Helvetica", "I", 8)
			head += 4 * float64(len(d.SplitText(p.Fleet, pdfTextWidth)))
		}
		// The chart with its tables when they fit on a page, else the
		// chart with the first rows of its tables.
		need := head
		if n := len(p.Outages); n > 0 {
			need += 5 + 5*float64(n) + 4
		}
		if n := len(p.UTCOutages); n > 0 {
			need += 1.5 + 5 + 5*float64(n) + 4
		}
		if need > fresh {
			need = head + 10
		}
		if d.GetY()+need > pdfBottom {
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
	case "hatch":
		hatchRect(pdf, x, y-1.5, w, 3)
		pdf.SetDrawColor(150, 150, 150)
		pdf.SetLineWidth(0.1)
		pdf.Rect(x, y-1.5, w, 3, "D")
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
	if p.Fleet != "" {
		d.SetFont("Helvetica", "I", 8)
		d.MultiCell(pdfTextWidth, 4, d.tr(p.Fleet), "", "L", false)
	}
	d.SetFont("Helvetica", "", 8)
	d.MultiCell(pdfTextWidth, 4, d.tr(p.Stats), "", "L", false)
	x0, y0 := d.GetX(), d.GetY()
	drawPlot(d.Fpdf, p, x0, y0+3, pdfTextWidth, 50, d.tr)
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
	d.heading("annex", 0)
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
	d.heading("firm", 0)
	d.para(a.FirmNote, 9)
	d.Ln(2)
	for _, f := range a.Firm {
		if d.GetY()+5+30+3 > pdfBottom {
			d.AddPage()
		}
		d.row([]float64{pdfTextWidth}, []string{f}, 9, 4.2, 5, func(int) cellStyle { return cellStyle{bold: true, fill: headerFill} })
		d.row([]float64{pdfTextWidth}, []string{blankField}, 8, 4, 30, func(int) cellStyle { return cellStyle{grey: true} })
		d.Ln(3)
	}
}

// attestation is the reviewer's page, a page of its own: the report it
// attests, the purposes as empty boxes, and blank fields.
func (d *pdfDoc) attestation(v *view) {
	a := v.Attest
	d.AddPage()
	d.heading("attestation", 0)
	d.para(a.Intro, 9)
	d.Ln(2)
	d.pairs(a.Report, 40)
	d.subheading("Purpose (tick one or more)")
	for _, p := range a.Purposes {
		x, y := d.GetX(), d.GetY()
		d.SetLineWidth(0.3)
		d.Rect(x+1, y+1, 4, 4, "D")
		d.SetLineWidth(0.2)
		d.SetXY(x+8, y)
		d.SetFont("Helvetica", "", 9.5)
		d.CellFormat(pdfTextWidth-8, 6, d.tr(p), "", 1, "L", false, 0, "")
		d.Ln(1.5)
	}
	d.Ln(3)
	widths := []float64{40, pdfTextWidth - 40}
	label := func(i int) cellStyle {
		if i == 0 {
			return cellStyle{bold: true, fill: headerFill}
		}
		return cellStyle{}
	}
	for _, f := range a.Fields {
		d.row(widths, []string{f, ""}, 9.5, 4.5, 13, label)
	}
	d.row(widths, []string{a.Comments, ""}, 9.5, 4.5, 60, label)
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

// heatHeight is how high drawHeat draws a map, dates and rows, on one page.
func heatHeight(v *view) float64 {
	return heatTop + heatCellSize(v)*float64(len(v.Heat)) + 3
}

const heatLabelW, heatTop = 45.0, 16.0

func heatCellSize(v *view) float64 {
	return min(4.5, (pdfTextWidth-heatLabelW)/float64(max(len(v.Days), 1)))
}

// drawHeat draws the heat map of the share traceably within, or of the
// share within against chronyd's reference only. A row is never split; a
// map longer than the page goes on with its dates repeated.
func drawHeat(pdf *fpdf.Fpdf, v *view, tr func(string) string, traceable bool) {
	labelW, top := heatLabelW, heatTop
	cell := heatCellSize(v)
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

// hatchRect fills (x, y, w, h) white with diagonal lines in the
// not-in-the-fleet colour.
func hatchRect(pdf *fpdf.Fpdf, x, y, w, h float64) {
	pdf.SetFillColor(255, 255, 255)
	pdf.Rect(x, y, w, h, "F")
	pdf.ClipRect(x, y, w, h, false)
	c := colourAbsent
	pdf.SetDrawColor(c[0], c[1], c[2])
	pdf.SetLineWidth(0.25)
	for off := -h; off < w; off += 1.4 {
		pdf.Line(x+off, y+h, x+off+h, y)
	}
	pdf.ClipEnd()
	pdf.SetLineWidth(0.2)
	pdf.SetDrawColor(0, 0, 0)
}

// minShadeMM is the narrowest a state's shading is drawn on a chart.
const minShadeMM = 0.8

// drawPlot draws a node's chart in the box (x, y, w, h): the plot, the UTC
// band under it and the time axis.
func drawPlot(pdf *fpdf.Fpdf, p plot, x, y, w, h float64, tr func(string) string) {
	const left, bottom, bandGap, bandH = 16.0, 4.4, 1.8, 2.2
	pw, ph := w-left, h-bottom-bandGap-bandH
	X := func(v float64) float64 { return x + left + v*pw }
	Y := func(v float64) float64 { return y + (1-v)*ph }
	c := colourWarn
	pdf.SetFillColor(c[0], c[1], c[2])
	pdf.Rect(X(0), Y(p.Tolerance), pw, Y(p.Warn)-Y(p.Tolerance), "F")
	for _, r := range p.States {
		// At least minShadeMM wide, so that a run of one step shows.
		x0, w := X(r.X0), (r.X1-r.X0)*pw
		if w < minShadeMM {
			x0, w = max(x0-(minShadeMM-w)/2, X(0)), minShadeMM
			x0 = min(x0, X(1)-w)
		}
		pdf.SetFillColor(r.Colour[0], r.Colour[1], r.Colour[2])
		pdf.Rect(x0, y, w, ph, "F")
	}
	for _, r := range p.Absent {
		hatchRect(pdf, X(r[0]), y, (r[1]-r[0])*pw, ph)
	}
	pdf.SetFont("Helvetica", "", 6)
	pdf.SetLineWidth(0.1)
	pdf.SetDrawColor(210, 210, 210)
	for _, t := range p.Ticks {
		pdf.Line(X(0), Y(t.At), X(1), Y(t.At))
		pdf.SetXY(x, Y(t.At)-1.5)
		pdf.CellFormat(left-1, 3, tr(t.Label), "", 0, "R", false, 0, "")
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
	pdf.SetDrawColor(80, 80, 80)
	cellMargin := pdf.GetCellMargin()
	pdf.SetCellMargin(0.5)
	for i, t := range p.XTicks {
		// The first label starts at the frame's left edge and the last
		// ends at its right edge: neither leaves the page's text width.
		pdf.Line(X(t.At), bandY+bandH, X(t.At), bandY+bandH+0.8)
		label := tr(t.Label)
		lw := pdf.GetStringWidth(label) + 1
		at, align := X(t.At)-lw/2, "C"
		switch {
		case i == 0 && t.At <= 0:
			at, align = X(t.At)-0.5, "L"
		case i == len(p.XTicks)-1 && t.At >= 1:
			at, align = X(t.At)-lw+0.5, "R"
		}
		pdf.SetXY(at, bandY+bandH+0.8)
		pdf.CellFormat(lw, 3, label, "", 0, align, false, 0, "")
	}
	pdf.SetCellMargin(cellMargin)
	pdf.Rect(X(0), y, pw, ph, "D")
	c = colourTolerance
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
