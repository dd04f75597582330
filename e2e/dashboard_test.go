package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
)

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

var labelValuesRe = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// Every query of the Grafana dashboard answers, with data, from a real
// Prometheus that scrapes the DaemonSet's own collector configuration (with a
// cross-check server) and evaluates deploy/prometheus's rules; so do its
// variables.
func TestDashboardQueriesAnswer(t *testing.T) {
	raw, err := os.ReadFile(repoPath(t, "deploy/grafana/otelcol-chrony.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	const cluster, node = "cluster-dash", "node-dash"
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	// Cross-checked against the lab's upstream server, for the UTC panels,
	// with the per-source detail the source panels show.
	crossCheck := []string{"--set=receivers::chrony::cross_check::servers=[" + lab.NTPServer() + "]", "--set=receivers::chrony::per_source_metrics=true"}
	col := startDaemonSetCollector(t, crossCheck, "CHRONY_ENDPOINT="+lab.UDPEndpoint(),
		"K8S_NODE_NAME="+node, "K8S_CLUSTER_NAME="+cluster, "COMPLIANCE_PROFILE=mifid_ii_algo")
	prom := startPrometheusWithRules(t, []string{"deploy/prometheus/chrony-rules.yaml"}, col.promEndpoint)

	// $__range is the dashboard's time range; the test's Prometheus has
	// minutes of data.
	vars := strings.NewReplacer("$cluster", cluster, "$node", node, "$__range", "10m")
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRe.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: unsupported query %q", v.Name, v.Definition)
			continue
		}
		want := map[string]string{"cluster": cluster, "node": node}[v.Name]
		waitFor(t, 30*time.Second, "variable "+v.Name, func() bool {
			return slices.Contains(labelValues(t, prom, m[2], vars.Replace(m[1])), want)
		})
	}

	queries := 0
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			expr := vars.Replace(target.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q: unresolved variable in %q", p.Title, expr)
				continue
			}
			queries++
			deadline := time.Now().Add(45 * time.Second)
			for len(prom.query(t, expr)) == 0 {
				if time.Now().After(deadline) {
					t.Errorf("panel %q: %s returns no data", p.Title, expr)
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	if queries < 10 {
		t.Errorf("only %d panel queries checked", queries)
	}
}

func labelValues(t *testing.T, prom *prometheusServer, label, match string) []string {
	t.Helper()
	resp, err := http.Get(prom.url + "/api/v1/label/" + label + "/values?match[]=" + url.QueryEscape(match))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string   `json:"status"`
		Error  string   `json:"error"`
		Data   []string `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("label values of %s for %s: %v %s", label, match, err, body)
	}
	return r.Data
}

// The stat panels an auditor or on-call engineer reads at a glance say the
// worst of the whole selected range, not the last value, and the bound's
// colour turns at the tolerance of each node's profile.
func TestDashboardStatsShowTheWorstOfTheRange(t *testing.T) {
	raw, err := os.ReadFile(repoPath(t, "deploy/grafana/otelcol-chrony.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title       string
			Type        string
			Targets     []struct{ Expr string }
			FieldConfig struct {
				Defaults struct {
					Unit       string
					Thresholds struct {
						Steps []struct {
							Color string
							Value *float64
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	share := false
	for _, p := range d.Panels {
		if p.Type != "stat" || !strings.Contains(p.Title, "over the range") && !strings.Contains(p.Title, "throughout the range") {
			continue
		}
		if len(p.Targets) != 1 || !strings.Contains(p.Targets[0].Expr, "_over_time(") || !strings.Contains(p.Targets[0].Expr, "[$__range])") {
			t.Errorf("panel %q: %v does not reduce over the dashboard's range", p.Title, p.Targets)
		}
		if strings.Contains(p.Title, "share of tolerance") {
			share = true
			steps := p.FieldConfig.Defaults.Thresholds.Steps
			last := steps[len(steps)-1]
			if !strings.Contains(p.Targets[0].Expr, "chrony:tolerance_seconds") || last.Color != "red" || last.Value == nil || *last.Value != 1 {
				t.Errorf("panel %q: red from %v, want at 1 (the tolerance)", p.Title, last.Value)
			}
		}
	}
	if !share {
		t.Error("no stat panel compares the range's worst bound with the tolerance")
	}
}
