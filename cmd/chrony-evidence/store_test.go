package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/chronyotel/otelcol-chrony/internal/evidence/synclog"
)

// The fake store's period: four steps of 30 s.
var (
	storeFrom   = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	storePeriod = []string{"--from", "2026-10-01T00:00:00Z", "--to", "2026-10-01T00:02:00Z"}
)

// stepEnd is the Unix time of the end of step k, where a range query
// evaluated at the steps' ends puts its value for step k.
func stepEnd(k int) int64 { return storeFrom.Add(time.Duration(k+1) * 30 * time.Second).Unix() }

// points puts value k at the end of step k.
func points(values ...string) string {
	out := make([]string, len(values))
	for k, v := range values {
		out[k] = fmt.Sprintf(`[%d,"%s"]`, stepEnd(k), v)
	}
	return strings.Join(out, ",")
}

func chronySeries(node, pts string) string {
	return fmt.Sprintf(`{"metric":{"k8s_cluster_name":"aks-prod","k8s_node_name":%s},"values":[%s]}`, jsonString(node), pts)
}

func inventorySeries(node, pts string) string {
	return fmt.Sprintf(`{"metric":{"node":%s},"values":[%s]}`, jsonString(node), pts)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// fakeStore answers as a Prometheus 3 query API whose range answers for
// chrony_up, ntp_time_max_error_seconds and kube_node_info are the given
// series, and whose instant answers are empty.
type fakeStore struct {
	up, bound, inventory []string
	// The cross-check's series, empty unless set.
	consistent, crossBound, offset []string
	// What else the synchronisation log keeps, empty unless set.
	lastOffset, refAge, refs []string
	// warnings go with every query answer.
	warnings []string
	// status is the HTTP status of every query answer; 200 when 0.
	status int
}

func (f fakeStore) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		query := r.Form.Get("query")
		var kind string
		var result []string
		switch {
		case r.URL.Path == "/api/v1/status/buildinfo":
			w.Write([]byte(`{"status":"success","data":{"version":"3.1.0"}}`))
			return
		case r.URL.Path == "/api/v1/query":
			kind = "vector"
		case r.URL.Path != "/api/v1/query_range":
			http.NotFound(w, r)
			return
		case strings.Contains(query, "kube_node_info"):
			kind, result = "matrix", f.inventory
		case strings.Contains(query, "chrony_up"):
			kind, result = "matrix", f.up
		case strings.Contains(query, "ntp_time_max_error_seconds"):
			kind, result = "matrix", f.bound
		case strings.Contains(query, "ntp_cross_check_consistent"):
			kind, result = "matrix", f.consistent
		case strings.Contains(query, "ntp_cross_check_error_bound_seconds"):
			kind, result = "matrix", f.crossBound
		case strings.Contains(query, "ntp_cross_check_offset_seconds"):
			kind, result = "matrix", f.offset
		case strings.Contains(query, "ntp_time_last_offset_seconds"):
			kind, result = "matrix", f.lastOffset
		case strings.Contains(query, "ntp_time_reference_age_seconds"):
			kind, result = "matrix", f.refAge
		case strings.Contains(query, "ntp_reference_info"):
			kind, result = "matrix", f.refs
		default:
			t.Errorf("unexpected range query %s", query)
			kind = "matrix"
		}
		warnings := ""
		if len(f.warnings) > 0 {
			b, _ := json.Marshal(f.warnings)
			warnings = `,"warnings":` + string(b)
		}
		body := fmt.Sprintf(`{"status":"success","data":{"resultType":%q,"result":[%s]}%s}`, kind, strings.Join(result, ","), warnings)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if f.status != 0 {
			w.WriteHeader(f.status)
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type storeRun struct {
	dir            string
	code           int
	stdout, stderr string
}

func runAgainst(t *testing.T, url string, extra ...string) storeRun {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "report")
	args := append([]string{"--prometheus", url, "--profile", "voice", "--out", dir}, storePeriod...)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(args, extra...), &stdout, &stderr)
	return storeRun{dir: dir, code: code, stdout: stdout.String(), stderr: stderr.String()}
}

