package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// footprint is what one process costs per scrape, as medians over windows.
type footprint struct {
	name            string
	cpuPerScrape    time.Duration // all threads' CPU time ÷ scrapes
	ctxPerScrape    float64       // context switches of all threads ÷ scrapes
	rss, anon, file float64       // MiB, median over windows (anon and file at the end)
	binary          float64       // MiB, the program's file
	series          int
	// The thread that switched most over all windows: its switches per
	// scrape and its CPU per switch (docs/benchmarks.md: the runtime's
	// monitor, in a Go process).
	topThreadCtx      float64
	topThreadCPUPerSw time.Duration
}

// subject is a process to measure: how to start it, and where it serves.
type subject struct {
	name    string
	cmd     func(metricsAddr string) *exec.Cmd
	pull    bool // pull /metrics once per scrape
	perSec  float64
	windows int
	window  time.Duration
}

// measure runs s after a warm-up for its windows, pulling /metrics once a
// second when s.pull, and returns the medians. The CPU time is read from
// every thread's schedstat (nanoseconds), the switches from every thread's
// status.
func measure(r *testkit.Runner, s subject) footprint {
	addr := "127.0.0.1:" + strconv.Itoa(testkit.FreeTCPPort(r))
	cmd := s.cmd(addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Fatalf("start %s: %v", s.name, err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	pid := cmd.Process.Pid
	time.Sleep(5 * time.Second) // warm-up: caches, heap
	url := "http://" + addr + "/metrics"
	var cpu, ctx, rss []float64
	threads0, begin := perThread(pid), time.Now()
	for range s.windows {
		c0, x0 := threadCPU(r, pid), threadSwitches(pid)
		start := time.Now()
		for time.Since(start) < s.window {
			if s.pull {
				fetch(url)
			}
			time.Sleep(time.Second)
		}
		scrapes := time.Since(start).Seconds() * s.perSec
		cpu = append(cpu, float64(threadCPU(r, pid)-c0)/scrapes)
		ctx = append(ctx, float64(threadSwitches(pid)-x0)/scrapes)
		rss = append(rss, statusKiB(r, pid, "VmRSS")/1024)
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		r.Fatalf("%s exited:\n%s", s.name, logs.String())
	}
	var topCtx, topCPU float64
	for tid, end := range perThread(pid) {
		if start, ok := threads0[tid]; ok && end.switches-start.switches > topCtx {
			topCtx, topCPU = end.switches-start.switches, end.cpu-start.cpu
		}
	}
	var topCPUPerSw time.Duration
	if topCtx > 0 {
		topCPUPerSw = time.Duration(topCPU / topCtx)
	}
	allScrapes := time.Since(begin).Seconds() * s.perSec
	anon, file := smapsRollup(r, pid)
	series := 0
	for _, line := range strings.Split(fetch(url), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			series++
		}
	}
	var binary float64
	if st, err := os.Stat(cmd.Path); err == nil {
		binary = float64(st.Size()) / (1 << 20)
	}
	return footprint{name: s.name, cpuPerScrape: time.Duration(median(cpu)), ctxPerScrape: median(ctx),
		rss: median(rss), anon: anon / 1024, file: file / 1024, binary: binary, series: series,
		topThreadCtx: topCtx / allScrapes, topThreadCPUPerSw: topCPUPerSw}
}

// threadCPU is the CPU time of all of pid's threads, in nanoseconds.
func threadCPU(r *testkit.Runner, pid int) int64 {
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total int64
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that just exited
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
		total += ns
	}
	if len(paths) == 0 {
		r.Fatalf("no threads of %d", pid)
	}
	return total
}

type threadUse struct{ switches, cpu float64 }

// perThread is each of pid's threads' context switches and CPU time
// (nanoseconds), by thread id.
func perThread(pid int) map[string]threadUse {
	out := map[string]threadUse{}
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, dir := range dirs {
		status, err1 := os.ReadFile(dir + "/status")
		sched, err2 := os.ReadFile(dir + "/schedstat")
		if err1 != nil || err2 != nil {
			continue // a thread that just exited
		}
		var u threadUse
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "voluntary_ctxt_switches:") || strings.HasPrefix(line, "nonvoluntary_ctxt_switches:") {
				v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				u.switches += v
			}
		}
		u.cpu, _ = strconv.ParseFloat(strings.Fields(string(sched))[0], 64)
		out[filepath.Base(dir)] = u
	}
	return out
}

