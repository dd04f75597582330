package e2e

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// startDaemonSetProcess runs the DaemonSet's configuration on its build,
// its ports moved to loopback, without waiting for it to be healthy; it
// returns the readiness and liveness URLs.
func startDaemonSetProcess(t *testing.T, env ...string) (ready, live string, p *process) {
	t.Helper()
	health := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	args := append([]string{"--config=" + repoPath(t, daemonSetConfig)}, testbin.NodeHealthArgs(health)...)
	args = append(args,
		promEndpointArg(daemonSetConfig, fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))),
		"--set=receivers::chrony::collection_interval=2s",
		"--set=receivers::chrony::timeout=1s",
		"--set=service::telemetry::metrics::level=none")
	env = append([]string{"MY_POD_IP=127.0.0.1", "K8S_NODE_NAME=node-ready", "K8S_CLUSTER_NAME=cluster-ready", "COMPLIANCE_PROFILE=mifid_ii_algo"}, env...)
	p = start(t, "otelcol-chrony-node", env, binaryFor(t, daemonSetConfig), args...)
	return "http://" + health + "/ready", "http://" + health + "/live", p
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A new version that cannot read chronyd never becomes ready, so the
// DaemonSet's rollout (maxUnavailable 10%) stops on its first nodes, while
// liveness stays 200 (a restart would not help). One that reads chronyd is
// ready and stays so. Both run the DaemonSet's own configuration and flags,
// and are looked at once the readiness probe's initial delay would have
// passed, scaled to this test's 2 s interval and 1 s timeout.
func TestReadinessFollowsChronyd(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: what a wrong endpoint in a rollout reads.
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := udp.LocalAddr().String()
	udp.Close()
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()

	badReady, badLive, bad := startDaemonSetProcess(t, "CHRONY_ENDPOINT=udp://"+closed)
	goodReady, goodLive, good := startDaemonSetProcess(t, "CHRONY_ENDPOINT="+lab.UDPEndpoint())

	// 2 s initial delay, 1 s timeout, 10 s recovery window: by 20 s both
	// have settled.
	waitFor(t, 40*time.Second, "the collector that cannot read chronyd to turn unready", func() bool {
		if !bad.alive() {
			t.Fatalf("the collector exited:\n%s", bad.output())
		}
		return status(badReady) >= 400
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if got := status(badReady); got < 400 {
			t.Fatalf("the collector that cannot read chronyd answered readiness %d, want a failure (503) for as long as it cannot", got)
		}
		if got := status(badLive); got != http.StatusOK {
			t.Fatalf("liveness answered %d while chronyd is unreachable, want 200", got)
		}
		if got := status(goodReady); got != http.StatusOK {
			t.Fatalf("the collector that reads chronyd answered readiness %d, want 200\n%s", got, good.output())
		}
		if got := status(goodLive); got != http.StatusOK {
			t.Fatalf("liveness of the healthy collector answered %d", got)
		}
		time.Sleep(time.Second)
	}
}
