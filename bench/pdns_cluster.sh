#!/usr/bin/env bash
# d4-pdns records/s from the analyzer queue into its store on one Redis (reference key layout:
# queue in db 2, store in db 1) and on a 3-master Redis Cluster (cluster key layout: queue and
# store on the same masters), in one run on the same records. The queue is filled beforehand (not
# timed), as d4-worker fills it (LPUSH, oldest first); then `d4-pdns ingest --exit-when-empty`
# drains it. Also the CPU d4-pdns and the Redis servers spent per record (comparable on a loaded
# machine, where the rates are not).
#
# Usage: bench/pdns_cluster.sh [BUILD_DIR] [RECORDS] [REPEATS]
#   defaults: build 1000000 1 (REPEATS as in analyzers_pdns_bench.sh: records/REPEATS distinct)
# Needs redis-server, redis-cli and python3; loopback ports only, a temporary directory.
set -euo pipefail
build=${1:-build}; records=${2:-1000000}; repeats=${3:-1}
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

now() { python3 -c 'import time; print(time.monotonic())'; }

# fill PORT DB: the records LPUSHed to analyzer:8:bench on that server (db ignored on a cluster node).
fill() {
  python3 - "$work/records.csv" "$2" <<'EOF' | redis-cli -p "$1" --pipe >/dev/null
import sys
key = b"analyzer:8:bench"
out = sys.stdout.buffer
if sys.argv[2] != "-":
    db = sys.argv[2].encode()
    out.write(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n" % (len(db), db))
with open(sys.argv[1], "rb") as f:
    for line in f:
        v = line.rstrip(b"\n")
        out.write(b"*3\r\n$5\r\nLPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(v), v))
EOF
}

# ingest NAME CONFIG PORTS...: drains the queue, prints records/s and the Redis CPU.
ingest() {
  local name=$1 config=$2; shift 2
  local before t0 t1
  before=$(redis_cpu "$@"); t0=$(now)
  /usr/bin/time -o "$work/time" -f "%U %S" \
    "$build/bin/d4-pdns" -c "$config" --log-level warn ingest -u bench --exit-when-empty --consumer bench
  t1=$(now)
  python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'{sys.argv[4]}: {n/(b-a):,.0f} records/s ({b-a:.2f} s)', end='')" \
    "$records" "$t0" "$t1" "$name"
  awk -v a="$(redis_cpu "$@")" -v b="$before" -v n=$# -v r="$records" -v c="$(cat "$work/time")" \
    'BEGIN { split(c, t, " "); printf ", d4-pdns CPU %.2f us/record, Redis CPU %.2f us/record over %d server(s)\n", (t[1] + t[2]) * 1e6 / r, (a - b) * 1e6 / r, n }'
}

python3 "$(dirname "$0")/pdns_records.py" "$records" "$work/records.csv" "$repeats"
echo "records: $records, distinct: $((records / repeats))"

single=$(free_port)
node "$single"
printf '[redis]\nmeta = "127.0.0.1:%s/0"\nanalyzer = "127.0.0.1:%s/2"\n[analyzers.pdns]\nbackend = "127.0.0.1:%s/1"\n' \
  "$single" "$single" "$single" > "$work/single.toml"
fill "$single" 2
ingest "one Redis (reference layout)" "$work/single.toml" "$single"

start_cluster3
seeds="redis-cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
printf '[redis]\nkey_layout = "cluster"\nmeta = "%s"\n[analyzers.pdns]\nbackend = "%s"\n' "$seeds" "$seeds" > "$work/cluster.toml"
slot=$(redis-cli -p "${ports[0]}" cluster keyslot analyzer:8:bench)
for i in 0 1 2; do [ "$slot" -ge $((i * 16384 / 3)) ] && owner=${ports[$i]}; done
fill "$owner" -
ingest "3-master cluster (cluster layout)" "$work/cluster.toml" "${ports[@]}"
for i in 0 1 2; do echo "master $i: $(redis-cli -p "${ports[$i]}" dbsize) keys"; done
