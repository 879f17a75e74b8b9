#!/usr/bin/env bash
# The asynchronous Redis client's pipelined SET rate against one Redis and against a 3-master
# Redis Cluster on this machine (Debian's redis-server, cluster built with ADDSLOTSRANGE/MEET).
# Usage: bench/redis_cluster.sh BUILD_DIR [REQUESTS] [SETS_PER_REQUEST]
set -euo pipefail
build=${1:?build dir}; requests=${2:-2000}; per=${3:-100}
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

# run ENDPOINT PORTS...: the client's rate and CPU, and the Redis servers' CPU during the run.
run() {
  local endpoint=$1; shift
  local before; before=$(redis_cpu "$@")
  /usr/bin/time -f "client CPU %U s user %S s sys" "$build/bin/d4-redis-pipeline-bench" "$endpoint" \
    --requests "$requests" --per-request "$per"
  awk -v a="$(redis_cpu "$@")" -v b="$before" -v n=$# 'BEGIN { printf "Redis CPU %.3f s over %d server(s)\n", a - b, n }'
}

single=$(free_port)
node "$single"
run "127.0.0.1:$single/0" "$single"

start_cluster3
run "redis-cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}" "${ports[@]}"
