// Command evidencebench measures chrony-evidence at fleet scale: for each
// fleet size it backfills a real Prometheus (Debian's promtool and
// prometheus) with a month of series shaped as the shipped pipelines write
// them at 30 s, runs chrony-evidence over the whole month, and reports its
// wall time and peak RSS. `make bench-evidence` runs it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/fleetgen"
)

func main() {
	sizes := flag.String("nodes", "25,50,100", "fleet sizes, comma-separated")
	days := flag.Int("days", 30, "the period, in days")
	evidence := flag.String("evidence", "_build/chrony-evidence", "the chrony-evidence binary")
	work := flag.String("work", "", "a scratch directory (default: a new temporary one, removed at the end)")
	doc := flag.String("doc", "", "a Markdown file whose <!-- evidence-bench:begin/end --> block receives the table")
	rollupNodes := flag.Int("rollup-nodes", 0, "instead: measure `chrony-evidence rollup` of -rollup-days daily reports of this many nodes")
	rollupDays := flag.Int("rollup-days", 365, "with -rollup-nodes: how many daily reports")
	flag.Parse()
	dir := *work
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "evidencebench"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	if *rollupNodes > 0 {
		table, err := rollupBench(dir, *rollupNodes, *rollupDays, *evidence)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(table)
		if *doc != "" {
			if err := replaceBlockNamed(*doc, "rollup-bench", table); err != nil {
				log.Fatal(err)
			}
		}
		return
	}
	var rows []string
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("-nodes: %q is not a fleet size", s)
		}
		row, err := measure(filepath.Join(dir, fmt.Sprintf("fleet-%d", n)), n, *days, *evidence)
		if err != nil {
			log.Fatalf("%d nodes: %v", n, err)
		}
		rows = append(rows, row)
		fmt.Fprintln(os.Stderr, row)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "Measured %s on %s, %d CPUs, %s, with Debian's Prometheus %s (`make bench-evidence`):\n\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), memTotal(), promVersion())
	table.WriteString("| Nodes | Days at 30 s | Samples of chrony_up | Cross-check servers per node | Backfill (promtool) | chrony-evidence wall time | without the synchronisation log | Peak RSS | Wall time per node | RSS added per node since the first row |\n")
	table.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		table.WriteString(r + "\n")
	}
	fmt.Print(table.String())
	if *doc != "" {
		if err := replaceBlock(*doc, table.String()); err != nil {
			log.Fatal(err)
		}
	}
}

func replaceBlock(path, block string) error { return replaceBlockNamed(path, "evidence-bench", block) }

func replaceBlockNamed(path, name, block string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	s := string(raw)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q ... %q block", path, begin, end)
	}
	return os.WriteFile(path, []byte(s[:i+len(begin)]+block+s[j:]), 0o644)
}

func promVersion() string {
	out, _ := exec.Command("prometheus", "--version").Output()
	f := strings.Fields(string(out))
	if len(f) >= 3 {
		return f[2]
	}
	return "(unknown)"
}

var firstRSS float64
var firstNodes int

func measure(dir string, nodes, days int, evidence string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	from := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(time.Duration(days) * 24 * time.Hour)
	data := filepath.Join(dir, "data")
	backfillStart := time.Now()
	// In batches of 25 nodes: promtool reads its input whole.
	for b := 0; b*25 < nodes; b++ {
		fleet := benchFleet(from, to, b*25, min(nodes, (b+1)*25))
		om := filepath.Join(dir, "fleet.om")
		f, err := os.Create(om)
		if err != nil {
			return "", err
		}
		if err := fleet.WriteOpenMetrics(f); err != nil {
			return "", err
		}
		f.Close()
		if out, err := exec.Command("promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=720h", om, data).CombinedOutput(); err != nil {
			return "", fmt.Errorf("promtool: %v\n%s", err, tail(out))
		}
		os.Remove(om)
	}
	backfill := time.Since(backfillStart)

	addr, stop, err := startPrometheus(dir, data)
	if err != nil {
		return "", err
	}
	defer stop()

	run := func(name string, extra ...string) (time.Duration, float64, error) {
		cmd := exec.Command(evidence, append([]string{"--prometheus", "http://" + addr, "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339),
			"--profile", "mifid_ii_algo", "--out", filepath.Join(dir, name)}, extra...)...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("chrony-evidence: %v\n%s", err, stderr.String())
		}
		return time.Since(start), float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024, nil // KiB to MiB
	}
	// Without the synchronisation log first, as a monthly report is made
	// when its days keep theirs; then the default.
	noLog, _, err := run("report-without-log", "--sync-log=false")
	if err != nil {
		return "", err
	}
	wall, rss, err := run("report")
	if err != nil {
		return "", err
	}
	perNodeRSS := "-"
	if firstNodes == 0 {
		firstRSS, firstNodes = rss, nodes
	} else {
		perNodeRSS = fmt.Sprintf("%.2f MiB", (rss-firstRSS)/float64(nodes-firstNodes))
	}
	samples := nodes * days * 2880
	return fmt.Sprintf("| %d | %d | %s | %d | %s | %s | %s | %.0f MiB | %.0f ms | %s |", nodes, days, thousands(samples), crossCheckServers, backfill.Round(time.Second),
		wall.Round(100*time.Millisecond), noLog.Round(100*time.Millisecond), rss, float64(wall.Milliseconds())/float64(nodes), perNodeRSS), nil
}

