#!/bin/bash
# Memory of d4-server holding many idle sensor connections (issue 3: 10,000 idle TLS sensors with
# the server's RSS under 256 MB). Each connection completes the TLS handshake and sends one
# packet (so it is identified, with its (uuid, type) slot claimed in Redis), then stays silent.
#
#   bench/ingest_idle.sh BUILD_DIR [CONNECTIONS=10000] [THREADS=2]
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [CONNECTIONS] [THREADS]}" && pwd)
n=${2:-10000}; threads=${3:-2}
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
work=$(mktemp -d)
rport=$(free_port); sport=$(free_port); mport=$(free_port)
cleanup() {
  [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null || true
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
start_redis "$rport" --maxclients 1000
start_d4_server "$rport" "$sport" "$mport" "$threads"
rss() { grep "$1" "/proc/$spid/status" | awk '{printf "%.1f MB", $2/1024}'; }
echo "== d4-server with $n idle TLS sensor connections ($threads threads)"
echo "   RSS at start: $(rss VmRSS)"
"$build/bin/d4-ingest-bench" idle --port "$sport" --connections "$n" --hold 600 > "$work/client.out" 2> "$work/client.err" &
cpid=$!
for _ in $(seq 1200); do grep -q "connections open" "$work/client.out" 2>/dev/null && break; sleep 0.1; done
cat "$work/client.out"
# Let every first packet be stored and the statistics flushed.
for _ in $(seq 100); do
  c=$(curl -sf "http://127.0.0.1:$mport/metrics" | awk '/^d4_server_sessions_identified /{print $2}')
  [ "${c:-0}" = "$n" ] && break; sleep 0.2
done
sleep 2
echo "   connections: $(curl -sf "http://127.0.0.1:$mport/metrics" | awk '/^d4_server_connections /{print $2}'), identified: ${c:-?}"
echo "   RSS now:  $(rss VmRSS)   peak: $(rss VmHWM)"
echo "   per connection: $(awk -v n="$n" '/VmRSS/{printf "%.1f KB", $2/n}' /proc/$spid/status) (including the base)"
