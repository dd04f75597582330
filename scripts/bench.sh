#!/usr/bin/env bash
# make bench: every figure of docs/benchmarks.md, measured in one run on this
# machine against a lab chronyd on loopback. Needs Debian's chrony (make test
# installs it) and the built collectors (make build); builds the floor build,
# the node build with pprof and the baseline exporter it compares with.
#   BENCH_COUNT   runs per benchmark (default 5)
#   BENCH_TIME    go test -benchtime (default 2s)
#   BENCH_WINDOWS, BENCH_WINDOW  measurement windows per process (default 6 of 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d "${TMPDIR:-/tmp}/otelcol-chrony-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

.tools/builder --config scripts/bench/builder-floor.yaml >"$out/floor-build.log" 2>&1 || { cat "$out/floor-build.log"; exit 1; }
.tools/builder --config scripts/bench/builder-node-profile.yaml >"$out/node-profile-build.log" 2>&1 || { cat "$out/node-profile-build.log"; exit 1; }
go build -C tools -o "$PWD/_build/baselineexporter" ./baselineexporter
(cd receiver/chronyreceiver && go test -run '^$' -bench '^Benchmark(TrackingRoundTrip|Scrape|ChronycTracking)$' -benchmem \
	-count "${BENCH_COUNT:-5}" -benchtime "${BENCH_TIME:-2s}" .) | tee "$out/bench.txt"
go build -C tools -o "$PWD/_build/tools/benchreport" ./benchreport
_build/tools/benchreport -bench "$out/bench.txt" -otelcol _build/otelcol-chrony -node _build/node/otelcol-chrony-node \
	-floor _build/floor/otelcol-chrony-floor -baseline _build/baselineexporter \
	-windows "${BENCH_WINDOWS:-6}" -window "${BENCH_WINDOW:-10s}" \
	-out docs/benchmarks -doc docs/benchmarks.md
# Profiles of the same load, against a lab chronyd of their own.
go build -C tools -o "$out/devrun" ./devrun
"$out/devrun" -lab -endpoint-file "$out/endpoint" >"$out/lab.log" 2>&1 &
lab=$!
for _ in $(seq 1 300); do [ -s "$out/endpoint" ] && break; sleep 0.1; done
./scripts/bench/profile.sh "$(cat "$out/endpoint")" "$out" "${BENCH_PROFILE_SECONDS:-30}"
# What each component adds to a binary (docs/benchmarks/sizes.md).
./scripts/bench/sizes.sh "$out/sizes" >/dev/null
kill $lab; wait $lab 2>/dev/null || true
