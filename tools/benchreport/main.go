// Command benchreport turns one run of the receiver's benchmarks into the
// figures docs/benchmarks.md reports, and adds the one measurement a Go
// benchmark cannot make: the collector process itself (RSS and CPU per
// scrape) running the DaemonSet's pipeline against a lab chronyd. Every
// number comes from the same run on the same machine; the report states them
// as ratios to the bare protocol round trip measured alongside.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

func main() {
	benchFile := flag.String("bench", "", "output of go test -bench -benchmem -count N (required)")
	var bins builds
	flag.StringVar(&bins.node, "node", "_build/node/otelcol-chrony-node", "the DaemonSet's build (builder-node.yaml)")
	flag.StringVar(&bins.nodeConfig, "config", "deploy/kubernetes/base/otelcol-chrony.yaml", "the pipeline to measure (the DaemonSet's)")
	flag.StringVar(&bins.full, "otelcol", "_build/otelcol-chrony", "the full build (builder-config.yaml)")
	flag.StringVar(&bins.fullConfig, "full-config", "scripts/bench/full.yaml", "the DaemonSet's previous pipeline, on the full build")
	flag.StringVar(&bins.floor, "floor", "_build/floor/otelcol-chrony-floor", "the previous pipeline's floor build (scripts/bench/builder-floor.yaml)")
	flag.StringVar(&bins.floorConfig, "floor-config", "scripts/bench/floor.yaml", "the floor build's pipeline")
	flag.StringVar(&bins.baseline, "baseline", "_build/baselineexporter", "the baseline exporter (tools/baselineexporter)")
	windows := flag.Int("windows", 6, "measurement windows per process")
	window := flag.Duration("window", 10*time.Second, "length of a window")
	podEnv := flag.String("pod-env", "GOMAXPROCS=1,GOMEMLIMIT=80MiB", "the DaemonSet's runtime environment (deploy/kubernetes/base/daemonset.yaml)")
	out := flag.String("out", "docs/benchmarks", "where to write results.md and results.png")
	doc := flag.String("doc", "docs/benchmarks.md", "the document whose results section is replaced")
	flag.Parse()
	if *benchFile == "" {
		log.Fatal("benchreport: -bench is required")
	}
	raw, err := os.ReadFile(*benchFile)
	if err != nil {
		log.Fatal(err)
	}
	benches := parseBench(raw)
	for _, name := range []string{"TrackingRoundTrip/unix", "TrackingRoundTrip/udp", "Scrape/unix", "Scrape/udp", "ChronycTracking"} {
		if _, ok := benches[name]; !ok {
			log.Fatalf("benchreport: %s missing from %s", name, *benchFile)
		}
	}

	r := &testkit.Runner{}
	defer r.Close()
	env := strings.Split(*podEnv, ",")
	fp := footprints(r, bins, env, *windows, *window)

	report := render(benches) + renderFootprints(fp, env, *windows, *window)
	fmt.Print(report)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(report), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := drawPlot(benches, filepath.Join(*out, "results.png")); err != nil {
		log.Fatal(err)
	}
	if err := replaceSection(*doc, report); err != nil {
		log.Fatal(err)
	}
}

