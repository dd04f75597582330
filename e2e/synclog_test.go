package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xitongsys/parquet-go-source/local"
	"github.com/xitongsys/parquet-go/reader"
)

// checkSyncLog reads the report's synchronisation log with a Parquet reader
// independent of the one that wrote it, and holds its rows equal to
// summary.json's counts: per node, the steps in each state and UTC state.
func checkSyncLog(t *testing.T, dir string) {
	t.Helper()
	f, err := local.NewLocalFileReader(filepath.Join(dir, "sync-log.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := reader.NewParquetColumnReader(f, 1)
	if err != nil {
		t.Fatalf("an independent reader cannot open sync-log.parquet: %v", err)
	}
	defer pr.ReadStop()
	n := pr.GetNumRows()
	column := func(name string) []any {
		for i, path := range pr.SchemaHandler.ValueColumns {
			// This reader keeps names with a capital first letter.
			if strings.EqualFold(path[strings.LastIndex(path, "\x01")+1:], name) {
				values, _, _, err := pr.ReadColumnByIndex(int64(i), n)
				if err != nil {
					t.Fatalf("reading column %s: %v", name, err)
				}
				return values
			}
		}
		t.Fatalf("sync-log.parquet has no column %s (columns %q)", name, pr.SchemaHandler.ValueColumns)
		return nil
	}
	nodes, states, utc := column("node"), column("state"), column("utc_state")
	if int64(len(nodes)) != n || len(states) != len(nodes) || len(utc) != len(nodes) {
		t.Fatalf("%d rows, columns of %d, %d, %d values", n, len(nodes), len(states), len(utc))
	}
	got := map[string]map[string]float64{}
	for i := range nodes {
		node := nodes[i].(string)
		if got[node] == nil {
			got[node] = map[string]float64{}
		}
		got[node][states[i].(string)] += 30
		got[node][utc[i].(string)] += 30
	}
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		StepSeconds float64 `json:"step_seconds"`
		SyncLog     struct {
			Rows int64 `json:"rows"`
		} `json:"sync_log"`
		Nodes []struct {
			Node       string             `json:"node"`
			Seconds    map[string]float64 `json:"seconds"`
			UTCSeconds map[string]float64 `json:"utc_seconds"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.StepSeconds != 30 || s.SyncLog.Rows != n {
		t.Errorf("summary.json: step %v s, sync_log rows %d; the log has %d rows", s.StepSeconds, s.SyncLog.Rows, n)
	}
	if len(got) != len(s.Nodes) {
		t.Errorf("the log has %d nodes, summary.json %d", len(got), len(s.Nodes))
	}
	for _, node := range s.Nodes {
		want := map[string]float64{}
		for st, v := range node.Seconds {
			if v > 0 {
				want[st] = v
			}
		}
		for st, v := range node.UTCSeconds {
			if v > 0 {
				want[st] = v
			}
		}
		g, _ := json.Marshal(got[node.Node])
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s: the log's seconds per state %s, summary.json's %s", node.Node, g, w)
		}
	}
}
