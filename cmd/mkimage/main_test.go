package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/chronyotel/otelcol-chrony/internal/testbin"
)

// The image runs the binary the chart expects, as a non-root user, with the
// CA bundle; the binary inside is the one built and it runs.
func TestImage(t *testing.T) {
	binary := testbin.Otelcol(t)
	out := filepath.Join(t.TempDir(), "image.tar")
	const ref = "ghcr.io/chronyotel/otelcol-chrony:test"
	if err := build(binary, "/etc/ssl/certs/ca-certificates.crt", ref, out); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want the non-root 65532:65532", cfg.Config.User)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/otelcol-chrony" {
		t.Errorf("entrypoint %v: the chart runs /otelcol-chrony", cfg.Config.Entrypoint)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}

	want, err := os.Stat(binary)
	if err != nil {
		t.Fatal(err)
	}
	extracted := filepath.Join(t.TempDir(), "otelcol-chrony")
	found := map[string]bool{}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			found[h.Name] = true
			if h.Name == "otelcol-chrony" {
				if h.Mode&0o111 == 0 || h.Size != want.Size() {
					t.Errorf("binary mode %o size %d, want executable and %d bytes", h.Mode, h.Size, want.Size())
				}
				f, err := os.OpenFile(extracted, os.O_CREATE|os.O_WRONLY, 0o755)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(f, tr); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
		rc.Close()
	}
	for _, f := range []string{"otelcol-chrony", "etc/ssl/certs/ca-certificates.crt", "etc/passwd"} {
		if !found[f] {
			t.Errorf("image lacks %s", f)
		}
	}
	cmd := exec.Command(extracted, "validate", "--config="+filepath.Join(testbin.RepoRoot(), "deploy", "config", "local.yaml"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the image's binary does not run: %v\n%s", err, out)
	}
}
