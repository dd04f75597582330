// Package testbin finds the built otelcol-chrony for tests and runs its
// validate command.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Otelcol returns the distribution `make build` leaves in _build/. Missing,
// the test fails when CI=true (make test builds it first) and is skipped
// elsewhere.
func Otelcol(t testing.TB) string {
	t.Helper()
	return built(t, "otelcol-chrony")
}

func built(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(RepoRoot(), "_build", name)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: make test builds it before the tests (make build)", path)
		}
		t.Skipf("%s missing: run make build (make test does)", path)
	}
	return path
}

// DaemonSetFeatureGates is the flag the DaemonSet and the chart pass: the
// health check follows the receiver's component status (readiness).
const DaemonSetFeatureGates = "--feature-gates=+extension.healthcheck.useComponentStatus"

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
	cmd := exec.Command(Otelcol(t), "validate", "--config="+config, DaemonSetFeatureGates)
	cmd.Env = append(append(os.Environ(), ValidateEnv...), env...)
	return cmd.CombinedOutput()
}

// Evidence returns the chrony-evidence command `make build` leaves in
// _build/, with the same rules as Otelcol.
func Evidence(t testing.TB) string {
	t.Helper()
	return built(t, "chrony-evidence")
}
