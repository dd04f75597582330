package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/chronyotel/otelcol-chrony/internal/testbin"
)

// chartDir is the OpenTelemetry Collector chart 0.170.0, templates included,
// in the shared folder beside the repository. CI has it; elsewhere its
// absence skips the tests that render it.
func chartDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testbin.RepoRoot(), "..", "shared", "reference", "opentelemetry-collector-chart-0.170.0", "chart")
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the chart is not at %s: CI must have it", dir)
		}
		t.Skipf("the chart is not at %s", dir)
	}
	return dir
}

// renderChart renders the chart in-process with Helm's own packages, exactly
// as `helm template otelcol-chrony <chart> -n otelcol-chrony -f ...` does.
func renderChart(t *testing.T, valueFiles ...string) []byte {
	t.Helper()
	chrt, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	vals, err := (&values.Options{ValueFiles: valueFiles}).MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("values %v: %v", valueFiles, err)
	}
	cfg := action.NewConfiguration()
	cfg.Releases = storage.Init(driver.NewMemory())
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = "otelcol-chrony"
	install.Namespace = "otelcol-chrony"
	install.Replace = true
	rel, err := install.Run(chrt, vals)
	if err != nil {
		t.Fatalf("rendering the chart with %v: %v", valueFiles, err)
	}
	r, ok := rel.(*release.Release)
	if !ok {
		t.Fatalf("rendered release of type %T", rel)
	}
	return []byte(r.Manifest)
}

// Every values combination, rendered by the real chart: each object decodes
// strictly into its Kubernetes type, the DaemonSet holds the hardening and
// placement contract and declares every port the collector listens on, and
// the collector configuration the chart produces (not one assembled here)
// validates with the built collector, has no null leftovers from the
// chart's defaults, and equals the plain manifests' where there is one.
func TestChartRenders(t *testing.T) {
	for _, v := range helmVariants {
		files := []string{"helm/values.yaml"}
		name := "values.yaml"
		if v.overlay != "" {
			files = append(files, filepath.Join("helm", v.overlay))
			name += "+" + v.overlay
		}
		t.Run(name, func(t *testing.T) {
			manifest := renderChart(t, files...)
			var daemonSet *appsv1.DaemonSet
			var config []byte
			kinds := map[string]int{}
			for _, doc := range bytes.Split(manifest, []byte("\n---\n")) {
				if len(bytes.TrimSpace(doc)) == 0 {
					continue
				}
				var meta struct{ Kind string }
				if err := yaml.Unmarshal(doc, &meta); err != nil {
					t.Fatal(err)
				}
				if meta.Kind == "" {
					continue
				}
				kinds[meta.Kind]++
				switch meta.Kind {
				case "DaemonSet":
					var o appsv1.DaemonSet
					must(t, strictDecode(doc, &o), meta.Kind)
					daemonSet = &o
				case "ConfigMap":
					var o corev1.ConfigMap
					must(t, strictDecode(doc, &o), meta.Kind)
					if c, ok := o.Data["relay"]; ok {
						config = []byte(c)
					}
				case "ServiceAccount":
					var o corev1.ServiceAccount
					must(t, strictDecode(doc, &o), meta.Kind)
				case "Service":
					var o corev1.Service
					must(t, strictDecode(doc, &o), meta.Kind)
				default:
					t.Errorf("the chart rendered an unexpected %s", meta.Kind)
				}
			}
			if daemonSet == nil || config == nil {
				t.Fatalf("no DaemonSet or no collector configuration rendered: %v", kinds)
			}
			spec := &daemonSet.Spec.Template.Spec
			checkHardening(t, name, spec)
			if strings.Contains(string(config), ": null") {
				t.Errorf("the rendered configuration keeps null leftovers of the chart's defaults:\n%s", config)
			}
			validateConfig(t, name, config)
			var main corev1.Container
			for _, c := range spec.Containers {
				if c.Name == "opentelemetry-collector" {
					main = c
				}
			}
			checkPortsDeclared(t, name, listeningPorts(t, config), main)
			checkProbes(t, name, main)
			if v.same != "" {
				var got, want any
				must(t, yaml.Unmarshal(config, &got), "rendered configuration")
				want = readYAML(t, v.same)
				if !equalJSON(t, got, want) {
					t.Errorf("the rendered collector configuration differs from %s:\n%s", v.same, config)
				}
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	return string(mustJSON(t, normalise(t, a))) == string(mustJSON(t, normalise(t, b)))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
