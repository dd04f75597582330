package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// decodeSBOM reads a CycloneDX JSON document with cyclonedx-go's decoder.
func decodeSBOM(b []byte) (cdx.BOM, error) {
	var bom cdx.BOM
	err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom)
	return bom, err
}

// moduleVersions maps each component of an SBOM to its version.
func moduleVersions(bom cdx.BOM) map[string]string {
	versions := map[string]string{}
	if bom.Components != nil {
		for _, c := range *bom.Components {
			versions[c.Name] = c.Version
		}
	}
	return versions
}

// imageFiles returns the regular files of an image's only layer.
func imageFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d: %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if h.Mode&0o111 == 0 && !strings.Contains(h.Name, "/") && h.Name != "" {
				t.Errorf("%s is not executable", h.Name)
			}
			b, _ := io.ReadAll(tr)
			files[h.Name] = b
		}
	}
}

// checkIndex opens an OCI layout and checks that it is an index of one
// image per platform, each holding both programs built for its own
// architecture, their SBOMs, and the collector as entrypoint; it returns each
// platform's files.
func checkIndex(t *testing.T, dir string, archs []string) map[string]map[string][]byte {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(archs) {
		t.Fatalf("the index holds %d images, want %v", len(im.Manifests), archs)
	}
	out := map[string]map[string][]byte{}
	for i, d := range im.Manifests {
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != archs[i] {
			t.Errorf("image %d: platform %v, want linux/%s", i, d.Platform, archs[i])
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != archs[i] || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/otelcol-chrony" || cfg.Config.User != "65532:65532" {
			t.Errorf("linux/%s config: arch %s, entrypoint %v, user %q", archs[i], cfg.Architecture, cfg.Config.Entrypoint, cfg.Config.User)
		}
		files := imageFiles(t, img)
		for _, prog := range programs {
			f, err := elf.NewFile(bytes.NewReader(files[prog]))
			if err != nil {
				t.Errorf("linux/%s: /%s: %v", archs[i], prog, err)
				continue
			}
			if f.Machine != elfMachine[archs[i]] {
				t.Errorf("linux/%s: /%s is built for %s", archs[i], prog, f.Machine)
			}
			sbom, err := decodeSBOM(files["sbom/"+prog+".cdx.json"])
			if err != nil || sbom.BOMFormat != "CycloneDX" || sbom.Metadata == nil || sbom.Metadata.Component == nil || sbom.Metadata.Component.Name != prog {
				t.Errorf("linux/%s: /sbom/%s.cdx.json: %v %+v", archs[i], prog, err, sbom.Metadata)
			}
		}
		out[archs[i]] = files
	}
	return out
}

// An index built from small Go programs cross-compiled for both
// architectures holds each where it belongs; a binary of the wrong
// architecture is refused.
func TestIndexFromCrossBuiltPrograms(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "hello.go")
	os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644)
	for _, arch := range []string{"amd64", "arm64"} {
		for _, prog := range programs {
			out := filepath.Join(dir, "bin", arch, prog)
			cmd := exec.Command("go", "build", "-o", out, src)
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build %s: %v\n%s", arch, err, b)
			}
		}
	}
	ca := filepath.Join(dir, "ca.crt")
	os.WriteFile(ca, []byte("ca"), 0o644)
	oci, dockerTar := filepath.Join(dir, "oci"), filepath.Join(dir, "image.tar")
	if err := build(filepath.Join(dir, "bin"), []string{"amd64", "arm64"}, ca, "example.test/otelcol-chrony:test", oci, dockerTar, filepath.Join(dir, "sbom")); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, oci, []string{"amd64", "arm64"})
	if _, err := os.Stat(dockerTar); err != nil {
		t.Errorf("no docker tarball: %v", err)
	}

	// arm64 binaries where amd64 ones belong.
	os.Rename(filepath.Join(dir, "bin", "amd64"), filepath.Join(dir, "bin", "x"))
	os.Rename(filepath.Join(dir, "bin", "arm64"), filepath.Join(dir, "bin", "amd64"))
	err := build(filepath.Join(dir, "bin"), []string{"amd64"}, ca, "example.test/otelcol-chrony:test", oci, "", "")
	if err == nil || !strings.Contains(err.Error(), "built for EM_AARCH64, not amd64") {
		t.Errorf("a binary of the wrong architecture: %v", err)
	}
}

// The image `make image` built (make test builds it first): both
// platforms, each program runs, the arm64 ones under Debian's qemu-user, and
// the SBOM names the modules the collector was built from.
func TestBuiltImage(t *testing.T) {
	dir := filepath.Join(testbin.RepoRoot(), "_build", "otelcol-chrony-oci")
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		testkit.Unavailable(t, dir+" missing", "run make image; make test does")
	}
	files := checkIndex(t, dir, []string{"amd64", "arm64"})
	qemu := testkit.Program(t, "qemu-aarch64")
	tmp := t.TempDir()
	for arch, fs := range files {
		for _, prog := range programs {
			bin := filepath.Join(tmp, arch+"-"+prog)
			if err := os.WriteFile(bin, fs[prog], 0o755); err != nil {
				t.Fatal(err)
			}
			args := map[string][]string{"otelcol-chrony": {"--version"}, "otelcol-chrony-node": {"--version"}, "chrony-evidence": {"verify", tmp}}[prog]
			var cmd *exec.Cmd
			switch {
			case arch == runtime.GOARCH:
				cmd = exec.Command(bin, args...)
			case arch == "arm64":
				cmd = exec.Command(qemu, append([]string{bin}, args...)...)
			default:
				t.Fatalf("no way to run linux/%s here", arch)
			}
			out, _ := cmd.CombinedOutput()
			want := map[string]string{"otelcol-chrony": "otelcol-chrony version 0.1.0", "otelcol-chrony-node": "otelcol-chrony-node version 0.1.0", "chrony-evidence": "manifest.json: missing"}[prog]
			if !strings.Contains(string(out), want) {
				t.Errorf("linux/%s %s %v: %q, want %q", arch, prog, args, out, want)
			}
		}
	}
	sbom, err := decodeSBOM(files["amd64"]["sbom/otelcol-chrony.cdx.json"])
	if err != nil {
		t.Fatal(err)
	}
	names := moduleVersions(sbom)
	for _, mod := range []string{"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver", "go.opentelemetry.io/collector/otelcol", "github.com/facebook/time"} {
		if _, ok := names[mod]; !ok {
			t.Errorf("the collector's SBOM does not name %s", mod)
		}
	}
	if v := names["go.opentelemetry.io/collector/otelcol"]; v != "v0.165.0" {
		t.Errorf("SBOM: go.opentelemetry.io/collector/otelcol %q, want v0.165.0", v)
	}
	// The node build is lean by what it leaves out: none of the modules
	// that made the DaemonSet's collector heavy may creep back in.
	node, err := decodeSBOM(files["amd64"]["sbom/otelcol-chrony-node.cdx.json"])
	if err != nil {
		t.Fatal(err)
	}
	nodeModules := moduleVersions(node)
	for _, mod := range []string{"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver", "github.com/chronyotel/otelcol-chrony/node"} {
		if _, ok := nodeModules[mod]; !ok {
			t.Errorf("the node build's SBOM does not name %s", mod)
		}
	}
	for _, mod := range []string{"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter",
		"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
		"github.com/aws/aws-sdk-go-v2", "k8s.io/client-go"} {
		if _, ok := nodeModules[mod]; ok {
			t.Errorf("the node build links %s", mod)
		}
	}
}