type storeSummary struct {
	Warnings []string `json:"warnings"`
	Partial  []string `json:"partial"`
	Nodes    []struct {
		Node           string             `json:"node"`
		InInventory    bool               `json:"in_inventory"`
		InFleetSeconds float64            `json:"in_fleet_seconds"`
		Seconds        map[string]float64 `json:"seconds"`
		WorstMaxError  *float64           `json:"worst_max_error_seconds"`
		UTCSeconds     map[string]float64 `json:"utc_seconds"`
		Traceable      *float64           `json:"traceable_within_ratio"`
	} `json:"nodes"`
}

func (r storeRun) summary(t *testing.T) storeSummary {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(r.dir, "summary.json"))
	if err != nil {
		t.Fatalf("exit %d, stderr %s: %v", r.code, r.stderr, err)
	}
	var s storeSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// seconds is the node's seconds per state, the states with none left out.
func (s storeSummary) seconds(node string) map[string]float64 {
	for _, n := range s.Nodes {
		if n.Node == node {
			out := map[string]float64{}
			for st, v := range n.Seconds {
				if v != 0 {
					out[st] = v
				}
			}
			return out
		}
	}
	return nil
}

func (r storeRun) noFiles(t *testing.T) {
	t.Helper()
	if entries, _ := os.ReadDir(r.dir); len(entries) != 0 {
		t.Errorf("a failed run left %d files in %s", len(entries), r.dir)
	}
}

