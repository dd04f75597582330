// Package readmestatus holds only a test: the status table at the top of each
// node component's README must say what its metadata.yaml says and list the
// distributions whose ocb manifests build it. mdatagen (v0.159.0) can write
// that table between markers, but its table always has an Issues row of
// badges searching a GitHub project's issues by contrib's labels (this
// repository has neither a known GitHub home nor those labels), and it links
// only the OpenTelemetry release distributions (another name gets an empty
// link). So the tables are written by hand, as the receiver's is, and this
// test keeps them true.
package readmestatus

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

const (
	nodeDir    = "../.."
	repoDir    = "../../.."
	modulePath = "github.com/chronyotel/otelcol-chrony/node"
)

func TestReadmeStatusMatchesMetadata(t *testing.T) {
	manifests := loadManifests(t)
	for _, component := range []string{"prometheustextexporter", "readinessextension", "logtelemetry"} {
		t.Run(component, func(t *testing.T) {
			dir := filepath.Join(nodeDir, component)
			md, err := confmaptest.LoadConf(filepath.Join(dir, "metadata.yaml"))
			if err != nil {
				t.Fatalf("load the component's metadata: %v", err)
			}
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatalf("read the component's README: %v", err)
			}
			want := wantStatus(t, md, manifests.building(modulePath+"/"+component))
			got, err := statusTable(string(readme))
			if err != nil {
				t.Fatalf("%s/README.md: %v", component, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s/README.md status table:\n%s\nwant (from metadata.yaml and the ocb manifests):\n%s",
					component, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, level := range stabilityLevels(md) {
				link := fmt.Sprintf("[%s]: https://github.com/open-telemetry/opentelemetry-collector/blob/main/docs/component-stability.md#%s", level, level)
				if !strings.Contains(string(readme), "\n"+link+"\n") {
					t.Errorf("%s/README.md has no link for [%s]: %s", component, level, link)
				}
			}
		})
	}
}

// wantStatus is the status table's rows, as "key | value", in the order the
// receiver's README has them.
func wantStatus(t *testing.T, md *confmap.Conf, distributions []string) []string {
	t.Helper()
	class, _ := md.Get("status::class").(string)
	var stability []string
	for _, level := range stabilityLevels(md) {
		signals := stringList(md.Get("status::stability::" + level))
		// An extension has no signal; mdatagen's table shows only its level.
		if class == "extension" {
			stability = append(stability, "["+level+"]")
		} else {
			stability = append(stability, "["+level+"]: "+strings.Join(signals, ", "))
		}
	}
	rows := []string{"Stability | " + strings.Join(stability, "; ")}
	// A pkg (logtelemetry) has no component type for a configuration to name.
	if class != "pkg" {
		rows = append(rows, "Component type | `"+md.Get("type").(string)+"`")
	}
	if len(distributions) == 0 {
		t.Fatal("no ocb manifest builds this component: its README could not name a distribution")
	}
	quoted := make([]string, len(distributions))
	for i, d := range distributions {
		quoted[i] = "`" + d + "`"
	}
	return append(rows, "Distributions | "+strings.Join(quoted, ", ")+" (this repository)")
}

func stabilityLevels(md *confmap.Conf) []string {
	stability, _ := md.Get("status::stability").(map[string]any)
	levels := make([]string, 0, len(stability))
	for level := range stability {
		levels = append(levels, level)
	}
	sort.Strings(levels)
	return levels
}

func stringList(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, item := range items {
		out = append(out, fmt.Sprint(item))
	}
	return out
}

// statusTable returns the rows of the README's first table whose header is
// "Status", as "key | value" with the cells trimmed.
func statusTable(readme string) ([]string, error) {
	lines := strings.Split(readme, "\n")
	start := slices.IndexFunc(lines, func(l string) bool {
		cells := cellsOf(l)
		return len(cells) == 2 && cells[0] == "Status"
	})
	if start < 0 {
		return nil, fmt.Errorf("no table with a Status header")
	}
	var rows []string
	// The line after the header is the delimiter row.
	for _, l := range lines[start+2:] {
		cells := cellsOf(l)
		if cells == nil {
			break
		}
		rows = append(rows, strings.Join(cells, " | "))
	}
	return rows, nil
}

func cellsOf(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
		return nil
	}
	cells := strings.Split(strings.Trim(line, "|"), "|")
	for i, c := range cells {
		cells[i] = strings.TrimSpace(c)
	}
	return cells
}

// manifests maps each ocb manifest's distribution name to the packages it
// imports from this repository's node module.
type manifests map[string][]string

func loadManifests(t *testing.T) manifests {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoDir, "builder*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("find the ocb manifests in %s: %v (found %d)", repoDir, err, len(paths))
	}
	m := manifests{}
	for _, path := range paths {
		conf, err := confmaptest.LoadConf(path)
		if err != nil {
			t.Fatalf("load the ocb manifest: %v", err)
		}
		name, _ := conf.Get("dist::name").(string)
		if name == "" {
			t.Fatalf("%s has no dist::name", path)
		}
		var entries []any
		for _, kind := range []string{"receivers", "processors", "exporters", "extensions", "connectors"} {
			list, _ := conf.Get(kind).([]any)
			entries = append(entries, list...)
		}
		// telemetry: is one module, not a list.
		if telemetry := conf.Get("telemetry"); telemetry != nil {
			entries = append(entries, telemetry)
		}
		for _, entry := range entries {
			e, _ := entry.(map[string]any)
			if imp, _ := e["import"].(string); strings.HasPrefix(imp, modulePath+"/") {
				m[name] = append(m[name], imp)
			}
		}
	}
	return m
}

// building returns, sorted, the distributions whose manifest imports pkg.
func (m manifests) building(pkg string) []string {
	var names []string
	for name, imports := range m {
		if slices.Contains(imports, pkg) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
