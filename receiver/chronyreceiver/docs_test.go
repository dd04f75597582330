package chronyreceiver

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type metadataFile struct {
	Metrics map[string]struct {
		Enabled    bool     `yaml:"enabled"`
		Unit       string   `yaml:"unit"`
		Attributes []string `yaml:"attributes"`
		Gauge      any      `yaml:"gauge"`
		Sum        any      `yaml:"sum"`
	} `yaml:"metrics"`
}

// metricsTable renders metadata.yaml's metrics as the README's table.
func metricsTable(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var md metadataFile
	if err := yaml.Unmarshal(raw, &md); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(md.Metrics))
	for n := range md.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("| Metric | Unit | Type | On by default | Attributes |\n| --- | --- | --- | --- | --- |\n")
	for _, n := range names {
		m := md.Metrics[n]
		kind := "gauge"
		if m.Sum != nil {
			kind = "counter"
		}
		on := "no"
		if m.Enabled {
			on = "yes"
		}
		attrs := strings.Join(m.Attributes, ", ")
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", n, m.Unit, kind, on, attrs)
	}
	return b.String()
}

// The README's metric list is metadata.yaml's, so the two cannot drift.
func TestReadmeMetrics(t *testing.T) {
	const begin, end = "<!-- metrics:begin -->\n", "<!-- metrics:end -->"
	path := filepath.Join("..", "..", "README.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q block", path, begin, end)
	}
	want := metricsTable(t)
	got := readme[i+len(begin) : j]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's metric table differs from metadata.yaml; run (cd receiver/chronyreceiver && go test -run TestReadmeMetrics -update)")
}
