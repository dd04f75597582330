package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image holds both programs, executable, at the paths the DaemonSet and
// the evidence CronJob run, and starts the collector by default.
func TestImageHoldsCollectorAndEvidence(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(dir, "image.tar")
	const tag = "example.test/otelcol-chrony:test"
	if err := build(write("otelcol", "collector"), write("evidence", "evidence"), write("ca.crt", "ca"), tag, out); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(tag)
	img, err := tarball.ImageFromPath(out, &ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/otelcol-chrony" || cfg.Config.User != "65532:65532" {
		t.Errorf("config: entrypoint %v, user %q", cfg.Config.Entrypoint, cfg.Config.User)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d: %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := map[string]string{"otelcol-chrony": "collector", "chrony-evidence": "evidence"}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if content, ok := want[h.Name]; ok {
			b, _ := io.ReadAll(tr)
			if string(b) != content || h.Mode&0o111 == 0 {
				t.Errorf("%s: %q, mode %o", h.Name, b, h.Mode)
			}
			delete(want, h.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing from the image: %v", want)
	}
}
