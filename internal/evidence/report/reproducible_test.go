package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// The same data and generation time make the same bytes, file for file,
// however often they are rendered (fpdf lists fonts in map order unless it
// sorts its catalogs).
func TestWriteIsReproducible(t *testing.T) {
	p := evidence.Period{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Step: 30 * time.Second, Steps: 120}
	result := func() *evidence.Result {
		l := evidence.NewLedger(p, 1e-3)
		for i, name := range []string{"node-a", "node-b", "node-c"} {
			n := l.Add(name, "aks-prod", []evidence.Span{{Start: 0, End: p.Steps}}, true)
			for k := 0; k < p.Steps; k++ {
				var r evidence.Reading
				r.AddUp(1)
				r.AddMaxError(float64(i+1) * 4e-4 * float64(k%5))
				l.Account(n, k, r)
			}
		}
		l.Finish()
		return &evidence.Result{Ledger: l, Inventory: "kube_node_info"}
	}
	run := Run{Version: "test", DataSource: "http://prometheus:9090", Generated: time.Date(2026, 10, 2, 0, 30, 0, 0, time.UTC)}
	var dirs []string
	for i := 0; i < 8; i++ {
		dir := filepath.Join(t.TempDir(), "r")
		if _, err := Write(Dir(dir), result(), Meta{Profile: "mifid_ii_algo", Cluster: "aks-prod"}, run); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	for _, name := range append(append([]string{}, reportFiles...), ManifestName) {
		first, err := os.ReadFile(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs[1:] {
			if again, _ := os.ReadFile(filepath.Join(d, name)); !bytes.Equal(first, again) {
				t.Errorf("%s differs between two renderings of the same data", name)
			}
		}
	}
}
