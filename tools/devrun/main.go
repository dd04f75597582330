// Command devrun is `make run`: otelcol-chrony against this machine's chronyd,
// or against a lab chronyd it starts when none answers, with one line per
// scrape on the terminal. Ctrl-C stops everything it started and removes its
// temporary files.
//
// With -lab it only starts a lab chronyd, prints its endpoint and runs until
// interrupted (make bench profiles the collector against it).
//
// Settings come from the environment, as the collector's configuration does:
// OTELCOL and CONFIG (the program and its configuration), CHRONY_ENDPOINT (skip
// the search), PROMETHEUS_ENDPOINT, CHRONY_COLLECTION_INTERVAL, K8S_NODE_NAME,
// and TMPDIR for the lab.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
)

func main() {
	labOnly := flag.Bool("lab", false, "only start a lab chronyd, print its endpoint and run until interrupted")
	endpointFile := flag.String("endpoint-file", "", "with -lab: also write the endpoint to this file once chronyd is synchronised")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &testkit.Runner{}
	defer r.Close()
	var err error
	if *labOnly {
		err = runLab(ctx, r, *endpointFile)
	} else {
		err = run(ctx, r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		r.Close()
		os.Exit(1)
	}
}

type settings struct {
	otelcol, config, endpoint, prometheus, nodeName string
	interval                                        time.Duration
}

func fromEnv() (settings, error) {
	s := settings{
		otelcol:    env("OTELCOL", "_build/otelcol-chrony"),
		config:     env("CONFIG", "deploy/config/local.yaml"),
		endpoint:   os.Getenv("CHRONY_ENDPOINT"),
		prometheus: env("PROMETHEUS_ENDPOINT", "127.0.0.1:9464"),
		nodeName:   os.Getenv("K8S_NODE_NAME"),
	}
	interval := env("CHRONY_COLLECTION_INTERVAL", "10s")
	d, err := time.ParseDuration(interval)
	if err != nil || d <= 0 {
		return s, fmt.Errorf("CHRONY_COLLECTION_INTERVAL %q: want a positive duration such as 10s", interval)
	}
	s.interval = d
	if s.nodeName == "" {
		s.nodeName, _ = os.Hostname()
	}
	return s, nil
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func run(ctx context.Context, r *testkit.Runner) error {
	s, err := fromEnv()
	if err != nil {
		return err
	}
	metricsURL := "http://" + s.prometheus + "/metrics"
	col, err := startCollector(s, s.endpoint)
	if err != nil {
		return err
	}
	defer col.stop()

	switch up, err := firstScrape(ctx, col, metricsURL); {
	case errors.Is(err, context.Canceled):
		fmt.Println("\nrun: stopping")
		return nil
	case err != nil:
		return err
	case s.endpoint != "":
		fmt.Printf("run: reading chronyd at %s (CHRONY_ENDPOINT)\n", s.endpoint)
	case up:
		// The receiver looked where chronyc looks: the unix socket, then UDP 323.
		fmt.Println("run: found this machine's chronyd (unix socket or UDP 323, as chronyc looks)")
	default:
		fmt.Println("run: no chronyd answered on this machine (the collector's WARN line above says why)")
		fmt.Println("run: starting a lab chronyd instead (chronyd -x: it never touches the system clock)")
		col.stop()
		endpoint, err := startLab(ctx, r)
		if err != nil {
			return err
		}
		fmt.Printf("run: lab chronyd synchronised, reading it at %s\n", endpoint)
		if col, err = startCollector(s, endpoint); err != nil {
			return err
		}
		defer col.stop()
	}

	fmt.Printf("run: metrics for Prometheus at %s (for example: curl -s %s | grep ntp_time_max_error)\n", metricsURL, metricsURL)
	fmt.Println("run: one line per scrape below: the sync state, the reference, the bound on the clock's error; Ctrl-C stops")
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		line := "waiting for the collector"
		if page, err := fetch(metricsURL); err == nil {
			line = summarise(page)
		}
		fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), line)
		select {
		case <-ctx.Done():
			fmt.Println("\nrun: stopping")
			return nil
		case err := <-col.exited:
			return fmt.Errorf("%s exited: %v", s.otelcol, err)
		case <-tick.C:
		}
	}
}

