#!/usr/bin/env bash
# Profiles of the receiver and the Prometheus exporter under the load make
# bench measures, sped up (a scrape every 100 ms, a pull every 20 ms or so) so
# that the profiles have enough samples, into docs/benchmarks/:
# Go CPU and allocation profiles from the floor build's pprof endpoint, and a
# system-wide view with perf where the machine allows it.
#   usage: profile.sh CHRONY_ENDPOINT OUT_DIR [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
endpoint=$1 out=$2 secs=${3:-30}
port() { echo $((20000 + RANDOM % 20000)); }
prom=127.0.0.1:$(port) pprof=127.0.0.1:$(port)
CHRONY_ENDPOINT=$endpoint MY_POD_IP=127.0.0.1 PPROF_ENDPOINT=$pprof \
	_build/floor/otelcol-chrony-floor --config scripts/bench/floor.yaml --config scripts/bench/profile.yaml \
	--set=exporters::prometheus::endpoint=$prom --set=receivers::chrony::collection_interval=100ms \
	--set=receivers::chrony::timeout=1s --set=receivers::chrony::initial_delay=0s >"$out/profile-collector.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 5
( end=$((SECONDS + secs + 5)); while [ $SECONDS -lt $end ]; do curl -s -o /dev/null "http://$prom/metrics"; sleep 0.02; done ) &
puller=$!
curl -s -o "$out/cpu.pprof" "http://$pprof/debug/pprof/profile?seconds=$secs" &
profiler=$!
if command -v perf >/dev/null && perf record -q -F 499 -g -p "$pid" -o "$out/perf.data" -- sleep "$secs" 2>/dev/null; then
	perf report -i "$out/perf.data" --stdio --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 >docs/benchmarks/perf-by-dso.txt || true
	perf report -i "$out/perf.data" --stdio --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 >docs/benchmarks/perf-by-symbol.txt || true
else
	echo "perf is not available on this machine" >docs/benchmarks/perf-by-dso.txt
fi
wait "$profiler" || true
wait "$puller" || true
curl -s -o "$out/allocs.pprof" "http://$pprof/debug/pprof/allocs"
go tool pprof -top -nodecount=30 "$out/cpu.pprof" >docs/benchmarks/profile-cpu.txt 2>/dev/null
go tool pprof -top -nodecount=30 -sample_index=alloc_space "$out/allocs.pprof" >docs/benchmarks/profile-allocs.txt 2>/dev/null
echo "profiles: docs/benchmarks/profile-cpu.txt, profile-allocs.txt, perf-by-dso.txt"
