package chronyreceiver

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
)

// footprint is what must not grow over a long run.
type footprint struct {
	rssKiB     int
	heapKiB    int
	goroutines int
	fds        int
}

func measureFootprint(t *testing.T) footprint {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return footprint{rssKiB: selfRSSKiB(t), heapKiB: int(ms.HeapInuse / 1024), goroutines: runtime.NumGoroutine(), fds: len(fds)}
}

func selfRSSKiB(t *testing.T) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, resident int
	if _, err := fmt.Sscan(string(raw), &size, &resident); err != nil {
		t.Fatal(err)
	}
	return resident * os.Getpagesize() / 1024
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Many scrapes in a row, chronyd killed and restarted along the way: every
// scrape succeeds or is counted as failed (chrony.up 0 and nothing else), and
// nothing grows: memory, goroutines, file descriptors, reply socket files.
// make test runs 3,000 scrapes; make soak runs 100,000 (SOAK_SCRAPES).
func TestIntegrationSoak(t *testing.T) {
	scrapes := envInt("SOAK_SCRAPES", 3000)
	restarts := envInt("SOAK_RESTARTS", 1)
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	cfg := labConfig(lab.UnixEndpoint())
	cfg.Timeout = 2 * time.Second
	s := startScraper(t, cfg)
	for range 200 { // warm up: caches, heap, connection
		if _, err := scrapeOnce(t, s); err != nil {
			t.Fatal(err)
		}
	}
	before := measureFootprint(t)

	restartEvery := scrapes / (restarts + 1)
	var ok, failed, restarted int
	var restartedAt time.Time
	var recoveries []time.Duration
	var firstErr error
	start := time.Now()
	for i := 1; i <= scrapes; i++ {
		if restarted < restarts && i%restartEvery == 0 {
			lab.KillChronyd()
			for range 5 {
				md, err := scrapeOnce(t, s)
				if err == nil || value(t, md, "chrony.up") != 0 || !slices.Equal(metricNames(md), sentWhileDown) {
					t.Fatalf("scrape of a killed chronyd: err %v, metrics %v", err, metricNames(md))
				}
				failed++
			}
			lab.StartChronyd()
			restarted++
			restartedAt = time.Now()
		}
		md, err := scrapeOnce(t, s)
		up := value(t, md, "chrony.up")
		switch {
		case err == nil && up == 1:
			ok++
			if !restartedAt.IsZero() {
				recoveries = append(recoveries, time.Since(restartedAt))
				restartedAt = time.Time{}
			}
		case err != nil && up == 0:
			failed++
			if firstErr == nil && !restartedAt.IsZero() {
				firstErr = err
			}
		default:
			t.Fatalf("scrape %d: err %v with chrony.up %v", i, err, up)
		}
	}
	took := time.Since(start)
	after := measureFootprint(t)
	t.Logf("%d scrapes ok, %d failed (chronyd restarted %d times, 5 scrapes each while down), %.0f scrapes/s",
		ok, failed, restarted, float64(ok+failed)/took.Seconds())
	t.Logf("before %+v, after %+v", before, after)
	t.Logf("back to chrony.up 1 after each restart in %v; first error while chronyd started: %v", recoveries, firstErr)

	if ok+failed != scrapes+5*restarts {
		t.Errorf("%d ok + %d failed, for %d scrapes and %d restarts", ok, failed, scrapes, restarts)
	}
	if len(recoveries) != restarts {
		t.Errorf("recovered from %d of %d restarts", len(recoveries), restarts)
	}
	for _, r := range recoveries {
		if r > 10*time.Second {
			t.Errorf("took %s to read chronyd again after a restart", r)
		}
	}
	if after.goroutines > before.goroutines+2 {
		t.Errorf("goroutines grew from %d to %d", before.goroutines, after.goroutines)
	}
	if after.fds > before.fds+2 {
		t.Errorf("open file descriptors grew from %d to %d", before.fds, after.fds)
	}
	if after.heapKiB > before.heapKiB+8*1024 {
		t.Errorf("heap in use grew from %d KiB to %d KiB", before.heapKiB, after.heapKiB)
	}
	if after.rssKiB > before.rssKiB+16*1024 {
		t.Errorf("RSS grew from %d KiB to %d KiB", before.rssKiB, after.rssKiB)
	}
	if err := s.shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertNoReplySockets(t, lab)
}
