#!/bin/bash
# Workers keeping up with ingest: d4-server and d4-worker run together against one Redis while
# N sensors send M MB of pcap each (type 1, 4 KiB packets, made by ../shared/tools/mkbench.sh and
# sent by ../shared/tools/send.py over TLS). Samples the total stream backlog (sum of XLEN over
# stream:*) every 100 ms and reports its maximum and the time until every session is archived,
# and the CPU that Redis (ingest, the workers' reads and trims, the sampling), d4-server and
# d4-worker spent per MB.
# usage: bench/workers_with_ingest.sh BIN_DIR [N=4] [MB=50] [COMPRESSION=zstd]
set -eu
bin=$(cd "$1" && pwd); n=${2:-4}; mb=${3:-50}; comp=${4:-zstd}
here=$(cd "$(dirname "$0")" && pwd); tools=$here/../../shared/tools
[ -d "$tools" ] || tools=/work/shared/tools
tmp=$(mktemp -d /tmp/d4-ingest-workers.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); tport=$(free_port); mport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" --logfile "$tmp/redis.log" &
pids+=($!)
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
"$tools/mkbench.sh" "$tmp/streams" "$n" "$mb" >/dev/null
"$bin/d4-server" --generate-cert "$tmp/certs" >/dev/null
cat > "$tmp/d4.toml" <<TOML
[general]
log_level = "warn"
[redis]
stream = "127.0.0.1:$rport/0"
meta = "127.0.0.1:$rport/1"
analyzer = "127.0.0.1:$rport/2"
[server]
listen = ["127.0.0.1:$tport"]
metrics_listen = "127.0.0.1:$mport"
tls_cert = "$tmp/certs/server.crt"
tls_key = "$tmp/certs/server.key"
mode = "shared-secret"
default_hmac_key = "d4-test-key"
[workers]
archive_dir = "$tmp/archive"
compression = "$comp"
monitor_interval_seconds = 0
TOML
"$bin/d4-server" -c "$tmp/d4.toml" 2>"$tmp/server.log" &
pids+=($!)
"$bin/d4-worker" -c "$tmp/d4.toml" --types 1 2>"$tmp/worker.log" &
pids+=($!)
server_pid=${pids[1]}; worker_pid=${pids[2]}
cpu_of() { awk '{ printf "%.3f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat"; }
redis_cpu() { redis-cli -p "$rport" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { t += $2 } END { printf "%.3f", t }'; }
until curl -sf "http://127.0.0.1:$mport/health" >/dev/null 2>&1; do sleep 0.1; done
start=$(date +%s.%N)
cpu0="$(redis_cpu) $(cpu_of "$server_pid") $(cpu_of "$worker_pid")"
python3 "$tools/send.py" 127.0.0.1 "$tport" 1 "$tmp"/streams/s*.d4 &
sender=$!
max=0; seen=0
while true; do
  backlog=$(redis-cli -p "$rport" --no-raw eval "local t=0 for _,k in ipairs(redis.call('KEYS','stream:*')) do t=t+redis.call('XLEN',k) end return t" 0 | tr -dc 0-9)
  [ "${backlog:-0}" -gt "$max" ] && max=$backlog
  sessions=$(redis-cli -p "$rport" scard session_uuid:1 | tr -dc 0-9)
  [ "${sessions:-0}" -gt 0 ] && seen=1
  if ! kill -0 "$sender" 2>/dev/null && [ "$seen" = 1 ] && [ "${sessions:-0}" = 0 ]; then break; fi
  sleep 0.1
done
end=$(date +%s.%N)
cpu1="$(redis_cpu) $(cpu_of "$server_pid") $(cpu_of "$worker_pid")"
files=$(find "$tmp/archive" -type f | wc -l)
bytes=$((n * mb * 1000000))
python3 - "$start" "$end" "$bytes" "$max" "$n" "$mb" "$comp" "$files" "$cpu0" "$cpu1" <<'PY'
import sys
s, e, b, mx, n, mb, comp, files = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8]
used = [float(b1) - float(a) for a, b1 in zip(sys.argv[9].split(), sys.argv[10].split())]
print(f"{n} sensors x {mb} MB pcap through d4-server + d4-worker ({comp}): {e - s:.1f} s, "
      f"{b / 1e6 / (e - s):.1f} MB/s end to end, max stream backlog {mx} packets, {files} archive files")
print("CPU per MB: Redis %.2f ms, d4-server %.2f ms, d4-worker %.2f ms" % tuple(1e9 * u / b for u in used))
PY
