#!/bin/sh
# d4-web backscatter API latency on d4-pibs results for N synthetic victims (docs/web.md).
#   bench/web_backscatter.sh BUILD_DIR [VICTIMS=100000] [DURATION=5] [CONNS=4]
# Writes a raw-IP capture of VICTIMS IPv4 victims (3 SYN-ACKs each, spread over the last two
# hours), analyses it with `d4-pibs --redis`, then measures each backscatter URL with wrk.
set -eu
BIN="$(cd "$1" && pwd)/bin"; N=${2:-100000}; DURATION=${3:-5}; CONNS=${4:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
TMP=$(mktemp -d)
work=$TMP build=$(dirname "$BIN")
RP=$(free_port); WP=$(free_port)
cleanup() {
  [ -n "${web_pid:-}" ] && kill "$web_pid" 2>/dev/null
  redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
  wait 2>/dev/null; rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
python3 "$HERE/backscatter_capture.py" "$N" "$TMP/victims.pcap"
PCAP="$TMP/victims.pcap"
start_redis "$RP" --loglevel warning
start_d4_web "$RP" "$WP" 5 http
URL=$url TOKEN=$token
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
