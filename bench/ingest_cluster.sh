#!/usr/bin/env bash
# d4-server ingest into one Redis (reference key layout) and into a 3-master Redis Cluster
# (cluster key layout: each session's stream on the master of its slot), in one run, alternately,
# ROUNDS times each: the same SENSORS TLS sensors x MB megabytes of 4 KB packets (d4-ingest-bench,
# as bench/ingest_e2e.sh), 2 server threads, coalescing at its default. Measured until
# d4_server_packets_total counts every packet: MB/s, and the Redis CPU per MB summed over every
# Redis server that stores streams (one, or the three masters; the meta Redis is a separate single
# Redis in both runs and not counted). Everything shares this machine: on 2 cores the three
# masters, the server and the sender compete, so the CPU per MB is the figure to carry to other
# machines, the MB/s is this machine's.
#
# Usage: bench/ingest_cluster.sh BUILD_DIR [SENSORS=20] [MB=20] [ROUNDS=2]
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [SENSORS] [MB] [ROUNDS]}" && pwd)
n=${2:-20}; mb=${3:-20}; rounds=${4:-2}
here=$(cd "$(dirname "$0")" && pwd)
tools=${D4_SHARED_TOOLS:-$(cd "$here/../.." && pwd)/shared/tools}
source "$here/lib.sh"
source "$here/cluster_lib.sh"
bench_streams "$n" "$mb"
pids=(); spid=""
stop_all() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  spid=""
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
cleanup() { stop_all; rm -rf "$base"; }
base=$(mktemp -d)
trap cleanup EXIT INT TERM

# run NAME: d4-server on the Redis servers set up by the caller (stream_ports, D4_* variables),
# then the sender; prints the sender's figures (Redis CPU and XADDs summed over stream_ports).
run() {
  local sport mport redis_args=() p
  sport=$(free_port); mport=$(free_port)
  start_d4_server "${stream_ports[0]}" "$sport" "$mport" 2 ""
  for p in "${stream_ports[@]}"; do redis_args+=(--redis "127.0.0.1:$p/0"); done
  echo "== $1; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$build/bin/d4-ingest-bench" send --port "$sport" "${redis_args[@]}" --metrics-port "$mport" \
    --server-pid "$spid" "$data"/s*.d4 | grep -E '^(stored|throughput|cpu|redis) '
  grep -E "error|critical" "$work/server.log" | head -5 || true
}

for round in $(seq "$rounds"); do
  work=$base/single-$round; mkdir -p "$work"
  single=$(free_port); node "$single"; stream_ports=("$single")
  unset D4_STREAM_REDIS D4_META_REDIS D4_REDIS_SECTION_EXTRA
  run "round $round: one Redis (reference layout)"
  stop_all

  work=$base/cluster-$round; mkdir -p "$work"
  start_cluster3; stream_ports=("${ports[@]}")
  meta=$(free_port); node "$meta"
  export D4_STREAM_REDIS="redis-cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}"
  export D4_META_REDIS="127.0.0.1:$meta/0"
  export D4_REDIS_SECTION_EXTRA='key_layout = "cluster"'
  run "round $round: 3-master cluster (cluster layout)"
  for p in "${ports[@]}"; do
    echo "   master $p: $(redis-cli -p "$p" dbsize) keys, $(redis-cli -p "$p" info commandstats | tr -d '\r' | grep -o 'cmdstat_xadd:calls=[0-9]*' || echo 'cmdstat_xadd:calls=0')"
  done
  stop_all
done
