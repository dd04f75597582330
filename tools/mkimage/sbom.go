package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
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

// The CycloneDX 1.5 document, as much of it as an SBOM of a Go program needs.
type cdxDocument struct {
	BOMFormat    string         `json:"bomFormat"`
	SpecVersion  string         `json:"specVersion"`
	Version      int            `json:"version"`
	Metadata     cdxMetadata    `json:"metadata"`
	Components   []cdxComponent `json:"components"`
	Dependencies []cdxDep       `json:"dependencies"`
}

type cdxMetadata struct {
	Component  cdxComponent  `json:"component"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxComponent struct {
	Type    string `json:"type"`
	BOMRef  string `json:"bom-ref"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	PURL    string `json:"purl,omitempty"`
	// Properties carry the go.sum hash (h1:, a hash of the module's file
	// hashes, not of an artifact, so not a CycloneDX hash).
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxDep struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

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
	main := cdxComponent{Type: "application", BOMRef: purl(info.Main.Path, version), Name: prog, Version: version, PURL: purl(info.Main.Path, version)}
	doc := cdxDocument{BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1, Metadata: cdxMetadata{Component: main}}
	doc.Metadata.Properties = append(doc.Metadata.Properties, cdxProperty{Name: "go.version", Value: info.GoVersion}, cdxProperty{Name: "go.module", Value: info.Main.Path})
	for _, s := range info.Settings {
		switch s.Key {
		case "GOOS", "GOARCH", "CGO_ENABLED", "-trimpath", "vcs.revision", "vcs.time":
			doc.Metadata.Properties = append(doc.Metadata.Properties, cdxProperty{Name: "go.build." + s.Key, Value: s.Value})
		}
	}
	refs := []string{}
	for _, d := range info.Deps {
		mod := d
		if d.Replace != nil {
			mod = d.Replace
		}
		c := cdxComponent{Type: "library", Name: d.Path, Version: mod.Version, PURL: purl(d.Path, mod.Version)}
		if mod.Path != d.Path {
			// A module replaced by another (or a local path): the PURL names
			// what was built.
			c.Name, c.PURL = mod.Path, purl(mod.Path, mod.Version)
			if strings.HasPrefix(mod.Path, ".") || strings.HasPrefix(mod.Path, "/") {
				c.Name, c.PURL = d.Path, purl(d.Path, "v0.0.0-local")
				c.Version = "local"
			}
		}
		c.BOMRef = c.PURL
		if mod.Sum != "" {
			c.Properties = []cdxProperty{{Name: "go.sum", Value: mod.Sum}}
		}
		doc.Components = append(doc.Components, c)
		refs = append(refs, c.BOMRef)
	}
	sort.Slice(doc.Components, func(i, j int) bool { return doc.Components[i].BOMRef < doc.Components[j].BOMRef })
	sort.Strings(refs)
	doc.Dependencies = []cdxDep{{Ref: main.BOMRef, DependsOn: refs}}
	return json.MarshalIndent(doc, "", "  ")
}
