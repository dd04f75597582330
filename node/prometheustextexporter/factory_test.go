package prometheustextexporter

import (
	"testing"
)

// The generated tests (generated_component_test.go) take the type from
// metadata.yaml, so they would pass with it renamed; the DaemonSet's
// configurations (deploy/kubernetes, deploy/helm) name it prometheustext, and
// this pins that.
// Creating, starting, consuming and shutting down are the generated tests'.
func TestFactoryTypeIsTheNameConfigurationsUse(t *testing.T) {
	if got := NewFactory().Type().String(); got != "prometheustext" {
		t.Fatalf("type %q: the DaemonSet's configurations name the exporter prometheustext", got)
	}
}

// The default configuration needs only an endpoint to be valid.
func TestDefaultConfigWithEndpointIsValid(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
