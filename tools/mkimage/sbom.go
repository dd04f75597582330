package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"net/url"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// elfMachine is the ELF machine of each architecture the image is built for.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkELF refuses a binary built for another architecture than its place
// in the index says.
func checkELF(data []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	want, ok := elfMachine[arch]
	if !ok {
		return fmt.Errorf("no ELF machine known for %s", arch)
	}
	if f.Machine != want {
		return fmt.Errorf("built for %s, not %s", f.Machine, arch)
	}
	return nil
}

// sbomSpecVersion is the CycloneDX version written: 1.5, which the common
// SBOM consumers read, and all that an SBOM of a Go program needs.
const sbomSpecVersion = cdx.SpecVersion1_5

// cycloneDX describes the program at path from the build information the Go
// linker recorded in it: its main module, every module linked in (after
// replacements) with its version and go.sum hash, and the Go toolchain.
// Being read from the binary, it lists exactly what the binary contains.
func cycloneDX(path, prog, version string) ([]byte, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, err
	}
	purl := func(mod, ver string) string {
		return "pkg:golang/" + mod + "@" + url.PathEscape(ver)
	}
	main := cdx.Component{Type: cdx.ComponentTypeApplication, BOMRef: purl(info.Main.Path, version), Name: prog, Version: version, PackageURL: purl(info.Main.Path, version)}
	properties := []cdx.Property{{Name: "go.version", Value: info.GoVersion}, {Name: "go.module", Value: info.Main.Path}}
	for _, s := range info.Settings {
		switch s.Key {
		case "GOOS", "GOARCH", "CGO_ENABLED", "-trimpath", "vcs.revision", "vcs.time":
			properties = append(properties, cdx.Property{Name: "go.build." + s.Key, Value: s.Value})
		}
	}
	components := []cdx.Component{}
	refs := []string{}
	for _, d := range info.Deps {
		mod := d
		if d.Replace != nil {
			mod = d.Replace
		}
		c := cdx.Component{Type: cdx.ComponentTypeLibrary, Name: d.Path, Version: mod.Version, PackageURL: purl(d.Path, mod.Version)}
		if mod.Path != d.Path {
			// A module replaced by another (or a local path): the PURL names
			// what was built.
			c.Name, c.PackageURL = mod.Path, purl(mod.Path, mod.Version)
			if strings.HasPrefix(mod.Path, ".") || strings.HasPrefix(mod.Path, "/") {
				c.Name, c.PackageURL = d.Path, purl(d.Path, "v0.0.0-local")
				c.Version = "local"
			}
		}
		c.BOMRef = c.PackageURL
		if mod.Sum != "" {
			// The go.sum hash (h1:) hashes the module's file hashes, not an
			// artifact, so it is no CycloneDX hash.
			c.Properties = &[]cdx.Property{{Name: "go.sum", Value: mod.Sum}}
		}
		components = append(components, c)
		refs = append(refs, c.BOMRef)
	}
	sort.Slice(components, func(i, j int) bool { return components[i].BOMRef < components[j].BOMRef })
	sort.Strings(refs)
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{Component: &main, Properties: &properties}
	bom.Components = &components
	bom.Dependencies = &[]cdx.Dependency{{Ref: main.BOMRef, Dependencies: &refs}}
	var out bytes.Buffer
	if err := cdx.NewBOMEncoder(&out, cdx.BOMFileFormatJSON).SetPretty(true).EncodeVersion(bom, sbomSpecVersion); err != nil {
		return nil, fmt.Errorf("encoding the CycloneDX document: %w", err)
	}
	return out.Bytes(), nil
}
