#!/bin/bash
# Ingest with and without stream-entry coalescing, next to the Redis-alone XADD ceiling, in one run:
#
#   bench/ingest_coalesce.sh BUILD_DIR [SENSORS=20] [MB=20] [THREADS=2] [ROUNDS=2] [BOUNDS="0 65536"]
#
# 1. The ceiling: a fresh redis-server fed by `redis-cli --pipe` the XADDs of the same bytes
#    (SENSORS streams x MB megabytes) as 4 KB entries (one per packet, what d4-server stores with
#    coalescing off), then as 64 KB entries (what it stores with the default bound); wall time and
#    Redis CPU (INFO cpu) per MB.
# 2. bench/ingest_e2e.sh (20 TLS sensors, 4 KB packets by default) alternately with each
#    `[server] coalesce_max_bytes` of BOUNDS, ROUNDS times: throughput, Redis CPU per MB and XADDs.
# The machine is shared: compare figures of the same run only.
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [SENSORS] [MB] [THREADS] [ROUNDS] [BOUNDS]}" && pwd)
n=${2:-20}; mb=${3:-20}; threads=${4:-2}; rounds=${5:-2}; bounds=${6:-"0 65536"}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
work=$(mktemp -d)
rport=$(free_port)
cleanup() {
  redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

redis_cpu() {
  redis-cli -p "$rport" info cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f\n", s}'
}

# ceiling ENTRY_BYTES: the XADDs of n x mb MB in entries of ENTRY_BYTES, fields as d4-server's.
ceiling() {
  local size=$1
  python3 - "$n" "$mb" "$size" > "$work/xadd.resp" <<'PY'
import os, sys
n, mb, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
payload = os.urandom(size)
per_stream = mb * 1000 * 1000 // size
out = sys.stdout.buffer
def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)
for s in range(n):
    key = b"stream:1:ceiling-%d" % s
    head = b"*11\r\n" + bulk(b"XADD") + bulk(key) + bulk(b"*") + b"$7\r\nmessage\r\n"
    tail = (bulk(b"uuid") + bulk(b"8bd5b2b23c8a4a399a5e1a4f1f2b7c01") + bulk(b"timestamp") +
            bulk(b"1700000000") + bulk(b"version") + bulk(b"1"))
    cmd = head + bulk(payload) + tail
    for _ in range(per_stream):
        out.write(cmd)
PY
  redis-cli -p "$rport" flushall >/dev/null
  local entries total_mb c0 c1 t0 t1
  entries=$(( n * (mb * 1000 * 1000 / size) ))
  total_mb=$(python3 -c "print($entries * $size / 1e6)")
  c0=$(redis_cpu); t0=$(date +%s.%N)
  redis-cli -p "$rport" --pipe < "$work/xadd.resp" >/dev/null
  t1=$(date +%s.%N); c1=$(redis_cpu)
  python3 -c "
t = $t1 - $t0; c = $c1 - $c0; mb = $total_mb
print(f'   {$size:>6}-byte entries: {$entries} XADD, {mb:.0f} MB in {t:.2f} s = {mb / t:.0f} MB/s, redis cpu {c:.2f} s = {1000 * c / mb:.2f} ms/MB')"
  rm -f "$work/xadd.resp"
  redis-cli -p "$rport" flushall >/dev/null
}

echo "== Redis alone (redis-cli --pipe), $n streams x $mb MB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
start_redis "$rport"
ceiling 4096
ceiling 65536
redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true

for r in $(seq "$rounds"); do
  for b in $bounds; do
    echo "== round $r, coalesce_max_bytes = $b"
    D4_SERVER_EXTRA="coalesce_max_bytes = $b" "$here/ingest_e2e.sh" "$build" "$n" "$mb" "$threads" |
      grep -E "load average|stored|throughput|cpu|redis  |latency"
  done
done
