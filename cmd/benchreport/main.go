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
	"syscall"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/chronylab"
)

func main() {
	benchFile := flag.String("bench", "", "output of go test -bench -benchmem -count N (required)")
	otelcol := flag.String("otelcol", "_build/otelcol-chrony", "the built collector")
	config := flag.String("config", "deploy/kubernetes/base/otelcol-chrony.yaml", "the pipeline to measure (the DaemonSet's)")
	duration := flag.Duration("duration", 60*time.Second, "how long to run the collector")
	interval := flag.Duration("interval", 100*time.Millisecond, "the collector's scrape interval")
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

	r := &chronylab.Runner{}
	defer r.Close()
	proc := measureCollector(r, *otelcol, *config, *duration, *interval)

	report := render(benches, proc, *interval, *duration)
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

// process is what the collector cost while scraping.
type process struct {
	scrapes           int
	cpu, idleCPU      time.Duration
	cpuPerScrape      time.Duration // all of the process's CPU, divided by the scrapes
	netCPUPerScrape   time.Duration // less what the idle collector used
	rssMedian, rssMax float64       // MiB, after warm-up
	anonMiB, fileMiB  float64       // RSS split at the end (smaps_rollup)
	dataPoints        int
	sources           int
}

func measureCollector(r *chronylab.Runner, otelcol, config string, duration, interval time.Duration) process {
	lab := chronylab.Start(r, chronylab.Options{Refclock: true})
	lab.WaitSynced()
	rows, err := lab.Chronyc("sources")
	if err != nil {
		r.Fatal(err)
	}
	busy := runCollector(r, lab, otelcol, config, duration, interval)
	// The same process with no scrape during the window: what the collector
	// costs by itself (timers, GC, the memory limiter's checks).
	idle := runCollector(r, lab, otelcol, config, duration, 10*duration)
	busy.sources = len(rows)
	busy.idleCPU = idle.cpu
	busy.cpuPerScrape = busy.cpu / time.Duration(busy.scrapes)
	busy.netCPUPerScrape = (busy.cpu - idle.cpu) / time.Duration(busy.scrapes)
	return busy
}

func runCollector(r *chronylab.Runner, lab *chronylab.Lab, otelcol, config string, duration, interval time.Duration) process {
	prom := strconv.Itoa(chronylab.FreeTCPPort(r))
	health := strconv.Itoa(chronylab.FreeTCPPort(r))
	cmd := exec.Command(otelcol, "--config="+config,
		"--set=exporters::prometheus::endpoint=127.0.0.1:"+prom,
		"--set=extensions::health_check::endpoint=127.0.0.1:"+health,
		"--set=receivers::chrony::collection_interval="+interval.String(),
		"--set=receivers::chrony::initial_delay=0s",
		"--set=service::telemetry::metrics::level=none")
	cmd.Env = append(os.Environ(), "MY_POD_IP=127.0.0.1", "CHRONY_ENDPOINT="+lab.UnixEndpoint(),
		"K8S_NODE_NAME=bench", "K8S_CLUSTER_NAME=bench", "COMPLIANCE_PROFILE=mifid_ii_hft")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Fatalf("start %s: %v", otelcol, err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	pid := cmd.Process.Pid

	// Warm up: the first scrapes fill caches and grow the heap to its size.
	time.Sleep(5 * time.Second)
	cpu0 := cpuTime(r, pid)
	start := time.Now()
	var rss []float64
	for time.Since(start) < duration {
		time.Sleep(time.Second)
		rss = append(rss, statusKiB(r, pid, "VmRSS")/1024)
	}
	elapsed := time.Since(start)
	cpu := cpuTime(r, pid) - cpu0
	anon, file := smapsRollup(r, pid)
	points := 0
	for _, line := range strings.Split(fetch("http://127.0.0.1:"+prom+"/metrics"), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "target_info") {
			points++
		}
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		r.Fatalf("the collector exited:\n%s", logs.String())
	}
	return process{
		scrapes:    int(elapsed / interval),
		cpu:        cpu,
		rssMedian:  median(slices.Clone(rss)),
		rssMax:     slices.Max(rss),
		anonMiB:    anon / 1024,
		fileMiB:    file / 1024,
		dataPoints: points,
	}
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

// cpuTime is user + system time of pid, from /proc/<pid>/stat.
func cpuTime(r *chronylab.Runner, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		r.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

func statusKiB(r *chronylab.Runner, pid int, field string) float64 {
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
func smapsRollup(r *chronylab.Runner, pid int) (anonKiB, fileKiB float64) {
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

func render(b map[string]result, p process, interval, duration time.Duration) string {
	var s strings.Builder
	rtUnix, rtUDP := b["TrackingRoundTrip/unix"], b["TrackingRoundTrip/udp"]
	scUnix, scUDP := b["Scrape/unix"], b["Scrape/udp"]
	chronyc := b["ChronycTracking"]
	// One scrape: tracking, the source count, then sourcedata and sourcestats
	// per source in one batch (names are cached after the first scrape).
	trips := float64(2 + 2*p.sources)

	fmt.Fprintf(&s, "Measured %s on %s.\n\n", time.Now().UTC().Format("2006-01-02"), machine())
	fmt.Fprintf(&s, "Medians of %d runs each (`go test -bench -count`), against a lab chronyd on loopback with %d sources.\n\n", rtUnix.runs, p.sources)
	s.WriteString("| Operation | Time | Allocations | Bytes |\n| --- | --- | --- | --- |\n")
	for _, row := range []struct {
		label string
		r     result
	}{
		{"tracking round trip, unix socket (bare protocol)", rtUnix},
		{"tracking round trip, UDP (bare protocol)", rtUDP},
		{fmt.Sprintf("full scrape, unix socket (%.0f requests in 3 exchanges, metrics built)", trips), scUnix},
		{fmt.Sprintf("full scrape, UDP (%.0f requests in 3 exchanges, metrics built)", trips), scUDP},
		{"`chronyc -c tracking` subprocess, parsed (the seed's way)", chronyc},
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

	fmt.Fprintf(&s, "\nThe collector process, `otelcol-chrony` with the DaemonSet's pipeline (deploy/kubernetes/base/otelcol-chrony.yaml), scraping every %s for %s after a 5 s warm-up (%d scrapes, %d series per scrape):\n\n", interval, duration, p.scrapes, p.dataPoints)
	s.WriteString("| Measure | Value | Target | |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&s, "| RSS, median (max) | %.1f MiB (%.1f MiB) | ≤ 30 MiB | %s |\n", p.rssMedian, p.rssMax, verdict(p.rssMedian <= 30))
	fmt.Fprintf(&s, "| RSS at the end: anonymous / file-backed | %.1f MiB / %.1f MiB | | |\n", p.anonMiB, p.fileMiB)
	fmt.Fprintf(&s, "| CPU per scrape, the process's user + system time ÷ scrapes | %.3f ms | ≤ 0.5 ms | %s |\n", float64(p.cpuPerScrape)/1e6, verdict(p.cpuPerScrape <= 500*time.Microsecond))
	fmt.Fprintf(&s, "| CPU per scrape, less the idle collector's %.0f ms over the same %s | %.3f ms | ≤ 0.5 ms | %s |\n", float64(p.idleCPU)/1e6, duration, float64(p.netCPUPerScrape)/1e6, verdict(p.netCPUPerScrape <= 500*time.Microsecond))
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