// firstScrape waits for the collector's first scrape and tells whether
// chronyd answered it: the receiver's own search, not a second one here.
func firstScrape(ctx context.Context, col *collector, url string) (bool, error) {
	deadline := time.After(60 * time.Second)
	for {
		if page, err := fetch(url); err == nil {
			if up := gauge(page, "chrony_up"); !math.IsNaN(up) {
				return up == 1, nil
			}
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case err := <-col.exited:
			return false, fmt.Errorf("the collector exited before its first scrape: %v", err)
		case <-deadline:
			return false, fmt.Errorf("no chrony_up on %s after 60 s", url)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func gauge(page, name string) float64 {
	for line := range strings.Lines(page) {
		if m := sample.FindStringSubmatch(strings.TrimSpace(line)); m != nil && m[1] == name {
			if v, err := strconv.ParseFloat(m[3], 64); err == nil {
				return v
			}
		}
	}
	return math.NaN()
}

type collector struct {
	cmd    *exec.Cmd
	exited chan error
}

// startCollector runs otelcol-chrony logging only warnings, as console lines
// for a person (the shipped cluster configurations keep JSON); the receiver
// warns once when chronyd stops answering and says when it answers again.
func startCollector(s settings, endpoint string) (*collector, error) {
	cmd := exec.Command(s.otelcol, "--config", s.config,
		"--set=service::telemetry::logs::encoding=console", "--set=service::telemetry::logs::level=warn")
	cmd.Env = append(os.Environ(), "CHRONY_ENDPOINT="+endpoint, "PROMETHEUS_ENDPOINT="+s.prometheus,
		"K8S_NODE_NAME="+s.nodeName, "CHRONY_COLLECTION_INTERVAL="+s.interval.String())
	cmd.Stdout = os.Stdout
	logs, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("read the logs of %s: %w", s.otelcol, err)
	}
	go readableLogs(logs, os.Stdout)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (make run builds it): %w", s.otelcol, err)
	}
	c := &collector{cmd: cmd, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()
	return c, nil
}

// stop ends the collector and waits for it; a second call does nothing.
func (c *collector) stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

// startLab starts a lab chronyd (installing Debian's chrony first when it is
// missing) and waits until it is synchronised. r removes it on exit.
func startLab(ctx context.Context, r *testkit.Runner) (string, error) {
	if _, err := exec.LookPath("chronyd"); err != nil {
		if _, err := os.Stat("/usr/sbin/chronyd"); err != nil {
			install := exec.CommandContext(ctx, "./scripts/install-deps.sh", "chrony")
			install.Stdout, install.Stderr = os.Stdout, os.Stderr
			if err := install.Run(); err != nil {
				return "", fmt.Errorf("install chrony for the lab: %w", err)
			}
		}
	}
	lab := chronylab.Start(r, chronylab.Options{Refclock: true})
	lab.WaitSynced()
	return lab.UnixEndpoint(), nil
}

// runLab is -lab: a lab chronyd alone, for another program to read.
func runLab(ctx context.Context, r *testkit.Runner, endpointFile string) error {
	lab := chronylab.Start(r, chronylab.Options{Refclock: true})
	fmt.Fprintf(os.Stderr, "lab: chronyd -x (no clock control) in %s; waiting for it to synchronise\n", lab.Dir())
	lab.WaitSynced()
	fmt.Println(lab.UnixEndpoint())
	if endpointFile != "" {
		if err := os.WriteFile(endpointFile, []byte(lab.UnixEndpoint()+"\n"), 0o644); err != nil {
			return fmt.Errorf("write the endpoint to %s: %w", endpointFile, err)
		}
	}
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "lab: stopping chronyd and removing", lab.Dir())
	return nil
}
