#!/usr/bin/env bash
# make bench: every figure of docs/benchmarks.md, measured in one run on this
# machine against a lab chronyd on loopback. Needs Debian's chrony (make test
# installs it) and the built collector (make build).
#   BENCH_COUNT   runs per benchmark (default 5)
#   BENCH_TIME    go test -benchtime (default 2s)
#   BENCH_DURATION, BENCH_INTERVAL  the collector-process run (default 60s, 100ms)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d "${TMPDIR:-/tmp}/otelcol-chrony-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

(cd receiver/chronyreceiver && go test -run '^$' -bench '^Benchmark(TrackingRoundTrip|Scrape|ChronycTracking)$' -benchmem \
	-count "${BENCH_COUNT:-5}" -benchtime "${BENCH_TIME:-2s}" .) | tee "$out/bench.txt"
go run ./cmd/benchreport -bench "$out/bench.txt" -otelcol _build/otelcol-chrony \
	-duration "${BENCH_DURATION:-60s}" -interval "${BENCH_INTERVAL:-100ms}" \
	-out docs/benchmarks -doc docs/benchmarks.md
