#!/usr/bin/env bash
# What each part of a collector adds to its binary, and so to its resident
# memory (docs/benchmarks.md, "RSS is the binary"): ocb builds of the chrony
# receiver with one component or the internal telemetry changed at a time,
# stripped as ocb strips them, written to docs/benchmarks/sizes.md.
#   usage: sizes.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/otelcol-chrony-sizes.XXXXXX")}
root=$PWD

receiver='receivers:
  - gomod: github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver v0.0.0
    path: '$root'/receiver/chronyreceiver'
debug='  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v0.165.0'
promtext='  - gomod: github.com/chronyotel/otelcol-chrony/node v0.0.0
    import: github.com/chronyotel/otelcol-chrony/node/prometheustextexporter
    path: '$root'/node'
contribprom='  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter v0.165.1'
healthcheck='extensions:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension v0.165.1'
readiness='extensions:
  - gomod: github.com/chronyotel/otelcol-chrony/node v0.0.0
    import: github.com/chronyotel/otelcol-chrony/node/readinessextension
    path: '$root'/node'
logtelemetry='telemetry:
  gomod: github.com/chronyotel/otelcol-chrony/node v0.0.0
  import: github.com/chronyotel/otelcol-chrony/node/logtelemetry
  path: '$root'/node'
providers='providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider v1.71.0
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v1.71.0
  - gomod: go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.71.0'

# build NAME EXPORTER EXTENSIONS TELEMETRY: prints the binary's size in bytes.
build() {
	local name=$1 dir=$out/$1
	mkdir -p "$dir"
	printf 'dist:\n  name: %s\n  description: size probe\n  version: 0.1.0\n  output_path: %s\n  module: example.com/sizes/%s\n%s\nexporters:\n%s\n%s\n%s\n%s\n' \
		"$name" "$dir" "$name" "$receiver" "$2" "$3" "$4" "$providers" >"$dir/manifest.yaml"
	.tools/builder --config "$dir/manifest.yaml" >"$dir/build.log" 2>&1 || { cat "$dir/build.log" >&2; exit 1; }
	stat -c %s "$dir/$name"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", (a - b) / 1048576 }'; }

framework=$(build framework "$debug" "" "")
lean=$(build lean "$debug" "" "$logtelemetry")
withhealth=$(build health "$debug" "$healthcheck" "$logtelemetry")
withreadiness=$(build readiness "$debug" "$readiness" "$logtelemetry")
withprom=$(build contribprom "$contribprom" "" "$logtelemetry")
withtext=$(build promtext "$promtext" "" "$logtelemetry")

table="Measured $(date -u +%Y-%m-%d) with $(go version | awk '{print $3}'), linux/$(go env GOARCH), stripped (ocb's \`-s -w\`).

| Build (the chrony receiver and...) | Binary | Against the row it changes |
| --- | --- | --- |
| the debug exporter, the collector's default telemetry (otelconftelemetry) | $(mib "$framework") MiB | |
| the debug exporter, logtelemetry | $(mib "$lean") MiB | $(delta "$lean" "$framework") MiB: the default telemetry |
| the debug exporter, logtelemetry, the contrib health check | $(mib "$withhealth") MiB | $(delta "$withhealth" "$lean") MiB: the contrib health check |
| the debug exporter, logtelemetry, the readiness extension | $(mib "$withreadiness") MiB | $(delta "$withreadiness" "$lean") MiB: readiness |
| the contrib Prometheus exporter, logtelemetry | $(mib "$withprom") MiB | $(delta "$withprom" "$lean") MiB: the contrib Prometheus exporter for the debug exporter |
| prometheustext, logtelemetry | $(mib "$withtext") MiB | $(delta "$withtext" "$lean") MiB: prometheustext for the debug exporter |
"
printf '%s' "$table" | tee docs/benchmarks/sizes.md
