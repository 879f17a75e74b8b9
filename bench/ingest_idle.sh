#!/bin/bash
# Memory of d4-server holding many idle sensor connections (issue 3: 10,000 idle TLS sensors with
# the server's RSS under 256 MB). Each connection completes the TLS handshake and sends one
# packet (so it is identified, with its (uuid, type) slot claimed in Redis), then stays silent.
#
#   bench/ingest_idle.sh BUILD_DIR [CONNECTIONS=10000] [THREADS=2]
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [CONNECTIONS] [THREADS]}" && pwd)
n=${2:-10000}; threads=${3:-2}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
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
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize yes \
  --logfile "$work/redis.log" --maxclients 1000 >/dev/null
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$build/bin/d4-server" --generate-cert "$work/certs" >/dev/null
cat > "$work/d4.toml" <<EOF
[general]
log_level = "warn"
[redis]
stream = "127.0.0.1:$rport/0"
meta = "127.0.0.1:$rport/1"
[server]
listen = ["127.0.0.1:$sport"]
metrics_listen = "127.0.0.1:$mport"
tls_cert = "certs/server.crt"
tls_key = "certs/server.key"
mode = "shared-secret"
default_hmac_key = "d4-test-key"
threads = $threads
max_connections_per_ip = 0
EOF
"$build/bin/d4-server" -c "$work/d4.toml" 2> "$work/server.log" &
spid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$mport/health" >/dev/null 2>&1 && break; sleep 0.05; done
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