// Values that cannot be readings never become "within", and duplicates
// resolve to the worst (issue 18, item 1). Tolerance 1 s (voice).
func TestValuesThatAreNotReadings(t *testing.T) {
	good := points("1", "1", "1", "1")
	fine := points("1e-5", "1e-5", "1e-5", "1e-5")
	for _, tc := range []struct {
		name      string
		up, bound []string
		code      int
		want      map[string]float64 // seconds per state of node n1, on exit 0
		stderr    string             // on exit 1
	}{
		{"a good node, the control", []string{chronySeries("n1", good)}, []string{chronySeries("n1", fine)}, 0, map[string]float64{"within": 120}, ""},
		{"chrony_up NaN is no reading", []string{chronySeries("n1", points("NaN", "NaN", "1", "1"))}, []string{chronySeries("n1", fine)}, 0,
			map[string]float64{"no_data": 60, "within": 60}, ""},
		{"chrony_up NaN beside a breach", []string{chronySeries("n1", points("NaN", "1", "1", "1"))}, []string{chronySeries("n1", points("5", "1e-5", "1e-5", "1e-5"))}, 0,
			map[string]float64{"above_tolerance": 30, "within": 90}, ""},
		{"max_error +Inf is unsynchronised", []string{chronySeries("n1", good)}, []string{chronySeries("n1", points("+Inf", "1e-5", "1e-5", "1e-5"))}, 0,
			map[string]float64{"unsynchronised": 30, "within": 90}, ""},
		{"max_error NaN is no reading", []string{chronySeries("n1", good)}, []string{chronySeries("n1", points("NaN", "1e-5", "1e-5", "1e-5"))}, 0,
			map[string]float64{"no_data": 30, "within": 90}, ""},
		{"chrony_up 0.5", []string{chronySeries("n1", points("1", "0.5", "1", "1"))}, []string{chronySeries("n1", fine)}, 1, nil,
			"node n1: 1 value(s) of chrony_up that no collector writes, the first 0.5 at 2026-10-01T00:01:00Z"},
		{"chrony_up 2", []string{chronySeries("n1", points("2", "1", "1", "1"))}, []string{chronySeries("n1", fine)}, 1, nil, "of chrony_up that no collector writes, the first 2 "},
		{"chrony_up +Inf", []string{chronySeries("n1", points("+Inf", "1", "1", "1"))}, []string{chronySeries("n1", fine)}, 1, nil, "of chrony_up that no collector writes, the first +Inf "},
		{"chrony_up -Inf", []string{chronySeries("n1", points("-Inf", "1", "1", "1"))}, []string{chronySeries("n1", fine)}, 1, nil, "of chrony_up that no collector writes, the first -Inf "},
		{"max_error -Inf", []string{chronySeries("n1", good)}, []string{chronySeries("n1", points("-Inf", "-Inf", "1e-5", "1e-5"))}, 1, nil,
			"node n1: 2 value(s) of ntp_time_max_error_seconds that no collector writes, the first -Inf at 2026-10-01T00:00:30Z (a bound is never below 0)"},
		{"max_error -5", []string{chronySeries("n1", good)}, []string{chronySeries("n1", points("-5", "1e-5", "1e-5", "1e-5"))}, 1, nil,
			"of ntp_time_max_error_seconds that no collector writes, the first -5 "},
		{"two bound series for one node, the breach first", []string{chronySeries("n1", good)},
			[]string{chronySeries("n1", points("5", "5", "5", "5")), chronySeries("n1", fine)}, 0, map[string]float64{"above_tolerance": 120}, ""},
		{"two bound series for one node, the breach last", []string{chronySeries("n1", good)},
			[]string{chronySeries("n1", fine), chronySeries("n1", points("5", "5", "5", "5"))}, 0, map[string]float64{"above_tolerance": 120}, ""},
		{"two up series for one node, the failure first", []string{chronySeries("n1", points("0", "0", "0", "0")), chronySeries("n1", good)},
			[]string{chronySeries("n1", fine)}, 0, map[string]float64{"unreachable": 120}, ""},
		{"a timestamp twice in one series", []string{chronySeries("n1", good)},
			[]string{chronySeries("n1", fmt.Sprintf(`[%d,"5"],`, stepEnd(0))+points("1e-5", "1e-5", "1e-5", "1e-5"))},
			0, map[string]float64{"above_tolerance": 30, "within": 90}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := fakeStore{up: tc.up, bound: tc.bound}.start(t)
			r := runAgainst(t, url, "--inventory", "none")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tc.code, r.stderr)
			}
			if tc.code != 0 {
				if !strings.Contains(r.stderr, tc.stderr) || !strings.Contains(r.stderr, "--accept-partial") {
					t.Errorf("stderr %q, want %q and the way out (--accept-partial)", r.stderr, tc.stderr)
				}
				r.noFiles(t)
				// Accepted, the steps with such a value are not evidence, and
				// the report says why.
				r = runAgainst(t, url, "--inventory", "none", "--accept-partial")
				if r.code != 0 {
					t.Fatalf("with --accept-partial: exit %d: %s", r.code, r.stderr)
				}
				s := r.summary(t)
				if got := s.seconds("n1"); got["within"] > 90 || got["no_data"] == 0 {
					t.Errorf("with --accept-partial: seconds %v, want the steps of the bad values as no_data", got)
				}
				if len(s.Partial) != 1 || !strings.Contains(s.Partial[0], tc.stderr) {
					t.Errorf("with --accept-partial: partial %q, want one naming %q", s.Partial, tc.stderr)
				}
				return
			}
			s := r.summary(t)
			if got := s.seconds("n1"); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("seconds %v, want %v", got, tc.want)
			}
			if len(s.Partial) != 0 {
				t.Errorf("partial %q, want none", s.Partial)
			}
			for _, n := range s.Nodes {
				if n.WorstMaxError != nil && *n.WorstMaxError < 0 {
					t.Errorf("worst bound %v", *n.WorstMaxError)
				}
			}
		})
	}
}

