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
TMP=$(mktemp -d)
cleanup() { [ -n "${WEB_PID:-}" ] && kill "$WEB_PID" 2>/dev/null; [ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(port); WP=$(port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --dir "$TMP" --daemonize no --loglevel warning >/dev/null &
REDIS_PID=$!
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 2 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1
cat > "$TMP/d4.toml" <<CFG
[redis]
stream = "127.0.0.1:$RP/0"
meta = "127.0.0.1:$RP/4"
[web]
listen = "127.0.0.1:$WP"
tls_cert = "cert.pem"
tls_key = "key.pem"
admin_password = "Bench-Pass-0042"
CFG
sleep 0.3
"$BIN/d4-web" --config "$TMP/d4.toml" >"$TMP/web.log" 2>&1 &
WEB_PID=$!
URL="https://127.0.0.1:$WP"
for _ in $(seq 100); do curl -ks "$URL/login" >/dev/null && break; sleep 0.1; done
# An API token for the admin: created directly in Redis the way d4-web stores it (sha256 of the token).
TOKEN=$(python3 -c 'import secrets,string; a=string.ascii_letters+string.digits+"-_"; print("".join(secrets.choice(a) for _ in range(41)))')
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
redis-cli -p "$RP" -n 1 HSET user:tokens "sha256:$HASH" admin@admin.test >/dev/null
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
