# Shared by the bash benchmark scripts that compare one Redis with a 3-master Redis Cluster
# (source it after lib.sh). The caller provides $work (a scratch directory) and the array pids
# (killed by its cleanup).

node() {  # node PORT [options]: a redis-server in the foreground of its own job
  local port=$1; shift
  mkdir -p "$work/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/$port" \
    --logfile "$work/$port/redis.log" "$@" >/dev/null &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "redis-server on port $port did not start" >&2; return 1
}

redis_cpu() {  # Redis CPU seconds (user + sys) summed over the given ports
  local total=0 p
  for p in "$@"; do
    total=$(redis-cli -p "$p" info cpu | tr -d '\r' | awk -F: -v t="$total" \
      '/^used_cpu_(user|sys):/ { t += $2 } END { printf "%.3f", t }')
  done
  echo "$total"
}

# start_cluster3: three cluster-enabled nodes on free ports, the slots split in three
# (ADDSLOTSRANGE), joined with MEET, until every node reports cluster_state:ok. Sets the array
# ports (client ports, master i owns slots i*16384/3 .. (i+1)*16384/3-1).
start_cluster3() {
  local i p ok buses=()
  ports=()
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
    [ "$ok" = 3 ] && return 0
    sleep 0.05
  done
  echo "the 3-master cluster did not reach cluster_state:ok" >&2; return 1
}
