package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// The rules load, and their unit tests (boundaries included) pass in
// Debian's promtool.
func TestPrometheusRules(t *testing.T) {
	promtool := testkit.Program(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "prometheus/chrony-rules.yaml"},
		{"test", "rules", "prometheus/chrony-rules.test.yaml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// The ama-metrics ConfigMap is a ConfigMap, named and placed where the agent
// reads it, and its scrape configuration is valid Prometheus configuration.
func TestAzureAmaMetricsConfigMap(t *testing.T) {
	raw, err := os.ReadFile("azure/ama-metrics-prometheus-config-node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	must(t, strictDecode(raw, &cm), "ConfigMap")
	if cm.Name != "ama-metrics-prometheus-config-node" || cm.Namespace != "kube-system" {
		t.Errorf("ConfigMap %s/%s: ama-metrics reads kube-system/ama-metrics-prometheus-config-node", cm.Namespace, cm.Name)
	}
	scrape, ok := cm.Data["prometheus-config"]
	if !ok || !strings.Contains(scrape, "$NODE_IP:9464") {
		t.Fatalf("no prometheus-config scraping $NODE_IP:9464: %q", scrape)
	}
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(scrape), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(testkit.Program(t, "promtool"), "check", "config", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}

// chrony-evidence and the rules know the same profiles with the same
// tolerances: a report and an alert never disagree on what compliant means.
func TestEvidenceProfilesMatchRules(t *testing.T) {
	rf := readRules(t)
	rules := map[string]float64{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "chrony:tolerance_seconds" {
				continue
			}
			var v float64
			if _, err := fmt.Sscanf(r.Expr, "vector(%g)", &v); err != nil {
				t.Fatalf("tolerance rule %q: %v", r.Expr, err)
			}
			rules[r.Labels["compliance_profile"]] = v
		}
	}
	if !reflect.DeepEqual(rules, evidence.Profiles) {
		t.Errorf("rules' tolerances %v, chrony-evidence's %v", rules, evidence.Profiles)
	}
}
