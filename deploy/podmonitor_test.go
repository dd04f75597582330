package deploy

import (
	"os"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// decodePodMonitor decodes a PodMonitor strictly into the Prometheus
// Operator's Go types (generated from the same schema as its CRD), after
// checking its group: monitoring.coreos.com for the Prometheus Operator,
// azmonitoring.coreos.com for Azure managed Prometheus, whose PodMonitor CRD
// carries the same spec under its own group.
func decodePodMonitor(t *testing.T, where string, doc []byte, group string) *monitoringv1.PodMonitor {
	t.Helper()
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.APIVersion != group+"/v1" || meta.Kind != "PodMonitor" {
		t.Errorf("%s: %s %s, want %s/v1 PodMonitor", where, meta.APIVersion, meta.Kind, group)
	}
	var pm monitoringv1.PodMonitor
	must(t, strictDecode(doc, &pm), where+" PodMonitor")
	return &pm
}

// checkPodMonitor: the PodMonitor selects the collector's pods and scrapes a
// port the collector container declares, at the collectors' interval.
func checkPodMonitor(t *testing.T, where string, pm *monitoringv1.PodMonitor, podLabels map[string]string, c corev1.Container) {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(podLabels)) {
		t.Errorf("%s: the PodMonitor's selector %v does not select the collector's pods %v", where, pm.Spec.Selector, podLabels)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%s: %d endpoints, want the metrics port only", where, len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	declared := false
	for _, p := range c.Ports {
		if ep.Port != nil && p.Name == *ep.Port && p.ContainerPort == 9464 {
			declared = true
		}
	}
	if !declared {
		t.Errorf("%s: the PodMonitor scrapes port %v, not the collector's metrics port (9464) by name", where, ep.Port)
	}
	if ep.Interval != "30s" {
		t.Errorf("%s: interval %q, want 30s (the collectors' interval: evidence counts 30 s steps)", where, ep.Interval)
	}
}

// The Azure flavour selects the plain manifests' pods.
func TestAzurePodMonitor(t *testing.T) {
	raw, err := os.ReadFile("azure/podmonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pm := decodePodMonitor(t, "azure/podmonitor.yaml", raw, "azmonitoring.coreos.com")
	for _, obj := range objects(t, kustomize(t, "kubernetes")) {
		if obj.Kind != "DaemonSet" {
			continue
		}
		var ds appsv1.DaemonSet
		must(t, strictDecode(obj.Doc, &ds), "DaemonSet")
		if pm.Namespace != ds.Namespace {
			t.Errorf("PodMonitor in namespace %q, the DaemonSet in %q", pm.Namespace, ds.Namespace)
		}
		checkPodMonitor(t, "azure/podmonitor.yaml", pm, ds.Spec.Template.Labels, ds.Spec.Template.Spec.Containers[0])
		return
	}
	t.Fatal("no DaemonSet rendered")
}
