// Command mkimage builds the otelcol-chrony container image without a
// container daemon: one layer on an empty base with the static binary at
// /otelcol-chrony (where the OpenTelemetry Collector chart runs it from), the
// CA bundle for TLS to remote-write and OTLP backends, chrony-evidence beside
// it (the evidence CronJob runs /chrony-evidence from the same image), and a
// non-root user.
// It writes a tarball that `docker load`, `podman load` or `crane push` take.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The user the image runs as: not root, and the UID the manifests set.
const (
	uid = 65532
	gid = 65532
)

func main() {
	binary := flag.String("binary", "_build/otelcol-chrony", "the otelcol-chrony binary (static)")
	evidence := flag.String("evidence", "_build/chrony-evidence", "the chrony-evidence binary (static)")
	caBundle := flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates to include")
	tag := flag.String("tag", "ghcr.io/chronyotel/otelcol-chrony:0.1.0", "the image reference")
	out := flag.String("out", "_build/otelcol-chrony-image.tar", "where to write the image tarball")
	flag.Parse()
	if err := build(*binary, *evidence, *caBundle, *tag, *out); err != nil {
		log.Fatalf("mkimage: %v", err)
	}
	fmt.Printf("mkimage: wrote %s (%s)\n", *out, *tag)
}

func build(binary, evidence, caBundle, tag, out string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	files := []struct {
		path string
		mode int64
		src  string
		data []byte
	}{
		{path: "otelcol-chrony", mode: 0o755, src: binary},
		{path: "chrony-evidence", mode: 0o755, src: evidence},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, src: caBundle},
		{path: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", uid, gid)},
		{path: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", gid)},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the layer's digest a function of its content.
	epoch := time.Unix(0, 0)
	for _, dir := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "home/", "home/nonroot/", "tmp/"} {
		mode := int64(0o755)
		if dir == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, f := range files {
		data := f.data
		if f.src != "" {
			if data, err = os.ReadFile(f.src); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, gid),
		Entrypoint: []string{"/otelcol-chrony"},
		Cmd:        []string{"--config=/conf/config.yaml"},
		Env:        []string{"PATH=/"},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "otelcol-chrony",
			"org.opencontainers.image.description": "OpenTelemetry Collector that watches chronyd and bounds the clock's error from UTC",
		},
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}
