package report

import (
	"fmt"
	"io"
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
	d.worstNodes(v)
	d.breaches(v)
	d.nodesByDay(v)
	d.nodePlots(v)
	if err := d.Error(); err != nil {
		return err
	}
	return d.Output(w)
}

// pdfTextWidth is the width between the margins of an A4 page, in mm.
const pdfTextWidth = 180.0

// pdfDoc is the report's PDF being drawn, with the translation of UTF-8
// text into the core fonts' encoding.
type pdfDoc struct {
	*fpdf.Fpdf
	tr func(string) string
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
	d := &pdfDoc{Fpdf: pdf, tr: pdf.UnicodeTranslatorFromDescriptor("")}
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(0, 5, d.tr(fmt.Sprintf("%s, %s to %s, page %d", v.Title, v.Summary.From, v.Summary.To, pdf.PageNo())), "", 0, "C", false, 0, "")
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

func (d *pdfDoc) heading(s string) {
	d.Ln(3)
	d.SetFont("Helvetica", "B", 13)
	d.CellFormat(0, 8, d.tr(s), "B", 1, "L", false, 0, "")
	d.Ln(2)
	d.SetFont("Helvetica", "", 9)
}

// pairs draws a two-column table of labels and values, each row as high
// as the taller of its two cells.
func (d *pdfDoc) pairs(rows [][2]string, labelW float64) {
	for _, r := range rows {
		d.SetFont("Helvetica", "B", 9)
		x, y := d.GetX(), d.GetY()
		d.MultiCell(labelW, 5, d.tr(r[0]), "1", "L", false)
		h := d.GetY() - y
		d.SetXY(x+labelW, y)
		d.SetFont("Helvetica", "", 9)
		d.MultiCell(pdfTextWidth-labelW, 5, d.tr(r[1]), "1", "L", false)
		if d.GetY()-y < h {
			d.SetY(y + h)
		}
	}
}

func (d *pdfDoc) table(widths []float64, header []string, rows [][]string) {
	d.SetFont("Helvetica", "B", 8)
	d.SetFillColor(235, 235, 235)
	for i, h := range header {
		d.CellFormat(widths[i], 5, d.tr(h), "1", 0, "L", true, 0, "")
	}
	d.Ln(-1)
	d.SetFont("Helvetica", "", 8)
	for _, r := range rows {
		for i, c := range r {
			d.CellFormat(widths[i], 5, d.tr(c), "1", 0, "L", false, 0, "")
		}
		d.Ln(-1)
	}
}

// list draws each line as an item of a list, in the current colour.
func (d *pdfDoc) list(lines []string) {
	for _, l := range lines {
		d.MultiCell(pdfTextWidth, 4.5, d.tr("- "+l), "", "L", false)
	}
}

// front is the first page's top: the title, the facts of the run, and why
// the answer was not whole and what else to know, when anything.
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
}

func (d *pdfDoc) fleetSummary(v *view) {
	d.heading("Fleet summary")
	d.pairs(v.Headline, 80)
}

func (d *pdfDoc) worstNodes(v *view) {
	d.heading("Worst nodes")
	if len(v.Worst) == 0 {
		d.MultiCell(pdfTextWidth, 5, "Every node was within tolerance for every step it was in the fleet.", "", "L", false)
		return
	}
	var rows [][]string
	for _, n := range v.Worst {
		rows = append(rows, []string{n.Node, formatRatio(n.WithinToleranceRatio), formatRatio(n.NoDataRatio), formatWorst(n.WorstMaxError, "", ""), fmt.Sprint(len(n.Outages))})
	}
	d.table([]float64{60, 30, 25, 40, 25}, []string{"Node", "Within tolerance", "No data", "Worst bound", "Outages"}, rows)
}

func (d *pdfDoc) breaches(v *view) {
	d.heading("When any node breached")
	if len(v.Breaches) == 0 {
		d.MultiCell(pdfTextWidth, 5, "No node was above tolerance or unsynchronised.", "", "L", false)
		return
	}
	var rows [][]string
	for _, b := range v.Breaches {
		rows = append(rows, []string{b.Node, b.Start, b.End, b.Cause})
	}
	d.table([]float64{55, 42, 42, 41}, []string{"Node", "From", "To", "Cause"}, rows)
	if v.MoreBreaches > 0 {
		d.MultiCell(pdfTextWidth, 5, fmt.Sprintf("%d more in outages.csv.", v.MoreBreaches), "", "L", false)
	}
}

func (d *pdfDoc) nodesByDay(v *view) {
	d.heading("Nodes by day")
	d.MultiCell(pdfTextWidth, 4.5, d.tr("Share of each node's steps within tolerance per UTC day: green 100%, light green 99.9% or more, yellow 99% or more, orange 90% or more, red below; grey: not in the fleet."), "", "L", false)
	d.Ln(2)
	drawHeat(d.Fpdf, v, d.tr)
}

