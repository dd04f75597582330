#!/usr/bin/env bash
# Profiles under the load make bench measures, sped up (a scrape every 100 ms,
# a pull every 20 ms or so) so that the profiles have enough samples, into
# docs/benchmarks/: Go CPU and allocation profiles from each build's pprof
# endpoint, and a system-wide view with perf where the machine allows it.
# Two builds: the previous pipeline's floor (the contrib Prometheus exporter;
# profile-*.txt, perf-*.txt) and the DaemonSet's otelcol-chrony-node with
# pprof added (node-profile-*.txt, node-perf-*.txt).
#   usage: profile.sh CHRONY_ENDPOINT OUT_DIR [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
endpoint=$1 out=$2 secs=${3:-30}
port() { echo $((20000 + RANDOM % 20000)); }

# profile PREFIX BINARY PROMETHEUS_ENDPOINT_KEY EXTRA_SET CONFIG...
profile() {
	local prefix=$1 bin=$2 promkey=$3 extra=$4
	shift 4
	local configs=()
	for c in "$@"; do configs+=(--config "$c"); done
	if [ -n "$extra" ]; then configs+=("--set=$extra"); fi
	local prom=127.0.0.1:$(port) pprof=127.0.0.1:$(port)
	CHRONY_ENDPOINT=$endpoint MY_POD_IP=127.0.0.1 PPROF_ENDPOINT=$pprof \
		K8S_NODE_NAME=bench K8S_CLUSTER_NAME=bench COMPLIANCE_PROFILE=mifid_ii_hft \
		"$bin" "${configs[@]}" --set="$promkey=$prom" \
		--set=receivers::chrony::collection_interval=100ms \
		--set=receivers::chrony::timeout=1s --set=receivers::chrony::initial_delay=0s >"$out/${prefix}collector.log" 2>&1 &
	local pid=$!
	sleep 5
	(end=$((SECONDS + secs + 5)); while [ $SECONDS -lt $end ]; do curl -s -o /dev/null "http://$prom/metrics"; sleep 0.02; done) &
	local puller=$!
	curl -s -o "$out/${prefix}cpu.pprof" "http://$pprof/debug/pprof/profile?seconds=$secs" &
	local profiler=$!
	if command -v perf >/dev/null && perf record -q -F 499 -g -p "$pid" -o "$out/${prefix}perf.data" -- sleep "$secs" 2>/dev/null; then
		perf report -i "$out/${prefix}perf.data" --stdio --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 >"docs/benchmarks/${prefix}perf-by-dso.txt" || true
		perf report -i "$out/${prefix}perf.data" --stdio --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 >"docs/benchmarks/${prefix}perf-by-symbol.txt" || true
	else
		echo "perf is not available on this machine" >"docs/benchmarks/${prefix}perf-by-dso.txt"
	fi
	wait "$profiler" || true
	wait "$puller" || true
	curl -s -o "$out/${prefix}allocs.pprof" "http://$pprof/debug/pprof/allocs"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# By cumulative time: what each part of the work (serving a pull, a
	# scrape, the exchange) costs, system calls included.
	go tool pprof -top -cum -nodecount=40 "$out/${prefix}cpu.pprof" >"docs/benchmarks/${prefix}profile-cpu.txt" 2>/dev/null
	go tool pprof -top -nodecount=30 -sample_index=alloc_space "$out/${prefix}allocs.pprof" >"docs/benchmarks/${prefix}profile-allocs.txt" 2>/dev/null
}

profile "" _build/floor/otelcol-chrony-floor exporters::prometheus::endpoint "" scripts/bench/floor.yaml scripts/bench/profile.yaml
profile node- _build/node-profile/otelcol-chrony-node-profile exporters::prometheustext::endpoint \
	"extensions::readiness::endpoint=127.0.0.1:$(port)" deploy/kubernetes/base/otelcol-chrony.yaml scripts/bench/profile.yaml
echo "profiles: docs/benchmarks/{,node-}profile-cpu.txt, {,node-}profile-allocs.txt, {,node-}perf-by-dso.txt"
