package main

import (
	"bytes"
	"context"
	"flag"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

var flagName = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)

// flagsNamed lists the --flags a text names, each once, sorted.
func flagsNamed(text string) []string {
	var names []string
	for _, m := range flagName.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	return names
}

func definedFlags() []string {
	report, _ := reportFlags(io.Discard)
	rollup, _ := rollupFlags(io.Discard)
	var names []string
	for _, fs := range []*flag.FlagSet{report, rollup} {
		fs.VisitAll(func(f *flag.Flag) {
			if !slices.Contains(names, f.Name) {
				names = append(names, f.Name)
			}
		})
	}
	sort.Strings(names)
	return names
}

// lines trims each line of a synopsis, so that indentation and the comment
// markers around it do not count.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// packageSynopsis is the code block of main.go's package comment.
func packageSynopsis(t *testing.T) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, l := range strings.Split(f.Doc.Text(), "\n") {
		if strings.HasPrefix(l, "\t") {
			block = append(block, l)
		}
	}
	return strings.Join(block, "\n")
}

// docsSynopsis is the first code block of docs/evidence.md.
func docsSynopsis(t *testing.T) (synopsis, whole string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "evidence.md"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(string(b), "```", 3)
	if len(parts) < 3 {
		t.Fatal("docs/evidence.md has no code block")
	}
	return parts[1], string(b)
}

// The usage text, wherever it is written, names every flag the tool has and
// no other: -h, the package comment and docs/evidence.md carry one synopsis,
// and no message of the tool nor sentence of its docs names a flag it does
// not have.
func TestUsageTextMatchesTheFlags(t *testing.T) {
	defined := definedFlags()
	docs, whole := docsSynopsis(t)
	for _, text := range []struct{ where, synopsis string }{
		{"the synopsis -h prints", synopsis},
		{"main.go's package comment", packageSynopsis(t)},
		{"docs/evidence.md's synopsis", docs},
	} {
		named := flagsNamed(text.synopsis)
		for _, f := range defined {
			if !slices.Contains(named, f) {
				t.Errorf("%s leaves out --%s", text.where, f)
			}
		}
		for _, f := range named {
			if !slices.Contains(defined, f) {
				t.Errorf("%s names --%s, which chrony-evidence does not have", text.where, f)
			}
		}
		if !slices.Equal(lines(text.synopsis), lines(synopsis)) {
			t.Errorf("%s says\n%s\nwhere -h says\n%s", text.where, text.synopsis, synopsis)
		}
	}
	var help bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, io.Discard, &help); code != 2 || !strings.Contains(help.String(), synopsis) {
		t.Errorf("-h: exit %d, %q; want the synopsis", code, help.String())
	}

	// Every flag a message of the tool or a sentence of its docs names.
	sources := map[string]string{"docs/evidence.md": whole}
	for _, pattern := range []string{"*.go", "../../internal/evidence/*.go", "../../internal/evidence/*/*.go"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sources[f] = string(b)
		}
	}
	if len(sources) < 5 {
		t.Fatalf("read %d sources; the globs find no Go files", len(sources))
	}
	for name, text := range sources {
		for _, f := range flagsNamed(text) {
			if !slices.Contains(defined, f) {
				t.Errorf("%s names --%s, which chrony-evidence does not have", name, f)
			}
		}
	}
}