// nodePlots draws each node's plot with its outages, starting a new page
// where the plot would not fit on this one.
func (d *pdfDoc) nodePlots(v *view) {
	d.heading("Nodes")
	d.MultiCell(pdfTextWidth, 4.5, d.tr(v.PlotLegend), "", "L", false)
	d.Ln(2)
	for _, p := range v.Plots {
		need := 62.0 + 4.5*float64(len(p.Outages))
		if d.GetY()+min(need, 80) > 280 {
			d.AddPage()
		}
		d.nodePlot(p)
		d.Ln(3)
	}
}

func (d *pdfDoc) nodePlot(p plot) {
	d.SetFont("Helvetica", "B", 10)
	d.CellFormat(0, 6, d.tr(p.Node), "", 1, "L", false, 0, "")
	d.SetFont("Helvetica", "", 8)
	d.MultiCell(pdfTextWidth, 4, d.tr(p.Stats), "", "L", false)
	x0, y0 := d.GetX(), d.GetY()
	drawPlot(d.Fpdf, p, x0, y0+1, pdfTextWidth, 45)
	d.SetXY(x0, y0+50)
	if len(p.Outages) == 0 {
		return
	}
	var rows [][]string
	for _, o := range p.Outages {
		rows = append(rows, []string{o.Start, o.End, o.Cause})
	}
	d.table([]float64{50, 50, 40}, []string{"From", "To", "Cause"}, rows)
	if p.MoreOutages > 0 {
		d.MultiCell(pdfTextWidth, 4.5, fmt.Sprintf("%d more in outages.csv.", p.MoreOutages), "", "L", false)
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

func drawHeat(pdf *fpdf.Fpdf, v *view, tr func(string) string) {
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
		if y+cell > 280 {
			pdf.AddPage()
			y = startPage()
		}
		pdf.SetFont("Helvetica", "", 6)
		pdf.SetXY(x0, y)
		pdf.CellFormat(labelW-1, cell, tr(row.Node), "", 0, "R", false, 0, "")
		for d, c := range row.Cells {
			col := heatColours[c.Class]
			pdf.SetFillColor(col[0], col[1], col[2])
			pdf.SetDrawColor(255, 255, 255)
			pdf.Rect(x0+labelW+cell*float64(d), y, cell, cell, "FD")
		}
		y += cell
	}
	pdf.SetDrawColor(0, 0, 0)
	pdf.SetXY(x0, y+3)
}

func drawPlot(pdf *fpdf.Fpdf, p plot, x, y, w, h float64) {
	const left, bottom = 16.0, 6.0
	pw, ph := w-left, h-bottom
	X := func(v float64) float64 { return x + left + v*pw }
	Y := func(v float64) float64 { return y + (1-v)*ph }
	pdf.SetFillColor(224, 224, 224)
	for _, r := range p.Absent {
		pdf.Rect(X(r[0]), y, (r[1]-r[0])*pw, ph, "F")
	}
	pdf.SetFillColor(244, 199, 195)
	for _, r := range p.Shade {
		pdf.Rect(X(r[0]), y, (r[1]-r[0])*pw, ph, "F")
	}
	pdf.SetFillColor(179, 157, 219)
	for _, r := range p.Unsync {
		pdf.Rect(X(r[0]), y, (r[1]-r[0])*pw, ph, "F")
	}
	pdf.SetFont("Helvetica", "", 6)
	pdf.SetLineWidth(0.1)
	pdf.SetDrawColor(210, 210, 210)
	for _, t := range p.Ticks {
		pdf.Line(X(0), Y(t.At), X(1), Y(t.At))
		pdf.SetXY(x, Y(t.At)-1.5)
		pdf.CellFormat(left-1, 3, t.Label, "", 0, "R", false, 0, "")
	}
	for _, t := range p.XTicks {
		pdf.SetXY(X(t.At)-10, y+ph+1)
		pdf.CellFormat(20, 3, t.Label, "", 0, "C", false, 0, "")
	}
	pdf.SetDrawColor(80, 80, 80)
	pdf.Rect(X(0), y, pw, ph, "D")
	pdf.SetDrawColor(204, 0, 0)
	pdf.SetDashPattern([]float64{1.5, 0.8}, 0)
	pdf.Line(X(0), Y(p.Tolerance), X(1), Y(p.Tolerance))
	pdf.SetDashPattern(nil, 0)
	pdf.SetDrawColor(31, 78, 153)
	pdf.SetLineWidth(0.3)
	for _, line := range p.Lines {
		if len(line) == 1 {
			pdf.Circle(X(line[0][0]), Y(line[0][1]), 0.3, "D")
			continue
		}
		for i := 1; i < len(line); i++ {
			pdf.Line(X(line[i-1][0]), Y(line[i-1][1]), X(line[i][0]), Y(line[i][1]))
		}
	}
	pdf.SetLineWidth(0.2)
	pdf.SetDrawColor(0, 0, 0)
}