// threadSwitches is the voluntary and involuntary context switches of all of
// pid's threads.
func threadSwitches(pid int) float64 {
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var total float64
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "voluntary_ctxt_switches:") || strings.HasPrefix(line, "nonvoluntary_ctxt_switches:") {
				v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				total += v
			}
		}
	}
	return total
}

// footprints measures, against one lab chronyd followed over UDP as on a
// node: the DaemonSet's collector (otelcol-chrony-node) at 1 s with and
// without a pull per scrape, the baseline exporter pulled at 1 s, the
// DaemonSet's previous pipeline on the full build and the floor build of
// that pipeline (the contrib Prometheus exporter), and the node collector
// idle (for the cost at the shipped 30 s interval).
func footprints(r *testkit.Runner, bins builds, podEnv []string, windows int, window time.Duration) []footprint {
	lab := chronylab.Start(r, chronylab.Options{Refclock: true, NoUpstream: true})
	lab.WaitSynced()
	// The collectors run with the DaemonSet's environment (GOMAXPROCS,
	// GOMEMLIMIT), as on a node.
	env := append(append(os.Environ(), "MY_POD_IP=127.0.0.1", "CHRONY_ENDPOINT="+lab.UDPEndpoint(),
		"K8S_NODE_NAME=bench", "K8S_CLUSTER_NAME=bench", "COMPLIANCE_PROFILE=mifid_ii_hft"), podEnv...)
	free := func() string { return "127.0.0.1:" + strconv.Itoa(testkit.FreeTCPPort(r)) }
	collector := func(bin, cfg, interval string, endpoints func(metrics string) []string) func(string) *exec.Cmd {
		return func(addr string) *exec.Cmd {
			cmd := exec.Command(bin, append([]string{"--config=" + cfg,
				"--set=receivers::chrony::collection_interval=" + interval,
				"--set=receivers::chrony::timeout=1s",
				"--set=receivers::chrony::initial_delay=0s"}, endpoints(addr)...)...)
			cmd.Env = env
			return cmd
		}
	}
	// Each configuration's listeners moved to free loopback ports.
	node := func(metrics string) []string {
		return append(testbin.NodeHealthArgs(free()), "--set=exporters::prometheustext::endpoint="+metrics)
	}
	full := func(metrics string) []string {
		return append(testbin.FullHealthArgs(free(), free()), "--set=exporters::prometheus::endpoint="+metrics,
			// As measured before: its internal metrics off.
			"--set=service::telemetry::metrics::level=none")
	}
	floor := func(metrics string) []string {
		return []string{"--set=exporters::prometheus::endpoint=" + metrics, "--set=service::telemetry::metrics::level=none"}
	}
	port := strings.TrimPrefix(lab.UDPEndpoint(), "udp://")
	subjects := []subject{
		{name: "otelcol-chrony-node, DaemonSet pipeline, scrape + pull", cmd: collector(bins.node, bins.nodeConfig, "1s", node), pull: true},
		{name: "otelcol-chrony-node, DaemonSet pipeline, scrape only", cmd: collector(bins.node, bins.nodeConfig, "1s", node)},
		{name: "baseline exporter (Prometheus Go client), exchange + pull, same environment", cmd: func(addr string) *exec.Cmd {
			cmd := exec.Command(bins.baseline, "-chronyd", port, "-listen", addr)
			cmd.Env = append(os.Environ(), podEnv...)
			return cmd
		}, pull: true},
		{name: "baseline exporter, Go's defaults", cmd: func(addr string) *exec.Cmd {
			return exec.Command(bins.baseline, "-chronyd", port, "-listen", addr)
		}, pull: true},
		{name: "otelcol-chrony (full build), the previous DaemonSet pipeline, scrape + pull", cmd: collector(bins.full, bins.fullConfig, "1s", full), pull: true},
		{name: "floor build of the previous pipeline (chrony receiver + contrib Prometheus exporter), scrape + pull", cmd: collector(bins.floor, bins.floorConfig, "1s", floor), pull: true},
		{name: "otelcol-chrony-node, DaemonSet pipeline, idle", cmd: collector(bins.node, bins.nodeConfig, "1h", node)},
	}
	var out []footprint
	for _, s := range subjects {
		s.perSec, s.windows, s.window = 1, windows, window
		out = append(out, measure(r, s))
	}
	return out
}

