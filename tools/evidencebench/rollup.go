package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/synclog"
)

// rollupBench measures `chrony-evidence rollup` over a year of daily
// reports of a large fleet. One daily report is made by the tool's own
// writer from a ledger filled step by step; the other days are that report
// with its summary's times moved to the day, its other files hard-linked
// (the rollup verifies and hashes every byte all the same) and a manifest
// of their own. So the inputs are as large and as valid as real ones; the
// figures they carry repeat.
func rollupBench(dir string, nodes, days int, evidenceBin string) (string, error) {
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	first := filepath.Join(dir, from.Format("2006-01-02"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	spool, err := os.CreateTemp(dir, "sync-log-*.parquet")
	if err != nil {
		return "", err
	}
	defer os.Remove(spool.Name())
	// The day accounted without the log, then with it: the difference is
	// the log's cost.
	start := time.Now()
	dailyResult(from, nodes, nil)
	accounted := time.Since(start)
	log := synclog.NewWriter(spool)
	start = time.Now()
	res := dailyResult(from, nodes, log.Add)
	rows, err := log.Close()
	if err != nil {
		return "", err
	}
	spool.Close()
	logTime := time.Since(start) - accounted
	fi, err := os.Stat(spool.Name())
	if err != nil {
		return "", err
	}
	start = time.Now()
	if _, err := report.Write(report.Dir(first), res, report.Meta{Profile: "mifid_ii_algo"}, report.Run{Version: "bench", DataSource: "synthetic",
		Generated: time.Now().UTC().Truncate(time.Second), SyncLog: spool.Name(), SyncLogRows: rows}); err != nil {
		return "", err
	}
	writeFirst := time.Since(start)
	inputs := []string{first}
	for d := 1; d < days; d++ {
		day := from.AddDate(0, 0, d)
		out := filepath.Join(dir, day.Format("2006-01-02"))
		if err := shiftedCopy(first, out, day.Sub(from)); err != nil {
			return "", err
		}
		inputs = append(inputs, out)
	}
	size := dirSize(first)

	out := filepath.Join(dir, "year")
	cmd := exec.Command(evidenceBin, append([]string{"rollup", "--out", out}, inputs...)...)
	// As the CronJobs run it.
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=400MiB")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start = time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("chrony-evidence rollup: %v\n%s", err, stderr.String())
	}
	wall := time.Since(start)
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	var table bytes.Buffer
	fmt.Fprintf(&table, "Measured %s on %s, %d CPUs, %s (`make bench-rollup`):\n\n", time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), memTotal())
	table.WriteString("| Nodes | Daily reports | One daily report | of which sync-log.parquet | Writing the log | Writing the rest | `rollup` wall time | Peak RSS (GOMEMLIMIT=400MiB, as the CronJobs) | The year's report |\n")
	table.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&table, "| %d | %d | %.1f MB | %.1f MB, %s rows (%.1f bytes a row) | %s | %s | %s | %.0f MiB | %.1f MB |\n", nodes, days, float64(size)/1e6,
		float64(fi.Size())/1e6, thousands(int(rows)), float64(fi.Size())/float64(max(rows, 1)), logTime.Round(100*time.Millisecond), writeFirst.Round(100*time.Millisecond),
		wall.Round(100*time.Millisecond), rss, float64(dirSize(out))/1e6)
	return table.String(), nil
}