// Duplicate inventory series can only widen a node's time in the fleet: a
// second series with one early sample must not cut the fleet short and hide
// a breach after it.
func TestInventoryDuplicatesWiden(t *testing.T) {
	url := fakeStore{
		inventory: []string{inventorySeries("n1", points("1", "1", "1", "1")), inventorySeries("n1", points("1"))},
		up:        []string{chronySeries("n1", points("1", "1", "1", "1"))},
		bound:     []string{chronySeries("n1", points("1e-5", "1e-5", "1e-5", "5"))},
	}.start(t)
	r := runAgainst(t, url)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	s := r.summary(t)
	if got := s.seconds("n1"); fmt.Sprint(got) != fmt.Sprint(map[string]float64{"above_tolerance": 30, "within": 90}) {
		t.Errorf("seconds %v, want 90 within and the breach of the last step", got)
	}
}

// A warning of the store (a partial response) fails the run, unless
// --accept-partial, and then every page of the report carries it.
func TestStoreWarnings(t *testing.T) {
	const warning = "partial response: store 10.0.3.7:10901 unavailable"
	store := fakeStore{
		up: []string{chronySeries("n1", points("1", "1", "1", "1"))}, bound: []string{chronySeries("n1", points("1e-5", "1e-5", "1e-5", "1e-5"))},
		warnings: []string{warning},
	}
	url := store.start(t)
	r := runAgainst(t, url, "--inventory", "none")
	if r.code != 1 || !strings.Contains(r.stderr, warning) || !strings.Contains(r.stderr, "--accept-partial") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming the warning and --accept-partial", r.code, r.stderr)
	}
	r.noFiles(t)

	r = runAgainst(t, url, "--inventory", "none", "--accept-partial")
	if r.code != 0 {
		t.Fatalf("with --accept-partial: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "PARTIAL DATA") || !strings.Contains(r.stderr, warning) {
		t.Errorf("stdout %q, stderr %q: want both to say the data is partial", r.stdout, r.stderr)
	}
	s := r.summary(t)
	if len(s.Partial) != 1 || !strings.Contains(s.Partial[0], warning) || !strings.Contains(s.Partial[0], "on 17 of 17 queries") {
		// The steps' eight range queries (up, bound, consistency, cross-check
		// bound, offsets; for the synchronisation log last offset, reference
		// age, reference), the references, the servers' seven and the
		// collector builds, for one day.
		t.Errorf("summary.json partial %q, want the warning on 17 of 17 queries", s.Partial)
	}
	html, _ := os.ReadFile(filepath.Join(r.dir, "report.html"))
	if !bytes.Contains(html, []byte(`<div class="partial" id="partial"><p>PARTIAL DATA`)) || !bytes.Contains(html, []byte(warning)) {
		t.Errorf("report.html does not lead with the partial data and the warning")
	}
	nodes := readCSV(t, filepath.Join(r.dir, "nodes.csv"))
	if last := len(nodes[0]) - 1; nodes[0][last] != "partial_data" || nodes[1][last] != "true" {
		t.Errorf("nodes.csv: header %q, row %q: want partial_data true", nodes[0], nodes[1])
	}
	pages, withNotice, withWarning := pdfPages(t, filepath.Join(r.dir, "report.pdf"))
	if pages < 2 || withNotice != pages || withWarning != pages {
		t.Errorf("report.pdf: %d pages, %d with the notice and %d with the warning; want every page", pages, withNotice, withWarning)
	}

	// The control: a whole answer makes a report that says nothing of it.
	store.warnings = nil
	r = runAgainst(t, store.start(t), "--inventory", "none")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if s := r.summary(t); len(s.Partial) != 0 {
		t.Errorf("partial %q for a whole answer", s.Partial)
	}
	html, _ = os.ReadFile(filepath.Join(r.dir, "report.html"))
	if bytes.Contains(html, []byte("PARTIAL DATA")) {
		t.Error("report.html of a whole answer says PARTIAL DATA")
	}
	if nodes := readCSV(t, filepath.Join(r.dir, "nodes.csv")); nodes[1][len(nodes[1])-1] != "false" {
		t.Errorf("nodes.csv row %q: want partial_data false", nodes[1])
	}
	if pages, withNotice, _ := pdfPages(t, filepath.Join(r.dir, "report.pdf")); withNotice != 0 {
		t.Errorf("report.pdf of a whole answer: %d of %d pages say PARTIAL DATA", withNotice, pages)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// pdfPages counts report.pdf's pages, and those whose drawing says PARTIAL
// DATA and names the store's warning ("partial response").
func pdfPages(t *testing.T, path string) (pages, withNotice, withWarning int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages = len(regexp.MustCompile(`/Type /Page\b[^s]`).FindAll(raw, -1))
	for _, m := range regexp.MustCompile(`(?s)stream\r?\n(.*?)endstream`).FindAllSubmatch(raw, -1) {
		zr, err := zlib.NewReader(bytes.NewReader(m[1]))
		if err != nil {
			continue
		}
		content, _ := io.ReadAll(zr)
		if !bytes.Contains(content, []byte(")Tj")) {
			continue
		}
		if bytes.Contains(content, []byte("(PARTIAL DATA:")) {
			withNotice++
		}
		if bytes.Contains(content, []byte("partial response: store")) {
			withWarning++
		}
	}
	return pages, withNotice, withWarning
}

// A non-2xx answer is never data, whatever its body says.
func TestNon2xxWithASuccessBody(t *testing.T) {
	url := fakeStore{
		up: []string{chronySeries("n1", points("1", "1", "1", "1"))}, bound: []string{chronySeries("n1", points("1e-5", "1e-5", "1e-5", "1e-5"))},
		status: http.StatusServiceUnavailable,
	}.start(t)
	r := runAgainst(t, url, "--inventory", "none")
	if r.code != 1 || !strings.Contains(r.stderr, "answered 503 Service Unavailable") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming the 503", r.code, r.stderr)
	}
	r.noFiles(t)
}

// A range whose every point lies outside the period holds no chrony data:
// exit 1, as the docs say, and the message says what was seen (issue 18,
// item 9).
func TestEveryPointOutsideThePeriod(t *testing.T) {
	off := func(k int) string { return fmt.Sprintf(`[%d,"1"]`, stepEnd(k)+7) }
	url := fakeStore{
		up:    []string{chronySeries("n1", off(0)+","+off(1)+","+fmt.Sprintf(`[%d,"1"]`, stepEnd(5)))},
		bound: []string{chronySeries("n1", off(0))},
	}.start(t)
	r := runAgainst(t, url, "--inventory", "none")
	if r.code != 1 || !strings.Contains(r.stderr, "no chrony_up samples") || !strings.Contains(r.stderr, "the API answered 4 points, none at the end of one of the period's 30s steps") {
		t.Errorf("exit %d, stderr %q; want exit 1, no chrony data, and the 4 points outside", r.code, r.stderr)
	}
	r.noFiles(t)
}

// Without kube_node_info, no warning and no field claims an inventory
// (issue 18, item 9).
func TestNoInventoryClaimsNone(t *testing.T) {
	url := fakeStore{
		up:    []string{chronySeries("n1", points("1", "1", "1", "1")), chronySeries("n2", points("1", "1", "1", "1"))},
		bound: []string{chronySeries("n1", points("1e-5", "1e-5", "1e-5", "1e-5")), chronySeries("n2", points("NaN", "NaN", "NaN", "NaN"))},
	}.start(t)
	for _, inventory := range []string{"auto", "none"} {
		r := runAgainst(t, url, "--inventory", inventory)
		if r.code != 0 {
			t.Fatalf("--inventory %s: exit %d: %s", inventory, r.code, r.stderr)
		}
		s := r.summary(t)
		for _, w := range s.Warnings {
			if strings.Contains(w, "in the inventory") {
				t.Errorf("--inventory %s: warning %q claims an inventory there is none of", inventory, w)
			}
		}
		if !strings.Contains(strings.Join(s.Warnings, "\n"), "node n2 gave no reading in the period") {
			t.Errorf("--inventory %s: warnings %q, want one for n2", inventory, s.Warnings)
		}
		for _, n := range s.Nodes {
			if n.InInventory {
				t.Errorf("--inventory %s: %s in_inventory true", inventory, n.Node)
			}
		}
	}
}

// A response larger than --max-response-bytes fails the run, with or
// without a Content-Length, and writes nothing (issue 18, item 7).
func TestResponseTooLarge(t *testing.T) {
	big := make([]string, 400)
	for i := range big {
		big[i] = chronySeries(fmt.Sprintf("node-%03d", i), points("1", "1", "1", "1"))
	}
	store := fakeStore{up: big, bound: []string{chronySeries("node-000", points("1e-5", "1e-5", "1e-5", "1e-5"))}}
	srv := store.start(t)
	// The same answer streamed, without a Content-Length.
	chunked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Post(srv+r.URL.Path, r.Header.Get("Content-Type"), r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		for buf := make([]byte, 4096); ; {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
			if err != nil {
				return
			}
		}
	}))
	defer chunked.Close()
	for _, url := range []string{srv, chunked.URL} {
		r := runAgainst(t, url, "--inventory", "none", "--max-response-bytes", "20000")
		if r.code != 1 || !strings.Contains(r.stderr, "answered more than --max-response-bytes 20000") {
			t.Errorf("exit %d, stderr %q; want exit 1 naming --max-response-bytes", r.code, r.stderr)
		}
		r.noFiles(t)
		// The same answer within the bound is read.
		if r := runAgainst(t, url, "--inventory", "none", "--max-response-bytes", "100000"); r.code != 0 {
			t.Errorf("within the bound: exit %d: %s", r.code, r.stderr)
		}
	}
}

