package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// The prose that people read first quotes figures that make bench measured.
// Each quote must be the figure docs/benchmarks.md holds now, so a new run
// that moves a figure fails here until the sentences follow.
func TestQuotedBenchmarkFiguresMatch(t *testing.T) {
	bench := readDoc(t, "docs/benchmarks.md")
	row := func(name string) string {
		m := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(name) + ` \| ([0-9.]+) MiB \|`).FindStringSubmatch(bench)
		if m == nil {
			t.Fatalf("docs/benchmarks.md has no row %q with a MiB figure", name)
		}
		return m[1]
	}
	node, full := row("RSS of the DaemonSet's collector"), row("RSS of the previous pipeline (full build)")
	quotes := []struct {
		doc, pattern string
		want         []string
	}{
		{"README.md", `([0-9]+(?:\.[0-9]+)?) MiB resident instead of ([0-9]+(?:\.[0-9]+)?)`, []string{node, full}},
		{"deploy/README.md", `and ([0-9.]+) MiB of memory`, []string{node}},
		{"deploy/README.md", `which the remote-write variants run, holds ([0-9.]+) MiB`, []string{full}},
		{"docs/benchmarks.md", `context switches and ([0-9.]+) MiB`, []string{full}},
		{"docs/benchmarks.md", `\(target 1\.5\) and holds ([0-9.]+) MiB`, []string{node}},
	}
	for _, q := range quotes {
		m := regexp.MustCompile(q.pattern).FindStringSubmatch(oneLine(readDoc(t, q.doc)))
		if m == nil {
			t.Errorf("%s: no sentence matching %q any more; update this test with the sentence", q.doc, q.pattern)
			continue
		}
		for i, want := range q.want {
			if m[i+1] != want {
				t.Errorf("%s quotes %s MiB where docs/benchmarks.md measured %s MiB (%q)", q.doc, m[i+1], want, m[0])
			}
		}
	}
}

// Every `make TARGET` the documentation tells a reader to run is a target of
// the Makefile, and every `(cd DIR && go test -run NAME ...)` names a
// directory and a test that exist: instructions that cannot be followed are
// the first thing a newcomer trips over.
func TestDocumentedCommandsExist(t *testing.T) {
	makefile := readDoc(t, "Makefile")
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`).FindAllStringSubmatch(makefile, -1) {
		targets[m[1]] = true
	}
	makeCmd := regexp.MustCompile("`make ([a-z][a-z0-9-]*)")
	goTest := regexp.MustCompile(`\(cd ([a-z0-9/_-]+) && go test -run ([A-Za-z0-9_]+)`)
	docs := []string{"README.md", "deploy/README.md", "node/README.md", "receiver/chronyreceiver/README.md", "docs/evidence.md", "docs/benchmarks.md"}
	sources, _ := filepath.Glob(filepath.Join(testbin.RepoRoot(), "*", "*_test.go"))
	more, _ := filepath.Glob(filepath.Join(testbin.RepoRoot(), "*", "*", "*_test.go"))
	for _, p := range append(sources, more...) {
		rel, _ := filepath.Rel(testbin.RepoRoot(), p)
		docs = append(docs, rel)
	}
	checked := 0
	for _, doc := range docs {
		text := readDoc(t, doc)
		for _, m := range makeCmd.FindAllStringSubmatch(text, -1) {
			checked++
			if !targets[m[1]] {
				t.Errorf("%s says `make %s`, which the Makefile does not have", doc, m[1])
			}
		}
		for _, m := range goTest.FindAllStringSubmatch(text, -1) {
			checked++
			dir := filepath.Join(testbin.RepoRoot(), m[1])
			tests, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
			found := false
			for _, f := range tests {
				b, _ := os.ReadFile(f)
				// -run takes a pattern: a prefix of the test's name is enough.
				if strings.Contains(string(b), "func "+m[2]) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s says (cd %s && go test -run %s), and no test of that name is in %s", doc, m[1], m[2], m[1])
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d documented commands found: has the way the docs write commands changed?", checked)
	}
}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// oneLine joins a Markdown paragraph's lines, so a quote may wrap anywhere.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