// benchFleet is nodes [lo, hi) of a fleet where every node has the events
// a month brings: a 10-minute outage of chronyd each, a 3-minute breach on
// every tenth node, and a 12-hour gap on every 25th. Every node checks its
// clock against two servers, as the shipped cross-check configuration
// suggests: the second is down for an hour on every fifth node, and the
// first disagrees for 20 minutes on every twentieth.
// crossCheckServers is how many servers each node of benchFleet checks.
const crossCheckServers = 2

func benchFleet(from, to time.Time, lo, hi int) fleetgen.Fleet {
	whole := []fleetgen.Window{{Start: from, End: to}}
	f := fleetgen.Fleet{From: from, To: to, Interval: 30 * time.Second, Offset: 7 * time.Second, InventoryOffset: 3 * time.Second}
	for i := lo; i < hi; i++ {
		day := time.Duration(i%28) * 24 * time.Hour
		n := fleetgen.Node{
			Name: fmt.Sprintf("aks-nodepool1-%08d-vmss%06d", 31415926, i), Cluster: "bench", Profile: "mifid_ii_algo",
			Inventory: whole, Reporting: whole, Reference: "aks-host",
			Bound:       func(k int) float64 { return 150e-6 + 50e-6*math.Sin(float64(k+i)/200) },
			Unreachable: []fleetgen.Window{{Start: from.Add(day + 3*time.Hour), End: from.Add(day + 3*time.Hour + 10*time.Minute)}},
			BreachBound: 2e-3,
			Collector:   "bench",
		}
		ntp1 := fleetgen.CrossCheck{Address: "ntp1.bench:123", Stratum: 1, ReferenceID: "47505300", Reference: "GPS", Offset: 80e-6, Bound: 320e-6}
		ntp2 := fleetgen.CrossCheck{Address: "ntp2.bench:123", Stratum: 2, ReferenceID: "0A000001", Reference: "10.0.0.1", Offset: -120e-6, Bound: 610e-6}
		if i%5 == 0 {
			ntp2.Down = []fleetgen.Window{{Start: from.Add(day + 15*time.Hour), End: from.Add(day + 16*time.Hour)}}
		}
		if i%20 == 0 {
			ntp1.Disagree = []fleetgen.Window{{Start: from.Add(day + 18*time.Hour), End: from.Add(day + 18*time.Hour + 20*time.Minute)}}
			ntp1.DisagreeOffset, ntp1.DisagreeBound = 4e-3, 4.3e-3
		}
		n.CrossChecks = []fleetgen.CrossCheck{ntp1, ntp2}
		if i%10 == 0 {
			n.Breach = []fleetgen.Window{{Start: from.Add(day + 9*time.Hour), End: from.Add(day + 9*time.Hour + 3*time.Minute)}}
		}
		if i%25 == 0 {
			n.Reporting = []fleetgen.Window{{Start: from, End: from.Add(day + 12*time.Hour)}, {Start: from.Add(day + 24*time.Hour), End: to}}
		}
		f.Nodes = append(f.Nodes, n)
	}
	return f
}

func startPrometheus(dir, data string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte("global: {}\n"), 0o644); err != nil {
		return "", nil, err
	}
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd := exec.Command("prometheus", "--config.file="+conf, "--storage.tsdb.path="+data, "--storage.tsdb.retention.time=100y", "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); logf.Close() }
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, stop, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("prometheus not ready after 2 minutes (%s)", filepath.Join(dir, "prometheus.log"))
}

func tail(b []byte) string {
	if len(b) > 2000 {
		return string(b[len(b)-2000:])
	}
	return string(b)
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			f := strings.Fields(l)
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%.0f GiB RAM", float64(kb)/1024/1024)
		}
	}
	return ""
}
