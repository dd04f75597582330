// Command mkimage builds the otelcol-chrony container image without a
// container daemon, for linux/amd64 and linux/arm64 as one image index (an
// OCI layout directory that `crane push --index` uploads), plus a docker
// tarball of the host's platform for `docker load`. Each image is one layer
// on an empty base: the static collector at /otelcol-chrony (where the
// OpenTelemetry Collector chart runs it from), the DaemonSet's lean build at
// /otelcol-chrony-node, chrony-evidence beside them (the
// evidence CronJob runs /chrony-evidence), the CA bundle for TLS to
// remote-write and OTLP backends, a non-root user, and a CycloneDX SBOM of
// each program under /sbom, made from the module graph the Go linker
// recorded in the binary. The SBOMs are also written beside the image.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the image runs as: not root, and the UID the manifests set.
const (
	uid = 65532
	gid = 65532
)

// programs are the binaries in the image, by path.
var programs = []string{"otelcol-chrony", "otelcol-chrony-node", "chrony-evidence"}

func main() {
	binDir := flag.String("bin-dir", "_build/image", "holds <arch>/otelcol-chrony, <arch>/otelcol-chrony-node and <arch>/chrony-evidence, static, for each platform")
	platforms := flag.String("platforms", "amd64,arm64", "linux architectures, comma-separated")
	caBundle := flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates to include")
	tag := flag.String("tag", "ghcr.io/chronyotel/otelcol-chrony:0.1.0", "the image reference")
	out := flag.String("out", "_build/otelcol-chrony-oci", "the OCI layout directory to write the image index into")
	dockerTar := flag.String("docker-tar", "_build/otelcol-chrony-image.tar", "a docker tarball of this machine's platform, for docker load (empty: none)")
	sbomDir := flag.String("sbom-dir", "_build/sbom", "where to write the SBOMs beside the image")
	flag.Parse()
	archs := strings.Split(*platforms, ",")
	if err := build(*binDir, archs, *caBundle, *tag, *out, *dockerTar, *sbomDir); err != nil {
		log.Fatalf("mkimage: %v", err)
	}
	fmt.Printf("mkimage: wrote %s (%s, linux/%s)\n", *out, *tag, strings.Join(archs, ", linux/"))
}

func build(binDir string, archs []string, caBundle, tag, out, dockerTar, sbomDir string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var hostImage v1.Image
	for _, arch := range archs {
		img, sboms, err := platformImage(filepath.Join(binDir, arch), arch, caBundle, ref.Identifier())
		if err != nil {
			return fmt.Errorf("linux/%s: %w", arch, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		if arch == runtime.GOARCH {
			hostImage = img
		}
		if sbomDir != "" {
			// The module graph is the same on every platform.
			if err := os.MkdirAll(sbomDir, 0o755); err != nil {
				return err
			}
			for prog, sbom := range sboms {
				if err := os.WriteFile(filepath.Join(sbomDir, prog+".cdx.json"), sbom, 0o644); err != nil {
					return err
				}
			}
		}
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if _, err := layout.Write(out, idx); err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if dockerTar != "" && hostImage != nil {
		if err := tarball.WriteToFile(dockerTar, ref, hostImage); err != nil {
			return fmt.Errorf("writing the docker tarball: %w", err)
		}
	}
	return nil
}

type file struct {
	path string
	mode int64
	data []byte
}

// platformImage is one platform's image, and the SBOM of each program.
func platformImage(dir, arch, caBundle, version string) (v1.Image, map[string][]byte, error) {
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, nil, err
	}
	files := []file{
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{path: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, gid)},
		{path: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", gid)},
	}
	sboms := map[string][]byte{}
	for _, prog := range programs {
		path := filepath.Join(dir, prog)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		if err := checkELF(data, arch); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		sbom, err := cycloneDX(path, prog, version)
		if err != nil {
			return nil, nil, fmt.Errorf("SBOM of %s: %w", path, err)
		}
		sboms[prog] = sbom
		files = append(files, file{path: prog, mode: 0o755, data: data}, file{path: "sbom/" + prog + ".cdx.json", mode: 0o644, data: sbom})
	}
	layerBytes, err := layerTar(files)
	if err != nil {
		return nil, nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, gid),
		Entrypoint: []string{"/otelcol-chrony"},
		Cmd:        []string{"--config=/conf/config.yaml"},
		Env:        []string{"PATH=/"},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "otelcol-chrony",
			"org.opencontainers.image.description": "OpenTelemetry Collector that watches chronyd and bounds the clock's error from UTC",
			"org.opencontainers.image.version":     version,
		},
	}
	img, err = mutate.ConfigFile(img, cfg)
	return img, sboms, err
}

// A fixed time keeps the layer's digest a function of its content.
var epoch = time.Unix(0, 0)

func layerTar(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "home/", "home/nonroot/", "sbom/", "tmp/"} {
		mode := int64(0o755)
		if dir == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
