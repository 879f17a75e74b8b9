#!/bin/sh
# Does UI/API load slow ingest? Runs the whole stack (d4-stack: Redis, d4-server, d4-worker, d4-web)
# on loopback, sends the same D4 streams twice (tools/mkbench.sh workload) and times until
# d4-server has accepted every packet (d4_server_packets_total on its metrics endpoint):
#   1. without UI load,
#   2. while wrk loads d4-web's dashboard and sensor-list API (the most Redis-heavy endpoints).
#
#   bench/web_ingest_impact.sh [BUILD_DIR] [STREAMS] [MB_PER_STREAM] [WRK_CONNECTIONS]
#
# Needs wrk, python3, redis-cli, curl and ../shared/tools (or D4_TOOLS). Stops everything it started.
set -eu
BUILD=${1:-build}; STREAMS=${2:-4}; MB=${3:-20}; CONNS=${4:-16}
BIN="$(cd "$BUILD/bin" && pwd)"
TOOLS=${D4_TOOLS:-$(cd "$(dirname "$0")/../.." && pwd)/shared/tools}
for x in d4-stack d4-server d4-web; do [ -x "$BIN/$x" ] || { echo "$BIN/$x is missing" >&2; exit 2; }; done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
TMP=$(mktemp -d)
STACK_PID=""; WRK_PID=""
cleanup() {
  [ -n "$WRK_PID" ] && kill "$WRK_PID" 2>/dev/null || true
  if [ -n "$STACK_PID" ]; then kill -INT "$STACK_PID" 2>/dev/null || true; wait "$STACK_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bash "$TOOLS/mkbench.sh" "$TMP/streams" "$STREAMS" "$MB" >/dev/null
PACKETS=$(python3 - "$TMP"/streams/s*.d4 <<'PY'
import struct, sys
n = 0
for f in sys.argv[1:]:
    d = open(f, 'rb').read(); o = 0
    while o + 62 <= len(d):
        n += 1; o += 62 + struct.unpack_from('<I', d, o + 58)[0]
print(n)
PY
)
"$BIN/d4-stack" --data-dir "$TMP/stack" --init-only >/dev/null
SP=$(port)
sed -i "s/^listen = \[.*\]$/listen = [\"127.0.0.1:$SP\"]/; s/^default_hmac_key = .*/default_hmac_key = \"d4-test-key\"/" "$TMP/stack/d4.toml"
"$BIN/d4-stack" --data-dir "$TMP/stack" >"$TMP/stack.out" 2>&1 &
STACK_PID=$!
for _ in $(seq 300); do grep -q 'Press Ctrl-C' "$TMP/stack.out" && break; sleep 0.2; done
WEB=$(sed -n 's/.*web interface *\(https:[^ ]*\)\/$/\1/p' "$TMP/stack.out")
METRICS=$(sed -n 's/.*metrics *\(http:[^ ]*\)$/\1/p' "$TMP/stack.out")
META_PORT=$(sed -n 's/^meta = "127.0.0.1:\([0-9]*\)\/0"$/\1/p' "$TMP/stack/d4.toml")
TOKEN=$(python3 -c 'import secrets,string; a=string.ascii_letters+string.digits+"-_"; print("".join(secrets.choice(a) for _ in range(41)))')
for _ in $(seq 100); do redis-cli -p "$META_PORT" -n 1 HEXISTS user:all admin@admin.test | grep -q 1 && break; sleep 0.2; done
redis-cli -p "$META_PORT" -n 1 HSET user:tokens "sha256:$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" admin@admin.test >/dev/null
accepted() { curl -s "$METRICS" | awk '/^d4_server_packets_total/ {s += $NF} END {printf "%d\n", s}'; }
one_run() {
  base=$(accepted); target=$((base + PACKETS))
  t0=$(date +%s.%N)
  python3 "$TOOLS/send.py" 127.0.0.1 "$SP" 5 "$TMP"/streams/s*.d4 >/dev/null 2>&1 &
  SEND=$!
  deadline=$(($(date +%s) + 300))
  while [ "$(accepted)" -lt "$target" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out: $(($(accepted) - base))/$PACKETS packets accepted"; return 1; }
    sleep 0.05
  done
  t1=$(date +%s.%N)
  wait $SEND || true
  python3 -c "import sys; dt=$t1-$t0; print(f'{dt:.2f} s, {$PACKETS/dt:.0f} packets/s, {$STREAMS*$MB/dt:.1f} MB/s')"
}
echo "workload: $STREAMS streams x $MB MB, $PACKETS packets; d4-web $WEB"
printf 'ingest without UI load:  '; one_run
sleep 2
wrk -t1 -c"$CONNS" -d600s -H "Authorization: Bearer $TOKEN" "$WEB/api/v1/dashboard" >"$TMP/wrk1.out" 2>&1 &
WRK_PID=$!
sleep 1
printf 'ingest with UI load:     '; one_run
kill -INT "$WRK_PID" 2>/dev/null; wait "$WRK_PID" 2>/dev/null || true; WRK_PID=""
sleep 2
printf 'ingest without UI load:  '; one_run
echo "UI load during the second run: wrk -t1 -c$CONNS on /api/v1/dashboard: $(grep -E 'Requests/sec' "$TMP/wrk1.out" | tr -s ' ')"