// builds are the programs and configurations footprints measures.
type builds struct {
	node, nodeConfig, full, fullConfig, floor, floorConfig, baseline string
}

func renderFootprints(f []footprint, podEnv []string, windows int, window time.Duration) string {
	var s strings.Builder
	col, scrapeOnly, base, previous, floor, idle := f[0], f[1], f[2], f[4], f[5], f[6]
	fmt.Fprintf(&s, "\nThe processes, against a lab chronyd over UDP with one refclock (an AKS node), at a 1 s interval with one `/metrics` pull per scrape, medians of %d windows of %s after a 5 s warm-up, the collectors with the DaemonSet's environment (%s). CPU is the sum of every thread's run time (schedstat), context switches the sum of every thread's:\n\n", windows, window, strings.Join(podEnv, " "))
	s.WriteString("| Process | CPU per scrape | Context switches per scrape | RSS (anonymous + file-backed) | Binary | Series |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, p := range f[:6] {
		fmt.Fprintf(&s, "| %s | %.3f ms | %.1f | %.1f MiB (%.1f + %.1f) | %.1f MiB | %d |\n", p.name, float64(p.cpuPerScrape)/1e6, p.ctxPerScrape, p.rss, p.anon, p.file, p.binary, p.series)
	}
	idlePerSec := float64(idle.cpuPerScrape) // per second: perSec is 1
	milli := (idlePerSec + float64(col.cpuPerScrape)/30) / 1e6
	ratio := float64(col.cpuPerScrape) / float64(base.cpuPerScrape)
	s.WriteString("\n| Target | Value | Target | |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&s, "| CPU per scrape + pull ÷ the baseline's (same environment) | %.2f | ≤ 1.5 | %s |\n", ratio, verdict(ratio <= 1.5))
	fmt.Fprintf(&s, "| context switches per scrape + pull | %.1f | ≤ 8 | %s |\n", col.ctxPerScrape, verdict(col.ctxPerScrape <= 8))
	fmt.Fprintf(&s, "| of which the thread that switches most (%.0f µs of CPU a switch) | %.1f | | |\n", float64(col.topThreadCPUPerSw)/1e3, col.topThreadCtx)
	fmt.Fprintf(&s, "| the same for the baseline (%.0f µs of CPU a switch) | %.1f of %.1f | | |\n", float64(base.topThreadCPUPerSw)/1e3, base.topThreadCtx, base.ctxPerScrape)
	fmt.Fprintf(&s, "| RSS of the DaemonSet's collector | %.1f MiB | ≤ 25 MiB | %s |\n", col.rss, verdict(col.rss <= 25))
	fmt.Fprintf(&s, "| CPU per scrape + pull, previous pipeline ÷ the baseline's | %.2f | | |\n", float64(previous.cpuPerScrape)/float64(base.cpuPerScrape))
	fmt.Fprintf(&s, "| RSS of the previous pipeline (full build) | %.1f MiB | | |\n", previous.rss)
	fmt.Fprintf(&s, "| RSS of the previous pipeline's floor build | %.1f MiB | | |\n", floor.rss)
	fmt.Fprintf(&s, "| CPU per scrape without pulls | %.3f ms | | |\n", float64(scrapeOnly.cpuPerScrape)/1e6)
	fmt.Fprintf(&s, "| idle collector | %.3f ms of CPU per second | | |\n", idlePerSec/1e6)
	fmt.Fprintf(&s, "| at the shipped 30 s interval, one pull per scrape | %.3f millicores | | |\n", milli)
	return s.String()
}
