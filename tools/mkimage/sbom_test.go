package main

import (
	"os"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// The SBOM of this test binary, which links cyclonedx-go: a CycloneDX 1.5
// document naming the program, each linked module with its version, PURL
// and go.sum hash, and the program depending on every one of them.
func TestSBOMOfALinkedProgram(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := cycloneDX(exe, "mkimage.test", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	bom, err := decodeSBOM(b)
	if err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != cdx.SpecVersion1_5 || bom.Version != 1 {
		t.Errorf("format %q, spec %s, version %d; want CycloneDX 1.5, version 1", bom.BOMFormat, bom.SpecVersion, bom.Version)
	}
	main := bom.Metadata.Component
	if main.Type != cdx.ComponentTypeApplication || main.Name != "mkimage.test" || main.Version != "0.1.0" ||
		main.PackageURL != "pkg:golang/github.com/chronyotel/otelcol-chrony/tools@0.1.0" || main.BOMRef != main.PackageURL {
		t.Errorf("the program: %+v", main)
	}
	properties := map[string]string{}
	for _, p := range *bom.Metadata.Properties {
		properties[p.Name] = p.Value
	}
	if !strings.HasPrefix(properties["go.version"], "go1.") || properties["go.module"] != "github.com/chronyotel/otelcol-chrony/tools" {
		t.Errorf("metadata properties %v", properties)
	}
	var found *cdx.Component
	refs := map[string]bool{}
	for i, c := range *bom.Components {
		refs[c.BOMRef] = true
		if c.Name == "github.com/CycloneDX/cyclonedx-go" {
			found = &(*bom.Components)[i]
		}
	}
	if found == nil {
		t.Fatal("cyclonedx-go, which this binary links, is not among the components")
	}
	if found.Type != cdx.ComponentTypeLibrary || found.Version != "v0.12.0" || found.PackageURL != "pkg:golang/github.com/CycloneDX/cyclonedx-go@v0.12.0" ||
		found.Properties == nil || len(*found.Properties) != 1 || (*found.Properties)[0].Name != "go.sum" || !strings.HasPrefix((*found.Properties)[0].Value, "h1:") {
		t.Errorf("cyclonedx-go: %+v %v", found, found.Properties)
	}
	deps := *bom.Dependencies
	if len(deps) != 1 || deps[0].Ref != main.BOMRef || len(*deps[0].Dependencies) != len(refs) {
		t.Fatalf("dependencies %+v; want the program depending on its %d modules", deps, len(refs))
	}
	for _, r := range *deps[0].Dependencies {
		if !refs[r] {
			t.Errorf("the program depends on %s, which is no component", r)
		}
	}
}
