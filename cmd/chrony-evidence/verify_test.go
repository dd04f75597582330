package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// wholeReport makes a report from the fake store and returns its
// directory.
func wholeReport(t *testing.T) string {
	t.Helper()
	url := fakeStore{up: []string{chronySeries("n1", points("1", "1", "1", "1"))}, bound: []string{chronySeries("n1", points("1e-5", "1e-5", "1e-5", "1e-5"))}}.start(t)
	r := runAgainst(t, url, "--inventory", "none")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	return r.dir
}

func runVerify(dir string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"verify", dir}, &stdout, &stderr)
	return code, stderr.String()
}

// editManifest rewrites the report's manifest.json through edit.
func editManifest(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "manifest.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileEntry(t *testing.T, name, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return map[string]any{"name": name, "sha256": hex.EncodeToString(sum[:]), "bytes": len(data)}
}

// verify requires every file of the schema and reads nothing outside the
// report's directory, nor through a link (issue 18, item 4).
func TestVerifyRefuses(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("not part of any report\n"), 0o644)
	// Enough .. to reach / from any report directory, then down to it.
	rel := strings.Repeat("../", 40) + strings.TrimPrefix(outside, "/")

	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   []string
	}{
		{"untouched", func(*testing.T, string) {}, nil},
		{"a manifest that lists no file", func(t *testing.T, dir string) {
			for _, f := range []string{"nodes.csv", "outages.csv", "report.html", "report.pdf", "summary.json", "sync-log.parquet"} {
				os.Remove(filepath.Join(dir, f))
			}
			editManifest(t, dir, func(m map[string]any) { m["files"] = []any{} })
		}, []string{
			"nodes.csv: a chrony-evidence/manifest/v2 report has it, the manifest does not list it",
			"outages.csv: a chrony-evidence/manifest/v2 report has it, the manifest does not list it",
			"report.html: a chrony-evidence/manifest/v2 report has it, the manifest does not list it",
			"report.pdf: a chrony-evidence/manifest/v2 report has it, the manifest does not list it",
			"summary.json: a chrony-evidence/manifest/v2 report has it, the manifest does not list it",
			"sync-log.parquet: a chrony-evidence/manifest/v2 report has it, the manifest does not list it",
		}},
		{"a manifest without one file, the file gone too", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "outages.csv"))
			editManifest(t, dir, func(m map[string]any) {
				var keep []any
				for _, f := range m["files"].([]any) {
					if f.(map[string]any)["name"] != "outages.csv" {
						keep = append(keep, f)
					}
				}
				m["files"] = keep
			})
		}, []string{"outages.csv: a chrony-evidence/manifest/v2 report has it, the manifest does not list it"}},
		{"a name that leaves the directory, with the right hash", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { m["files"] = append(m["files"].([]any), fileEntry(t, rel, outside)) })
		}, []string{rel + ": a name in the manifest that leaves the report directory; refused, not read"}},
		{"an absolute name, with the right hash", func(t *testing.T, dir string) {
			editManifest(t, dir, func(m map[string]any) { m["files"] = append(m["files"].([]any), fileEntry(t, outside, outside)) })
		}, []string{outside + ": an absolute path in the manifest; refused, not read"}},
		{"a file of the report replaced by a link to the same bytes", func(t *testing.T, dir string) {
			copyOf := filepath.Join(t.TempDir(), "report.html")
			data, _ := os.ReadFile(filepath.Join(dir, "report.html"))
			os.WriteFile(copyOf, data, 0o644)
			os.Remove(filepath.Join(dir, "report.html"))
			if err := os.Symlink(copyOf, filepath.Join(dir, "report.html")); err != nil {
				t.Fatal(err)
			}
		}, []string{"report.html: a symbolic link; refused, not read"}},
		{"a name the schema does not have", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "extra.txt"), []byte("x"), 0o644)
			editManifest(t, dir, func(m map[string]any) {
				m["files"] = append(m["files"].([]any), fileEntry(t, "extra.txt", filepath.Join(dir, "extra.txt")))
			})
		}, []string{"extra.txt: not a file of a chrony-evidence/manifest/v2 report; refused, not read", "extra.txt: not in the manifest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := wholeReport(t)
			tc.tamper(t, dir)
			code, stderr := runVerify(dir)
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if line != "" {
					got = append(got, strings.TrimPrefix(line, "chrony-evidence: verify "+dir+": "))
				}
			}
			wantCode := 0
			if len(tc.want) > 0 {
				wantCode = 1
			}
			if code != wantCode || strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("exit %d, problems:\n%s\nwant exit %d and:\n%s", code, strings.Join(got, "\n"), wantCode, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// A FIFO in the place of a file is refused before it is read: reading it
// would wait for a writer forever.
func TestVerifyRefusesAFIFO(t *testing.T) {
	dir := wholeReport(t)
	os.Remove(filepath.Join(dir, "report.pdf"))
	if err := syscall.Mkfifo(filepath.Join(dir, "report.pdf"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	code, stderr := runVerify(dir)
	if code != 1 || !strings.Contains(stderr, "report.pdf: not a regular file (p---------); refused, not read") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
