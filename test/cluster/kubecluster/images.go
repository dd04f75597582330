package kubecluster

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// importPause builds the sandbox image from BinDir/pause and imports it.
func (c *Cluster) importPause(ctx context.Context) error {
	bin, err := os.ReadFile(filepath.Join(c.opts.BinDir, "pause"))
	if err != nil {
		return err
	}
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "pause", Mode: 0o755, Size: int64(len(bin)), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil })
	if err != nil {
		return err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: runtime.GOARCH, OS: "linux",
		Config: v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return err
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(PauseImage)
	if err != nil {
		return err
	}
	path := filepath.Join(c.Dir, "pause.tar")
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		return fmt.Errorf("writing the pause image: %w", err)
	}
	if _, err := c.ctr(ctx, "images", "import", path); err != nil {
		return fmt.Errorf("importing the pause image: %w", err)
	}
	return nil
}

// ImportOCILayout imports an OCI image layout directory (make image's
// _build/otelcol-chrony-oci, an image index) under the name ref, this
// machine's platform unpacked, as a pull of that index from a registry
// would leave it.
func (c *Cluster) ImportOCILayout(ctx context.Context, dir, ref string) error {
	path := filepath.Join(c.Dir, filepath.Base(dir)+".tar")
	if err := tarDir(dir, path); err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	defer os.Remove(path)
	if _, err := c.ctr(ctx, "images", "import", "--platform", "linux/"+runtime.GOARCH, "--index-name", ref, path); err != nil {
		return fmt.Errorf("importing %s as %s: %w", dir, ref, err)
	}
	return nil
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.Copy(tw, src); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