// dailyResult is a day of a fleet at 30 s: every node checked against two
// servers, a 10-minute outage of chronyd on every node, a 3-minute breach
// on every tenth and a 20-minute disagreement on every twentieth.
func dailyResult(from time.Time, nodes int, onStep func(evidence.StepRecord)) *evidence.Result {
	p := evidence.Period{From: from, Step: 30 * time.Second, Steps: 2880}
	l := evidence.NewLedger(p, 1e-3)
	l.OnStep = onStep
	for i := range nodes {
		n := l.Add(fmt.Sprintf("aks-nodepool1-%08d-vmss%06d", 31415926, i), "bench", []evidence.Span{{Start: 0, End: p.Steps}}, true)
		for k := range p.Steps {
			r := evidence.Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 150e-6 + 50e-6*math.Sin(float64(k+i)/200),
				UTC: evidence.UTCReading{HaveConsistent: true, MinConsistent: 1, HaveBound: true, MinBound: 320e-6, HaveOffset: true, MaxAbsOffset: 80e-6, Offset: 80e-6 * math.Cos(float64(k)/50)},
				Log: evidence.StepLog{HaveLastOffset: true, LastOffset: 2e-6 * math.Sin(float64(k*7+i)), HaveRefAge: true, RefAge: float64(k%16) * 0.125, ReferenceID: "50484330"}}
			switch {
			case k >= 360 && k < 380:
				r = evidence.Reading{HaveUp: true, MinUp: 0, UTC: r.UTC}
			case i%10 == 0 && k >= 1080 && k < 1086:
				r.MaxErr = 2e-3
			case i%20 == 0 && k >= 2160 && k < 2200:
				r.UTC.MinConsistent, r.UTC.MinBound = 0, 4.3e-3
			}
			l.Account(n, k, r)
		}
	}
	l.Finish()
	servers := []evidence.Server{}
	for _, a := range []string{"ntp1.bench:123", "ntp2.bench:123"} {
		s := evidence.NewServer(a)
		s.Nodes, s.UpSamples, s.AnsweredSamples, s.ConsistentSamples = nodes, int64(nodes*p.Steps), int64(nodes*p.Steps), int64(nodes*p.Steps)
		s.WorstBound, s.AbsOffsetMax = 610e-6, 120e-6
		s.Identities = []evidence.ServerIdentity{{Stratum: "1", ReferenceID: "47505300", ReferenceName: "GPS", Samples: int64(nodes * p.Steps)}}
		servers = append(servers, *s)
	}
	return &evidence.Result{Ledger: l, Inventory: "synthetic", WindowSemantic: "synthetic", UTCWindow: 5 * time.Minute, Servers: servers,
		Collectors: []evidence.CollectorBuild{{Command: "otelcol-chrony", Version: "bench"}}}
}

// shiftedCopy makes dst the report in src moved by shift: summary.json's
// times move, the other files are hard links, and the manifest is
// rewritten for the new summary.
func shiftedCopy(src, dst string, shift time.Duration) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(src, "summary.json"))
	if err != nil {
		return err
	}
	var s report.Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	mv := func(t *string) {
		if tt, err := time.Parse(time.RFC3339, *t); err == nil {
			*t = tt.Add(shift).UTC().Format(time.RFC3339)
		}
	}
	mv(&s.From)
	mv(&s.To)
	for i := range s.Nodes {
		n := &s.Nodes[i]
		mv(&n.WorstAt)
		mv(&n.WorstUTCAt)
		for j := range n.Outages {
			mv(&n.Outages[j].Start)
			mv(&n.Outages[j].End)
		}
		for j := range n.UTCOutages {
			mv(&n.UTCOutages[j].Start)
			mv(&n.UTCOutages[j].End)
		}
	}
	summary, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	summary = append(summary, '\n')
	rawManifest, err := os.ReadFile(filepath.Join(src, report.ManifestName))
	if err != nil {
		return err
	}
	var m report.Manifest
	if err := json.Unmarshal(rawManifest, &m); err != nil {
		return err
	}
	m.From, m.To = s.From, s.To
	for i, f := range m.Files {
		if f.Name == "summary.json" {
			sum := sha256.Sum256(summary)
			m.Files[i].SHA256, m.Files[i].Bytes = hex.EncodeToString(sum[:]), len(summary)
			continue
		}
		if err := os.Link(filepath.Join(src, f.Name), filepath.Join(dst, f.Name)); err != nil {
			return err
		}
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dst, "summary.json"), summary, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, report.ManifestName), append(manifest, '\n'), 0o644)
}

func dirSize(dir string) int64 {
	var size int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	return size
}
