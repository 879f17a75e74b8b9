#!/bin/bash
# End-to-end ingest benchmark of d4-server (issue 3): SENSORS concurrent TLS sensors each sending
# MB megabytes of pcap in 4 KB packets (streams made by the independent ../shared/tools/mkbench.sh),
# measured until every packet is in Redis. Starts its own redis-server (no persistence, like the
# reference's stream Redis) and d4-server on free loopback ports; everything shares this machine.
#
#   bench/ingest_e2e.sh BUILD_DIR [SENSORS=20] [MB=20] [THREADS=2] [--plain] [--python]
#
# BUILD_DIR must hold bin/d4-server and bin/d4-ingest-bench (configure with -DD4_BUILD_BENCH=ON,
# build targets d4-server d4-ingest-bench). --plain uses the loopback plain-TCP listener instead of
# TLS; --python also runs the shared ingest_bench.py on the same data for a cross-check.
# Workload files are cached in ${D4_BENCH_DATA:-/tmp/d4-ingest-bench-data}. D4_SERVER_EXTRA adds
# lines to the server's [server] section (e.g. "max_session_pending_bytes = 1048576");
# D4_SEND_RATE=MB/s paces the senders (total rate) to measure latency below saturation;
# D4_REDIS_EXTRA adds redis-server options (e.g. "--appendonly yes --appendfsync everysec");
# D4_REPLICA=1 gives the Redis a replica (another redis-server on this machine, --replicaof, no
# persistence), started and online before d4-server (for [server] wait_replicas);
# D4_REDIS_TLS=1 makes d4-server reach Redis over TLS (rediss://, a throw-away CA; Redis also
# serves TLS on a second port).
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [SENSORS] [MB] [THREADS] [--plain] [--python]}" && pwd)
shift
n=20; mb=20; threads=2; plain=0; python=0; pos=0
for a in "$@"; do
  case "$a" in
    --plain) plain=1 ;;
    --python) python=1 ;;
    *) pos=$((pos + 1)); case $pos in 1) n=$a ;; 2) mb=$a ;; 3) threads=$a ;; esac ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
tools=${D4_SHARED_TOOLS:-$(cd "$here/../.." && pwd)/shared/tools}
source "$here/lib.sh"
bench_streams "$n" "$mb"
work=$(mktemp -d)
rport=$(free_port); sport=$(free_port); pport=$(free_port); mport=$(free_port); replport=$(free_port)
tport=$(free_port)
cleanup() {
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
  [ "${D4_REPLICA:-0}" = 1 ] && redis-cli -p "$replport" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
redis_tls=()
if [ "${D4_REDIS_TLS:-0}" = 1 ]; then
  make_redis_tls_files "$work/redis-tls"
  redis_tls=(--tls-port "$tport" --tls-cert-file "$work/redis-tls/server.crt" --tls-key-file
             "$work/redis-tls/server.key" --tls-ca-cert-file "$work/redis-tls/ca.crt" --tls-auth-clients no)
  export D4_REDIS_ENDPOINT="rediss://127.0.0.1:$tport"
  export D4_REDIS_QUERY="?ca=$work/redis-tls/ca.crt"
fi
# shellcheck disable=SC2086  # D4_REDIS_EXTRA is a list of options
start_redis "$rport" "${redis_tls[@]}" --repl-diskless-sync-delay 0 ${D4_REDIS_EXTRA:-}
if [ "${D4_REPLICA:-0}" = 1 ]; then
  mkdir -p "$work/replica"
  redis-server --port "$replport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/replica" \
    --daemonize yes --logfile "$work/replica/redis.log" --replicaof 127.0.0.1 "$rport" >/dev/null
  for _ in $(seq 200); do
    redis-cli -p "$rport" info replication | grep -q 'state=online' && break
    sleep 0.05
  done
  redis-cli -p "$rport" info replication | grep -q 'state=online' || { echo "replica not online" >&2; exit 1; }
fi
start_d4_server "$rport" "$sport" "$mport" "$threads" "plain_listen = [\"127.0.0.1:$pport\"]
${D4_SERVER_EXTRA:-}"
port=$sport; [ "$plain" = 1 ] && port=$pport
echo "== d4-server ingest: $n sensors x $mb MB, 4 KB packets, $([ "$plain" = 1 ] && echo plain TCP || echo TLS), $threads server threads, $(nproc) cores, Redis over $([ "${D4_REDIS_TLS:-0}" = 1 ] && echo TLS || echo TCP)"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
args=(send --port "$port" --redis "127.0.0.1:$rport/0" --metrics-port "$mport" --server-pid "$spid")
[ "$plain" = 1 ] && args+=(--plain)
[ -n "${D4_SEND_RATE:-}" ] && args+=(--rate "$D4_SEND_RATE")
"$build/bin/d4-ingest-bench" "${args[@]}" "$data"/s*.d4
echo "   redis used_memory: $(redis-cli -p "$rport" info memory | grep '^used_memory_human' | cut -d: -f2 | tr -d '\r')"
if [ "${D4_REPLICA:-0}" = 1 ]; then
  echo "   replica: $(redis-cli -p "$rport" info replication | grep '^slave0' | cut -d: -f2 | tr -d '\r'), $(curl -s "http://127.0.0.1:$mport/metrics" | grep -E '^d4_server_replica_wait_timeouts_total' | tr -d '\r')"
fi
echo "   server peak RSS: $(grep VmHWM /proc/$spid/status | awk '{print $2/1024 " MB"}')"
if [ "$python" = 1 ]; then
  redis-cli -p "$rport" -n 0 flushdb >/dev/null
  total=0
  for f in "$data"/s*.d4; do
    total=$((total + $(python3 - "$f" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read(); o = n = 0
while o + 62 <= len(d): o += 62 + struct.unpack('<I', d[o+58:o+62])[0]; n += 1
print(n)
PY
)))
  done
  echo "== cross-check with the shared python sender (ingest_bench.py):"
  python3 "$tools/ingest_bench.py" 127.0.0.1 "$sport" "$rport" "$total" "$data"/s*.d4
fi
grep -E "error|critical" "$work/server.log" | head -5 || true
