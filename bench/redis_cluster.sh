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

node() {  # node PORT [options]: a redis-server in the foreground of its own job
  local port=$1; shift
  mkdir -p "$work/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/$port" \
    --logfile "$work/$port/redis.log" "$@" >/dev/null &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "redis-server on port $port did not start" >&2; return 1
}

# Redis CPU seconds (user + sys) summed over the given ports.
redis_cpu() {
  local total=0 p
  for p in "$@"; do
    total=$(redis-cli -p "$p" info cpu | tr -d '\r' | awk -F: -v t="$total" \
      '/^used_cpu_(user|sys):/ { t += $2 } END { printf "%.3f", t }')
  done
  echo "$total"
}

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

ports=(); buses=()
for i in 0 1 2; do
  ports+=("$(free_port)"); buses+=("$(free_port)")
  node "${ports[$i]}" --cluster-enabled yes --cluster-port "${buses[$i]}" --cluster-config-file "$work/nodes-$i.conf"
  redis-cli -p "${ports[$i]}" cluster set-config-epoch $((i + 1)) >/dev/null
  redis-cli -p "${ports[$i]}" cluster addslotsrange $((i * 16384 / 3)) $(((i + 1) * 16384 / 3 - 1)) >/dev/null
done
for i in 1 2; do redis-cli -p "${ports[0]}" cluster meet 127.0.0.1 "${ports[$i]}" "${buses[$i]}" >/dev/null; done
for _ in $(seq 400); do
  ok=0
  for p in "${ports[@]}"; do redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' && ok=$((ok + 1)); done
  [ "$ok" = 3 ] && break; sleep 0.05
done
run "redis-cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}" "${ports[@]}"
