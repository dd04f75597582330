//go:generate mdatagen metadata.yaml

// Package chronyreceiver reads chronyd over chrony's binary command protocol,
// on the unix socket or UDP port 323, and turns its tracking, sources,
// sourcestats and serverstats reports into OpenTelemetry metrics, with a bound
// on the clock's error from UTC.
package chronyreceiver // import "github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver"
