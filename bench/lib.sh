# Shared by the d4-server benchmark scripts (source it): free loopback ports, a throw-away Redis and
# a d4-server on them. Callers set `work` (a temporary directory) and `build` first.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_redis PORT [extra redis-server options...]: no persistence, like the reference's stream
# Redis; returns when it answers.
start_redis() {
  local port=$1; shift
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize yes \
    --logfile "$work/redis.log" "$@" >/dev/null
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "redis-server on port $port did not start" >&2; return 1
}

# start_d4_server REDIS_PORT TLS_PORT METRICS_PORT THREADS [extra [server] lines]: sets spid and
# returns when /health answers. Shared-secret mode with the test key, one Redis for both roles.
start_d4_server() {
  local rport=$1 sport=$2 mport=$3 threads=$4 extra=${5:-}
  "$build/bin/d4-server" --generate-cert "$work/certs" >/dev/null
  cat > "$work/d4.toml" <<CONF
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
$extra
CONF
  "$build/bin/d4-server" -c "$work/d4.toml" 2> "$work/server.log" &
  spid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$mport/health" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "d4-server did not become healthy:" >&2; cat "$work/server.log" >&2; return 1
}