// result is the median of one benchmark's runs.
type result struct {
	runs                    int
	nsPerOp, bPerOp, allocs float64
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?`)

func parseBench(raw []byte) map[string]result {
	samples := map[string][][3]float64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		b, _ := strconv.ParseFloat(m[4], 64)
		a, _ := strconv.ParseFloat(m[5], 64)
		samples[m[1]] = append(samples[m[1]], [3]float64{ns, b, a})
	}
	out := map[string]result{}
	for name, s := range samples {
		col := func(i int) float64 {
			v := make([]float64, len(s))
			for j := range s {
				v[j] = s[j][i]
			}
			return median(v)
		}
		out[name] = result{runs: len(s), nsPerOp: col(0), bPerOp: col(1), allocs: col(2)}
	}
	return out
}

func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func fetch(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

func statusKiB(r *testkit.Runner, pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		r.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, field+":") {
			f, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return f
		}
	}
	r.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// smapsRollup splits RSS into anonymous memory (heap, stacks) and file-backed
// pages (mostly the binary's code and read-only data).
func smapsRollup(r *testkit.Runner, pid int) (anonKiB, fileKiB float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		r.Fatal(err)
	}
	var rss float64
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			rss = v
		case "Anonymous:":
			anonKiB = v
		}
	}
	return anonKiB, rss - anonKiB
}

func machine() string {
	model := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "model name") {
				model = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	chrony, _ := exec.Command("chronyd", "-v").Output()
	chronyVersion := strings.Fields(string(chrony))
	cv := "chrony"
	if len(chronyVersion) >= 4 {
		cv = "chrony " + chronyVersion[3]
	}
	return fmt.Sprintf("%s, %d cores, Linux %s, %s, %s", model, runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version(), cv)
}

func us(ns float64) string { return fmt.Sprintf("%.1f µs", ns/1e3) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// benchSources is how many sources the benchmarks' lab chronyd has
// (bench_test.go: the PHC0 refclock and one NTP server).
const benchSources = 2

func render(b map[string]result) string {
	var s strings.Builder
	rtUnix, rtUDP := b["TrackingRoundTrip/unix"], b["TrackingRoundTrip/udp"]
	scUnix, scUDP := b["Scrape/unix"], b["Scrape/udp"]
	chronyc := b["ChronycTracking"]
	// One scrape: tracking, the source count, then sourcedata and sourcestats
	// per source in one batch (names are cached after the first scrape).
	trips := float64(2 + 2*benchSources)

	fmt.Fprintf(&s, "Measured %s on %s.\n\n", time.Now().UTC().Format("2006-01-02"), machine())
	fmt.Fprintf(&s, "Medians of %d runs each (`go test -bench -count`), against a lab chronyd on loopback with %d sources.\n\n", rtUnix.runs, benchSources)
	s.WriteString("| Operation | Time | Allocations | Bytes |\n| --- | --- | --- | --- |\n")
	for _, row := range []struct {
		label string
		r     result
	}{
		{"tracking round trip, unix socket (bare protocol)", rtUnix},
		{"tracking round trip, UDP (bare protocol)", rtUDP},
		{fmt.Sprintf("full scrape, unix socket (%.0f requests in 3 exchanges, metrics built)", trips), scUnix},
		{fmt.Sprintf("full scrape, UDP (%.0f requests in 3 exchanges, metrics built)", trips), scUDP},
		{"`chronyc -c tracking` subprocess, parsed (the sidecar's way)", chronyc},
	} {
		fmt.Fprintf(&s, "| %s | %s | %.0f | %.0f |\n", row.label, us(row.r.nsPerOp), row.r.allocs, row.r.bPerOp)
	}
	s.WriteString("\n| Ratio | Value | Target | |\n| --- | --- | --- | --- |\n")
	ratioUnix := scUnix.nsPerOp / (trips * rtUnix.nsPerOp)
	ratioUDP := scUDP.nsPerOp / (trips * rtUDP.nsPerOp)
	subprocess := chronyc.nsPerOp / rtUnix.nsPerOp
	fmt.Fprintf(&s, "| full scrape ÷ sum of its requests' bare round trips, unix | %.2f | ≤ 2 | %s |\n", ratioUnix, verdict(ratioUnix <= 2))
	fmt.Fprintf(&s, "| full scrape ÷ sum of its requests' bare round trips, UDP | %.2f | ≤ 2 | %s |\n", ratioUDP, verdict(ratioUDP <= 2))
	fmt.Fprintf(&s, "| chronyc subprocess ÷ tracking round trip (unix) | %.0f× | ≥ 100× | %s |\n", subprocess, verdict(subprocess >= 100))
	fmt.Fprintf(&s, "| chronyc subprocess ÷ full scrape (unix) | %.1f× | | |\n", chronyc.nsPerOp/scUnix.nsPerOp)

	return s.String()
}

func drawPlot(b map[string]result, path string) error {
	labels := []string{"RTT unix", "RTT UDP", "scrape unix", "scrape UDP", "chronyc"}
	names := []string{"TrackingRoundTrip/unix", "TrackingRoundTrip/udp", "Scrape/unix", "Scrape/udp", "ChronycTracking"}
	// Bars of log10(µs) on a linear axis, ticks labelled in µs: a bar chart
	// cannot start at zero on a log scale.
	const floor = 1 // 10 µs: the axis starts here
	values := make(plotter.Values, len(names))
	top := 0.0
	for i, n := range names {
		values[i] = math.Log10(b[n].nsPerOp/1e3) - floor
		top = max(top, values[i])
	}
	p := plot.New()
	p.Title.Text = "Cost of one sample (median, log scale)"
	p.Y.Label.Text = "microseconds"
	var ticks []plot.Tick
	for e := 0; e <= int(math.Ceil(top)); e++ {
		ticks = append(ticks, plot.Tick{Value: float64(e), Label: strconv.FormatFloat(math.Pow(10, float64(e+floor)), 'f', -1, 64)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = 0, math.Ceil(top)
	bars, err := plotter.NewBarChart(values, vg.Points(40))
	if err != nil {
		return err
	}
	p.Add(bars)
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}

// replaceSection puts report between the results markers of doc.
func replaceSection(doc, report string) error {
	const begin, end = "<!-- results:begin -->\n", "<!-- results:end -->"
	raw, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	s := string(raw)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q ... %q section", doc, begin, end)
	}
	return os.WriteFile(doc, []byte(s[:i+len(begin)]+report+s[j:]), 0o644)
}
