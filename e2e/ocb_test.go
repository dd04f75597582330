package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// An outside user's distribution: the core OTLP receiver, our receiver as a
// module (replaced by this working tree, as a user who vendors or forks it
// would) and the debug exporter, built with the same ocb in a directory of its
// own. What adding the receiver adds to the module graph, measured against the
// same distribution without it, must be the receiver and what it needs, and
// none of this repository's tooling: the benchmark plots (gonum), the image
// builder (go-containerregistry), the deploy tests (k8s.io) or Helm. (The
// collector's own graph holds some of those already, through gRPC's and
// other modules' requirements; the comparison keeps them out of the verdict.)
func TestOutsideOcbBuildPullsOnlyTheReceiver(t *testing.T) {
	builder := filepath.Join(testbin.RepoRoot(), ".tools", "builder")
	if _, err := os.Stat(builder); err != nil {
		testkit.Unavailable(t, builder+" missing", "run make build; make test does")
	}
	receiver, err := filepath.Abs(filepath.Join(testbin.RepoRoot(), "receiver", "chronyreceiver"))
	if err != nil {
		t.Fatal(err)
	}
	baseline := ocbModules(t, builder, "", "--skip-compilation")
	// The receiver's tests import the repository's test kit, so a fork
	// replaces it too, as a fork of a contrib receiver replaces
	// contrib's internal/common.
	withChrony := ocbModules(t, builder, fmt.Sprintf(`  - gomod: github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver v0.0.0
replaces:
  - github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver => %s
  - github.com/chronyotel/otelcol-chrony/internal/testkit => %s
`, receiver, filepath.Join(testbin.RepoRoot(), "internal", "testkit")))
	var added []string
	for m := range withChrony {
		if !baseline[m] {
			added = append(added, m)
		}
	}
	sort.Strings(added)
	t.Logf("modules the chrony receiver adds: %v", added)
	for _, want := range []string{"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver", "github.com/facebook/time"} {
		if !withChrony[want] {
			t.Errorf("module graph lacks %s", want)
		}
	}
	// The test kit is in the graph for the receiver's tests; it has no
	// requirements of its own, so it brings nothing else in.
	ownedByTheReceiver := map[string]bool{
		"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver": true,
		"github.com/chronyotel/otelcol-chrony/internal/testkit":        true,
	}
	for _, m := range added {
		for _, banned := range []string{"github.com/chronyotel/otelcol-chrony/", "gonum.org/", "github.com/google/go-containerregistry", "k8s.io/", "sigs.k8s.io/", "helm.sh/"} {
			if m == strings.TrimSuffix(banned, "/") || (strings.HasPrefix(m, banned) && !ownedByTheReceiver[m]) {
				t.Errorf("the receiver brings %s into the module graph", m)
			}
		}
	}
	if withChrony["github.com/chronyotel/otelcol-chrony"] {
		t.Error("the receiver brings this repository's root module into the module graph")
	}
}

// ocbModules builds an outside distribution of the OTLP receiver, the debug
// exporter and extra receivers (manifest lines), returns its `go list -m all`,
// and, when it was compiled, checks that it runs.
func ocbModules(t *testing.T, builder, extra string, flags ...string) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	manifest := filepath.Join(dir, "builder-config.yaml")
	if err := os.WriteFile(manifest, fmt.Appendf(nil, `dist:
  name: otelcol-outside
  description: an outside user's collector
  output_path: %s/out
  module: example.com/otelcol-outside
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v0.165.0
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v1.71.0
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v0.165.0
%s`, dir, extra), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(builder, append([]string{"--config", manifest}, flags...)...)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("ocb: %v\n%s", err, out)
	}
	list := exec.Command("go", "list", "-m", "-f", "{{.Path}}", "all")
	list.Dir = filepath.Join(dir, "out")
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, out)
	}
	modules := map[string]bool{}
	for _, m := range strings.Fields(string(out)) {
		modules[m] = true
	}
	if len(flags) == 0 {
		components, err := exec.Command(filepath.Join(dir, "out", "otelcol-outside"), "components").CombinedOutput()
		if err != nil {
			t.Errorf("the outside build does not run: %v\n%s", err, components)
		}
		if strings.Contains(extra, "chronyreceiver") && !strings.Contains(string(components), "chrony") {
			t.Errorf("the outside build does not list the chrony receiver:\n%s", components)
		}
	}
	return modules
}
