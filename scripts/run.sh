#!/usr/bin/env bash
# make run: the collector against this machine's chronyd, or against a lab
# chronyd started here when none answers. Ctrl-C stops everything this script
# started and removes its temporary files.
set -euo pipefail
cd "$(dirname "$0")/.."

otelcol=${OTELCOL:-_build/otelcol-chrony}
config=${CONFIG:-deploy/config/local.yaml}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/otelcol-chrony-run.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; echo "run: stopping"; exit 130' INT TERM

(cd receiver/chronyreceiver && go build -o "$tmp/chronyprobe" ./internal/cmd/chronyprobe)

if [ -n "${CHRONY_ENDPOINT:-}" ]; then
	endpoint=$CHRONY_ENDPOINT
	echo "run: reading chronyd at $endpoint (CHRONY_ENDPOINT)"
elif endpoint=$("$tmp/chronyprobe" 2>"$tmp/probe.err"); then
	echo "run: found this machine's chronyd at $endpoint"
else
	echo "run: no chronyd answered on this machine:"
	sed 's/^/run:   /' "$tmp/probe.err"
	echo "run: starting a lab chronyd instead (chronyd -x: it never touches the system clock)"
	if ! command -v chronyd >/dev/null 2>&1 && [ ! -x /usr/sbin/chronyd ]; then
		./scripts/install-deps.sh chrony
	fi
	go build -o "$tmp/chronylab" ./cmd/chronylab
	"$tmp/chronylab" -endpoint-file "$tmp/endpoint" >/dev/null &
	pids+=($!)
	for _ in $(seq 1 600); do
		[ -s "$tmp/endpoint" ] && break
		kill -0 "${pids[-1]}" 2>/dev/null || { echo "run: the lab chronyd did not start" >&2; exit 1; }
		sleep 0.1
	done
	endpoint=$(cat "$tmp/endpoint")
	echo "run: lab chronyd synchronised, reading it at $endpoint"
fi

# For a person at a terminal: the collector logs only warnings, as console
# lines (the receiver warns once when chronyd stops answering, and says when
# it answers again), and chronywatch prints one line per scrape.
OTELCOL_ARGS=(--set=service::telemetry::logs::encoding=console --set=service::telemetry::logs::level=warn)
prometheus=${PROMETHEUS_ENDPOINT:-127.0.0.1:9464}
echo "run: metrics for Prometheus at http://$prometheus/metrics (for example: curl -s http://$prometheus/metrics | grep ntp_time_max_error)"
echo "run: one line per scrape below: the sync state, the reference, the bound on the clock's error; Ctrl-C stops"
go build -o "$tmp/chronywatch" ./cmd/chronywatch
"$tmp/chronywatch" -url "http://$prometheus/metrics" -every "${CHRONY_COLLECTION_INTERVAL:-10s}" &
pids+=($!)
CHRONY_ENDPOINT=$endpoint PROMETHEUS_ENDPOINT=$prometheus K8S_NODE_NAME=${K8S_NODE_NAME:-$(hostname)} \
	"$otelcol" --config "$config" "${OTELCOL_ARGS[@]}" &
pids+=($!)
wait "${pids[-1]}"