// The cross-check's values decide each step's UTC state as the rule says,
// and values no receiver writes end the run unless accepted.
func TestCrossCheckValues(t *testing.T) {
	good := []string{chronySeries("n1", points("1", "1", "1", "1"))}
	fine := []string{chronySeries("n1", points("1e-5", "1e-5", "1e-5", "1e-5"))}
	agree := []string{chronySeries("n1", points("1", "1", "1", "1"))}
	// The profile is voice: a tolerance of 1 s.
	within := []string{chronySeries("n1", points("0.002", "0.002", "0.002", "0.002"))}
	for _, tc := range []struct {
		name              string
		consistent, bound []string
		code              int
		want              map[string]float64 // UTC seconds of n1 on exit 0
		traceable         float64
		stderr            string
	}{
		{"verified throughout", agree, within, 0, map[string]float64{"utc_verified": 120, "utc_inconclusive": 0, "utc_unverified": 0, "utc_disagrees": 0}, 1, ""},
		{"one disagreement", []string{chronySeries("n1", points("1", "0", "1", "1"))}, within, 0,
			map[string]float64{"utc_verified": 90, "utc_inconclusive": 0, "utc_unverified": 0, "utc_disagrees": 30}, 0.75, ""},
		{"a path too long for the tolerance", agree, []string{chronySeries("n1", points("1.5", "0.5", "1.5", "1.5"))}, 0,
			map[string]float64{"utc_verified": 30, "utc_inconclusive": 90, "utc_unverified": 0, "utc_disagrees": 0}, 0.25, ""},
		{"no cross-check", nil, nil, 0, map[string]float64{"utc_verified": 0, "utc_inconclusive": 0, "utc_unverified": 120, "utc_disagrees": 0}, 0, ""},
		{"two servers' series, one disagrees", []string{chronySeries("n1", points("1", "1", "1", "1")), chronySeries("n1", points("1", "1", "0", "1"))}, within, 0,
			map[string]float64{"utc_verified": 90, "utc_inconclusive": 0, "utc_unverified": 0, "utc_disagrees": 30}, 0.75, ""},
		{"consistency 0.5", []string{chronySeries("n1", points("1", "0.5", "1", "1"))}, within, 1, nil, 0,
			"node n1: 1 value(s) of ntp_cross_check_consistent that no collector writes, the first 0.5 at 2026-10-01T00:01:00Z (a consistency is 0 or 1)"},
		{"a negative cross-check bound", agree, []string{chronySeries("n1", points("0.002", "-1", "0.002", "0.002"))}, 1, nil, 0,
			"of ntp_cross_check_error_bound_seconds that no collector writes, the first -1 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := fakeStore{up: good, bound: fine, consistent: tc.consistent, crossBound: tc.bound}.start(t)
			r := runAgainst(t, url, "--inventory", "none")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tc.code, r.stderr)
			}
			if tc.code != 0 {
				if !strings.Contains(r.stderr, tc.stderr) {
					t.Errorf("stderr %q, want %q", r.stderr, tc.stderr)
				}
				r.noFiles(t)
				r = runAgainst(t, url, "--inventory", "none", "--accept-partial")
				if r.code != 0 {
					t.Fatalf("with --accept-partial: exit %d: %s", r.code, r.stderr)
				}
				n := r.summary(t).Nodes[0]
				if n.UTCSeconds["utc_verified"] != 90 || n.UTCSeconds["utc_unverified"] != 30 {
					t.Errorf("with --accept-partial: UTC seconds %v, want the step of the bad value unverified, the rest verified", n.UTCSeconds)
				}
				return
			}
			n := r.summary(t).Nodes[0]
			if fmt.Sprint(n.UTCSeconds) != fmt.Sprint(tc.want) {
				t.Errorf("UTC seconds %v, want %v", n.UTCSeconds, tc.want)
			}
			if n.Traceable == nil || *n.Traceable != tc.traceable {
				t.Errorf("traceable_within_ratio %v, want %g", deref(n.Traceable), tc.traceable)
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// The synchronisation log holds one row per in-fleet step with what was read
// in it, as the store answered.
func TestSyncLogRows(t *testing.T) {
	store := fakeStore{
		up:         []string{chronySeries("n1", points("1", "0", "1", "1"))},
		bound:      []string{chronySeries("n1", points("1e-5", "NaN", "+Inf", "2e-5"))},
		lastOffset: []string{chronySeries("n1", points("-3e-6", "NaN", "4e-6", "5e-6"))},
		refAge:     []string{chronySeries("n1", points("1.5", "NaN", "3.5", "0.5"))},
		refs: []string{
			`{"metric":{"k8s_cluster_name":"aks-prod","k8s_node_name":"n1","reference_id":"50484330"},"values":[` + points("1", "1", "1") + `]}`,
			// The reference changed in the third step.
			`{"metric":{"k8s_cluster_name":"aks-prod","k8s_node_name":"n1","reference_id":"C0A80001"},"values":[` + fmt.Sprintf(`[%d,"1"],[%d,"1"]`, stepEnd(2), stepEnd(3)) + `]}`,
		},
		consistent: []string{chronySeries("n1", points("1", "1", "0", "1"))},
		crossBound: []string{chronySeries("n1", points("3e-4", "3e-4", "5e-3", "2"))},
		offset: []string{
			`{"metric":{"k8s_cluster_name":"aks-prod","k8s_node_name":"n1","server_address":"a:123"},"values":[` + points("1e-4", "1e-4", "-4e-3", "1e-4") + `]}`,
			`{"metric":{"k8s_cluster_name":"aks-prod","k8s_node_name":"n1","server_address":"b:123"},"values":[` + points("-2e-4", "5e-5", "1e-3", "1e-4") + `]}`,
		},
	}
	r := runAgainst(t, store.start(t), "--inventory", "none")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rows, err := parquet.ReadFile[synclog.Row](filepath.Join(r.dir, "sync-log.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	up := func(v int32) *int32 { return &v }
	s := func(v string) *string { return &v }
	want := []synclog.Row{
		{Node: "n1", Cluster: "aks-prod", StepEnd: storeFrom.Add(30 * time.Second), State: "within", UTCState: "utc_verified", Up: up(1), MaxError: f(1e-5),
			LastOffset: f(-3e-6), ReferenceID: s("50484330"), ReferenceAge: f(1.5), CrossCheckOffset: f(-2e-4), CrossCheckBound: f(3e-4)},
		{Node: "n1", Cluster: "aks-prod", StepEnd: storeFrom.Add(60 * time.Second), State: "unreachable", UTCState: "utc_verified", Up: up(0),
			ReferenceID: s("50484330"), CrossCheckOffset: f(1e-4), CrossCheckBound: f(3e-4)},
		{Node: "n1", Cluster: "aks-prod", StepEnd: storeFrom.Add(90 * time.Second), State: "unsynchronised", UTCState: "utc_disagrees", Up: up(1), MaxError: f(math.Inf(1)),
			LastOffset: f(4e-6), ReferenceID: s("50484330 C0A80001"), ReferenceAge: f(3.5), CrossCheckOffset: f(-4e-3), CrossCheckBound: f(5e-3)},
		// The voice profile: a cross-check bound of 2 s is above its 1 s.
		{Node: "n1", Cluster: "aks-prod", StepEnd: storeFrom.Add(120 * time.Second), State: "within", UTCState: "utc_inconclusive", Up: up(1), MaxError: f(2e-5),
			LastOffset: f(5e-6), ReferenceID: s("C0A80001"), ReferenceAge: f(0.5), CrossCheckOffset: f(1e-4), CrossCheckBound: f(2)},
	}
	show := func(rs []synclog.Row) string {
		b, _ := json.Marshal(rs)
		return string(b)
	}
	// JSON has no +Inf: compare that one apart.
	if len(rows) == 4 && rows[2].MaxError != nil && math.IsInf(*rows[2].MaxError, 1) {
		rows[2].MaxError, want[2].MaxError = nil, nil
	}
	if show(rows) != show(want) {
		t.Errorf("sync-log.parquet:\n%s\nwant\n%s", show(rows), show(want))
	}
	var sum struct {
		SyncLog struct {
			File string
			Rows int64
		} `json:"sync_log"`
	}
	raw, _ := os.ReadFile(filepath.Join(r.dir, "summary.json"))
	json.Unmarshal(raw, &sum)
	if sum.SyncLog.File != "sync-log.parquet" || sum.SyncLog.Rows != 4 {
		t.Errorf("summary.json sync_log %+v, want 4 rows", sum.SyncLog)
	}
}

// With --sync-log=false the report's log is empty, says why, and costs no
// query.
func TestSyncLogOff(t *testing.T) {
	store := fakeStore{up: []string{chronySeries("n1", points("1", "1", "1", "1"))}, bound: []string{chronySeries("n1", points("1e-5", "1e-5", "1e-5", "1e-5"))}}
	r := runAgainst(t, store.start(t), "--inventory", "none", "--sync-log=false")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rows, err := parquet.ReadFile[synclog.Row](filepath.Join(r.dir, "sync-log.parquet"))
	if err != nil || len(rows) != 0 {
		t.Errorf("sync-log.parquet: %d rows (%v), want none", len(rows), err)
	}
	var sum struct {
		SyncLog struct {
			Rows int64
			Note string
		} `json:"sync_log"`
	}
	raw, _ := os.ReadFile(filepath.Join(r.dir, "summary.json"))
	json.Unmarshal(raw, &sum)
	if sum.SyncLog.Rows != 0 || !strings.Contains(sum.SyncLog.Note, "--sync-log=false") {
		t.Errorf("summary.json sync_log %+v", sum.SyncLog)
	}
	raw, _ = os.ReadFile(filepath.Join(r.dir, "manifest.json"))
	if bytes.Contains(raw, []byte("ntp_time_last_offset_seconds")) {
		t.Error("the manifest lists the log's queries, which were not needed")
	}
}
