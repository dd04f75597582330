package deploy

import (
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
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// chartDir is the OpenTelemetry Collector chart 0.170.0, templates included,
// in the shared folder beside the repository. CI has it; elsewhere its
// absence skips the tests that render it.
func chartDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testbin.RepoRoot(), "..", "shared", "reference", "opentelemetry-collector-chart-0.170.0", "chart")
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		testkit.Unavailable(t, "the chart is not at "+dir, "CI lays shared/ beside the checkout")
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
			var policy *networkingv1.NetworkPolicy
			var podMonitor []byte
			var config []byte
			kinds := map[string]int{}
			for _, obj := range objects(t, manifest) {
				doc := obj.Doc
				kinds[obj.Kind]++
				switch obj.Kind {
				case "DaemonSet":
					var o appsv1.DaemonSet
					must(t, strictDecode(doc, &o), obj.Kind)
					daemonSet = &o
				case "ConfigMap":
					var o corev1.ConfigMap
					must(t, strictDecode(doc, &o), obj.Kind)
					if c, ok := o.Data["relay"]; ok {
						config = []byte(c)
					}
				case "ServiceAccount":
					var o corev1.ServiceAccount
					must(t, strictDecode(doc, &o), obj.Kind)
				case "Service":
					var o corev1.Service
					must(t, strictDecode(doc, &o), obj.Kind)
				case "PodMonitor":
					podMonitor = doc
				case "NetworkPolicy":
					var o networkingv1.NetworkPolicy
					must(t, strictDecode(doc, &o), obj.Kind)
					policy = &o
				default:
					t.Errorf("the chart rendered an unexpected %s", obj.Kind)
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
			var main corev1.Container
			for _, c := range spec.Containers {
				if c.Name == "opentelemetry-collector" {
					main = c
				}
			}
			validateConfig(t, name, testbin.ForCommand(t, main.Command), config)
			checkPortsDeclared(t, name, listeningPorts(t, config), main)
			checkProbes(t, name, main)
			checkNothingWritesFromTheNode(t, name, spec, policy)
			if podMonitor != nil {
				pm := decodePodMonitor(t, name, podMonitor, "monitoring.coreos.com")
				checkPodMonitor(t, name, pm, daemonSet.Spec.Template.Labels, main)
			} else if strings.Contains(v.overlay, "prometheus-operator") {
				t.Error("no PodMonitor rendered")
			}
			if strings.Contains(string(manifest), "{{") || strings.Contains(string(manifest), "SET-CURRENT") {
				t.Errorf("template or placeholder leftovers in the rendered manifest")
			}
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

// checkNothingWritesFromTheNode: a container beside the collector that
// listens (the Azure remote-write sidecar, an unauthenticated write proxy
// into the workspace) must not do so on the node's network, nor be reachable
// from other pods: no host network, no host port, and a NetworkPolicy whose
// ingress leaves its ports out.
func checkNothingWritesFromTheNode(t *testing.T, where string, spec *corev1.PodSpec, policy *networkingv1.NetworkPolicy) {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == "opentelemetry-collector" || len(c.Ports) == 0 {
			continue
		}
		if spec.HostNetwork {
			t.Errorf("%s: container %s listens on the node's network (hostNetwork)", where, c.Name)
		}
		if policy == nil {
			t.Errorf("%s: container %s listens, and no NetworkPolicy keeps other pods from it", where, c.Name)
			continue
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				t.Errorf("%s: container %s publishes host port %d", where, c.Name, p.HostPort)
			}
			for _, rule := range policy.Spec.Ingress {
				if len(rule.Ports) == 0 {
					t.Errorf("%s: the NetworkPolicy admits every port, %d of %s included", where, p.ContainerPort, c.Name)
				}
				for _, rp := range rule.Ports {
					if rp.Port != nil && rp.Port.IntVal == p.ContainerPort {
						t.Errorf("%s: the NetworkPolicy admits port %d of %s", where, p.ContainerPort, c.Name)
					}
				}
			}
		}
	}
	if !spec.HostNetwork {
		for _, c := range spec.Containers {
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					t.Errorf("%s: %s publishes host port %d without host networking", where, c.Name, p.HostPort)
				}
			}
		}
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
