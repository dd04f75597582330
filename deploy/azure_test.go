package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite generated files")

type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval"`
		Rules    []struct {
			Record      string            `json:"record,omitempty"`
			Alert       string            `json:"alert,omitempty"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// Azure Monitor's alert severities (0 critical ... 4 verbose).
var azureSeverity = map[string]int{"critical": 0, "error": 1, "warning": 2, "info": 3}

// isoDuration turns a Prometheus duration into the ISO 8601 form Azure wants.
func isoDuration(t *testing.T, d string) string {
	t.Helper()
	dur, err := time.ParseDuration(d)
	if err != nil {
		t.Fatalf("duration %q: %v", d, err)
	}
	if dur%time.Hour == 0 {
		return fmt.Sprintf("PT%dH", dur/time.Hour)
	}
	return fmt.Sprintf("PT%dM", dur/time.Minute)
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	raw, err := os.ReadFile("prometheus/chrony-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshalYAML(raw, &rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

// armTemplate renders the rule groups as Microsoft.AlertsManagement/
// prometheusRuleGroups resources, one per group, rule for rule.
func armTemplate(t *testing.T, rf ruleFile) []byte {
	t.Helper()
	var resources []any
	for _, g := range rf.Groups {
		var rules []any
		for _, r := range g.Rules {
			expr := strings.TrimSpace(r.Expr)
			if r.Record != "" {
				rule := map[string]any{"record": r.Record, "expression": expr}
				if len(r.Labels) > 0 {
					rule["labels"] = r.Labels
				}
				rules = append(rules, rule)
				continue
			}
			labels := map[string]string{}
			for k, v := range r.Labels {
				labels[k] = v
			}
			sev, ok := azureSeverity[labels["severity"]]
			if !ok {
				t.Fatalf("alert %s: severity %q has no Azure equivalent", r.Alert, labels["severity"])
			}
			rule := map[string]any{
				"alert":       r.Alert,
				"expression":  expr,
				"for":         isoDuration(t, r.For),
				"severity":    sev,
				"labels":      labels,
				"annotations": r.Annotations,
				"enabled":     true,
				"resolveConfiguration": map[string]any{
					"autoResolved":  true,
					"timeToResolve": "PT10M",
				},
				"actions": "[if(empty(parameters('actionGroupId')), createArray(), createArray(createObject('actionGroupId', parameters('actionGroupId'))))]",
			}
			rules = append(rules, rule)
		}
		resources = append(resources, map[string]any{
			"type":       "Microsoft.AlertsManagement/prometheusRuleGroups",
			"apiVersion": "2023-03-01",
			"name":       g.Name,
			"location":   "[parameters('location')]",
			"properties": map[string]any{
				"description": "otelcol-chrony: generated from deploy/prometheus/chrony-rules.yaml",
				"scopes":      []string{"[parameters('azureMonitorWorkspaceId')]"},
				"enabled":     true,
				"interval":    isoDuration(t, g.Interval),
				"rules":       rules,
			},
		})
	}
	tmpl := map[string]any{
		"$schema":        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		"contentVersion": "1.0.0.0",
		"parameters": map[string]any{
			"azureMonitorWorkspaceId": map[string]any{"type": "string", "metadata": map[string]string{"description": "Resource ID of the Azure Monitor workspace the cluster's metrics go to."}},
			"location":                map[string]any{"type": "string", "defaultValue": "[resourceGroup().location]"},
			"actionGroupId":           map[string]any{"type": "string", "defaultValue": "", "metadata": map[string]string{"description": "Resource ID of the action group to notify; empty for none."}},
		},
		"resources": resources,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tmpl); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The Azure Managed Prometheus rule groups are the Prometheus rules, rule for
// rule: the ARM template is generated from chrony-rules.yaml and must match.
func TestAzureRuleGroupsMatchPrometheusRules(t *testing.T) {
	got := armTemplate(t, readRules(t))
	// A rule group with clusterName only sees series labelled cluster=<name>,
	// which ama-metrics adds but no remote-write path (the sidecar, our
	// exporter) sends: on those paths nothing would evaluate. The rules
	// group by k8s_cluster_name, which every shipped pipeline sets.
	if bytes.Contains(got, []byte(`"clusterName"`)) {
		t.Errorf("the rule groups must not be scoped with clusterName: remote-write series carry no cluster label")
	}
	const path = "azure/prometheus-rule-groups.json"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with prometheus/chrony-rules.yaml: (cd deploy && go test -run TestAzureRuleGroups -update)", path)
	}
}
