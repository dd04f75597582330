// Package testbin finds the built distributions (otelcol-chrony and
// otelcol-chrony-node) for tests and runs their validate command.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Otelcol returns the distribution `make build` leaves in _build/. Missing,
// the test fails when CI=true (make test builds it first) and is skipped
// elsewhere.
func Otelcol(t testing.TB) string {
	t.Helper()
	return built(t, "otelcol-chrony")
}

// Node returns the DaemonSet's lean build, otelcol-chrony-node, with the
// same rules as Otelcol.
func Node(t testing.TB) string {
	t.Helper()
	return built(t, filepath.Join("node", "otelcol-chrony-node"))
}

// ForCommand returns the built distribution a container runs: the image's
// entrypoint /otelcol-chrony unless the command names /otelcol-chrony-node.
func ForCommand(t testing.TB, command []string) string {
	t.Helper()
	if len(command) > 0 && filepath.Base(command[0]) == "otelcol-chrony-node" {
		return Node(t)
	}
	return Otelcol(t)
}

func built(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(RepoRoot(), "_build", name)
	if _, err := os.Stat(path); err != nil {
		testkit.Unavailable(t, path+" missing", "run make build; make test does")
	}
	return path
}

// HealthCheckFeatureGate is the flag the full build's DaemonSets (remote
// write) pass: the contrib health check follows the components' status.
// otelcol-chrony-node has its own readiness extension and no such gate.
const HealthCheckFeatureGate = "--feature-gates=+extension.healthcheck.useComponentStatus"

// NodeHealthArgs move the DaemonSet's readiness extension (/ready and /live,
// otelcol-chrony-node) to addr.
func NodeHealthArgs(addr string) []string {
	return []string{"--set=extensions::readiness::endpoint=" + addr}
}

// FullHealthArgs are the remote-write DaemonSet's flag and its two contrib
// health checks (otelcol-chrony) moved to the ready and live addresses.
func FullHealthArgs(ready, live string) []string {
	return []string{HealthCheckFeatureGate,
		"--set=extensions::health_check::http::endpoint=" + ready,
		"--set=extensions::health_check/live::http::endpoint=" + live}
}

// ValidateEnv is what shipped configurations read from the environment,
// with placeholder values that make them complete.
var ValidateEnv = []string{
	"REMOTE_WRITE_URL=http://127.0.0.1:9/api/v1/write",
	"OTLP_ENDPOINT=http://127.0.0.1:4317",
	"K8S_NODE_NAME=node",
	"K8S_CLUSTER_NAME=cluster",
	"COMPLIANCE_PROFILE=mifid_ii_algo",
	"MY_POD_IP=127.0.0.1",
}

// Validate runs `otelcol-chrony validate` on a configuration file, with env
// added to ValidateEnv, and returns its combined output and error.
func Validate(t testing.TB, config string, env ...string) ([]byte, error) {
	t.Helper()
	return ValidateWith(t, Otelcol(t), config, env...)
}

// ValidateWith is Validate with the given distribution. The full build is
// run with the flag its DaemonSets pass: without it the contrib health
// check refuses their component-status configuration.
func ValidateWith(t testing.TB, bin, config string, env ...string) ([]byte, error) {
	t.Helper()
	args := []string{"validate", "--config=" + config}
	if filepath.Base(bin) == "otelcol-chrony" {
		args = append(args, HealthCheckFeatureGate)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), ValidateEnv...), env...)
	return cmd.CombinedOutput()
}

// DevRun returns tools/devrun, the program behind `make run`, which make
// builds into _build/tools, with the same rules as Otelcol.
func DevRun(t testing.TB) string {
	t.Helper()
	return built(t, filepath.Join("tools", "devrun"))
}

// Evidence returns the chrony-evidence command `make build` leaves in
// _build/, with the same rules as Otelcol.
func Evidence(t testing.TB) string {
	t.Helper()
	return built(t, "chrony-evidence")
}
