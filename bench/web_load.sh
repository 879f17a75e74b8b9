#!/bin/sh
# Load test of d4-web with wrk (Debian package "wrk"): API latency/throughput, and ingest with and
# without UI load when the ingest pieces are built.
#
#   bench/web_load.sh [BUILD_DIR] [DURATION_SECONDS] [CONNECTIONS]
#
# Starts its own redis-server and d4-web (HTTPS with a throwaway certificate) on free loopback
# ports in a temporary directory, creates an API token, seeds some statistics, then runs wrk on:
#   GET /api/v1/sensors/monitoring/errors   (token auth + one Redis round trip)
#   GET /api/v1/dashboard                   (about 15 Redis commands, pipelined)
#   GET /api/v1/sensors                     (100 sensors)
#   GET /login                              (HTML, no Redis)
# Everything stops by itself; only loopback addresses are used.
set -eu
BUILD=${1:-build}
DURATION=${2:-10}
CONNS=${3:-16}
BIN="$BUILD/bin"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
[ -x "$BIN/d4-web" ] || { echo "$BIN/d4-web is missing (build the d4-web target)" >&2; exit 2; }
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
TMP=$(mktemp -d)
work=$TMP build=$BUILD
RP=$(free_port); WP=$(free_port)
cleanup() {
  [ -n "${web_pid:-}" ] && kill "$web_pid" 2>/dev/null
  redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
  wait 2>/dev/null; rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
start_redis "$RP" --loglevel warning
start_d4_web "$RP" "$WP" 4 https
URL=$url TOKEN=$token
DAY=$(date +%Y%m%d)
i=0
while [ $i -lt 100 ]; do
  U=$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
  redis-cli -p "$RP" -n 4 HSET "metadata_uuid:$U" first_seen 1700000000 last_seen 1700000100 description "sensor $i" >/dev/null
  redis-cli -p "$RP" -n 4 ZINCRBY "daily_uuid:$DAY" $((i * 10)) "$U" >/dev/null
  i=$((i + 1))
done
redis-cli -p "$RP" -n 4 ZINCRBY "daily_type:$DAY" 1000 8 >/dev/null
echo "d4-web $URL, wrk ${DURATION}s, $CONNS connections, 2 threads"
run() {
  printf '\n== %s\n' "$1"
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$URL$1" | \
    grep -E 'Requests/sec|Latency |50%|99%|Non-2xx|Socket errors'
}
run /api/v1/sensors/monitoring/errors
run /api/v1/dashboard
run "/api/v1/sensors?per_page=50"
run /login
