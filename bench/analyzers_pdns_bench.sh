#!/bin/sh
# Passive DNS whole-pipeline benchmark: ingestion rate into a real redis-server (from a passivedns
# CSV file, and from the D4 analyzer queue) and COF query latency (p50/p99) with that many
# distinct records stored.
#
# Usage: bench/analyzers_pdns_bench.sh [build-dir] [records] [queries] [repeats]
#   defaults: build 1000000 2000 1
# With repeats R > 1 the input holds `records` observations of records/R distinct records, each
# seen R times spread over the file (passive DNS streams repeat popular answers).
# D4_PDNS_QUEUE_BATCH=n sets the queue batch of the queue run (default: d4-pdns's, 10000).
# Needs redis-server, redis-cli and python3. Uses loopback ports only and a temporary directory.
set -eu
BUILD=${1:-build}
N=${2:-1000000}
Q=${3:-2000}
R=${4:-1}
BIN="$BUILD/bin"
TMP=$(mktemp -d)
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now() { python3 -c 'import time; print(time.monotonic())'; }

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" --daemonize no \
  --logfile "$TMP/redis.log" &
PIDS="$PIDS $!"
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.1; done

# N observations of N/R distinct records: 70% A, 10% AAAA, 10% CNAME, 10% TXT over 1000 zones,
# spread over a day.
python3 "$(dirname "$0")/pdns_records.py" "$N" "$TMP/records.csv" "$R"

echo "observations: $N, distinct records: $((N / R))"
# The records through the analyzer queue (LPUSHed beforehand, not timed) into db 1, then from
# the CSV file into db 0 (kept for the queries): each run starts from an empty store, as the
# first would otherwise leave the second a server already holding N records.
python3 - "$TMP/records.csv" "$TMP/lpush.resp" <<'EOF'
import sys
key = b"analyzer:8:bench"
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as out:
    out.write(b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n")
    for line in f:
        v = line.rstrip(b"\n")
        out.write(b"*3\r\n$5\r\nLPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(v), v))
EOF
redis-cli -p "$RPORT" --pipe < "$TMP/lpush.resp" >/dev/null
T0=$(now)
"$BIN/d4-pdns" --backend "127.0.0.1:$RPORT/1" --log-level warn ingest -u bench \
  --analyzer-redis "127.0.0.1:$RPORT/2" --exit-when-empty --consumer bench ${D4_PDNS_QUEUE_BATCH:+--batch $D4_PDNS_QUEUE_BATCH}
T1=$(now)
python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'queue ingestion: {n/(b-a):,.0f} observations/s ({b-a:.2f} s)')" "$N" "$T0" "$T1"
redis-cli -p "$RPORT" -n 1 flushdb >/dev/null
T0=$(now)
"$BIN/d4-pdns" --backend "127.0.0.1:$RPORT/0" --log-level warn csv "$TMP/records.csv"
T1=$(now)
python3 -c "import sys; n,a,b=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'csv file ingestion: {n/(b-a):,.0f} observations/s ({b-a:.2f} s)')" "$N" "$T0" "$T1"

echo "redis memory with $((N / R)) records: $(redis-cli -p "$RPORT" info memory | grep '^used_memory_human' | tr -d '\r')"

# Query latency against db 0 (N records).
HPORT=$(free_port)
"$BIN/d4-pdns" --backend "127.0.0.1:$RPORT/0" --log-level warn serve --listen "127.0.0.1:$HPORT" --threads 2 >/dev/null &
PIDS="$PIDS $!"
python3 - "$HPORT" "$((N / R))" "$Q" <<'EOF'
import http.client, random, sys, time
port, n, q = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for _ in range(100):
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/info"); break
    except OSError:
        time.sleep(0.1)
rng = random.Random(7)
def run(kind):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat, found = [], 0
    for _ in range(q):
        i = rng.randrange(n)
        if kind == "name":
            path = f"/query/host{i}.zone{i % 1000}.example"
        else:
            i -= i % 10  # an A record
            path = f"/query/10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        lat.append((time.perf_counter() - t) * 1000)
        found += body.count(b"\n") > 0
    lat.sort()
    p = lambda x: lat[min(len(lat) - 1, int(len(lat) * x))]
    print(f"query by {kind}: p50 {p(0.50):.2f} ms, p99 {p(0.99):.2f} ms, max {lat[-1]:.2f} ms ({found}/{q} found)")
run("name")
run("ip")
EOF
