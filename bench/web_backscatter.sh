#!/bin/sh
# d4-web backscatter API latency on d4-pibs results for N synthetic victims (docs/web.md).
#   bench/web_backscatter.sh BUILD_DIR [VICTIMS=100000] [DURATION=5] [CONNS=4]
# Writes a raw-IP capture of VICTIMS IPv4 victims (3 SYN-ACKs each, spread over the last two
# hours), analyses it with `d4-pibs --redis`, then measures each backscatter URL with wrk.
set -eu
BIN="$(cd "$1" && pwd)/bin"; N=${2:-100000}; DURATION=${3:-5}; CONNS=${4:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
cleanup() { [ -n "${WEB_PID:-}" ] && kill "$WEB_PID" 2>/dev/null; [ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
python3 "$HERE/backscatter_capture.py" "$N" "$TMP/victims.pcap"
PCAP="$TMP/victims.pcap"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RP=$(port); WP=$(port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" --daemonize no --loglevel warning >/dev/null &
REDIS_PID=$!
cat > "$TMP/d4.toml" <<CFG
[redis]
stream = "127.0.0.1:$RP/0"
meta = "127.0.0.1:$RP/5"
[web]
listen = "127.0.0.1:$WP"
tls_cert = ""
tls_key = ""
admin_password = "Bench-Pass-0042"
CFG
sleep 0.3
"$BIN/d4-web" --config "$TMP/d4.toml" >"$TMP/web.log" 2>&1 &
WEB_PID=$!
URL="http://127.0.0.1:$WP"
for _ in $(seq 100); do curl -s "$URL/login" >/dev/null && break; sleep 0.1; done
TOKEN=$(python3 -c 'import secrets,string; a=string.ascii_letters+string.digits+"-_"; print("".join(secrets.choice(a) for _ in range(41)))')
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
redis-cli -p "$RP" -n 1 HSET user:tokens "sha256:$HASH" admin@admin.test >/dev/null
/usr/bin/time -f "d4-pibs --redis: %e s wall, %U s user" "$BIN/d4-pibs" -c "$TMP/d4.toml" --redis "$PCAP"
echo "victims: $(redis-cli -p "$RP" -n 4 ZCARD pibs:victims), Redis memory: $(redis-cli -p "$RP" info memory | grep used_memory_human)"
run() {
  printf '\n== %s\n' "$1"
  curl -s -H "Authorization: Bearer $TOKEN" "$URL$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print({k: d[k] for k in ("total","truncated") if k in d} or list(d)[:6])'
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$URL$1" | \
    grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors'
}
run /api/v1/backscatter/stats
run "/api/v1/backscatter/victims?window=0&limit=50"
run "/api/v1/backscatter/victims?window=0&limit=50&offset=50000"
run "/api/v1/backscatter/victims?window=0&q=10.1.0.0/16"
run "/api/v1/backscatter/victims?window=600"
run "/api/v1/backscatter/victims?window=3600"
run /api/v1/backscatter/victims/10.0.1.2
run /api/v1/backscatter/victims/10.0.1.2/series
