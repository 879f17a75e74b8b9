# Shared by the benchmark scripts (source it): free loopback ports, a throw-away Redis, d4-server
# and d4-web on them. Callers set `work` (a temporary directory) and `build` first.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_streams SENSORS MB: sets `data` to a directory of SENSORS type-1 D4 streams of MB megabytes
# each (4 KB packets), made once by the independent mkbench.sh in $tools and cached under
# ${D4_BENCH_DATA:-/tmp/d4-ingest-bench-data}.
bench_streams() {
  data=${D4_BENCH_DATA:-/tmp/d4-ingest-bench-data}/w${1}x${2}
  if [ ! -f "$data/s$1.d4" ]; then
    echo "generating $1 x $2 MB of D4 streams in $data (once)..." >&2
    "$tools/mkbench.sh" "$data" "$1" "$2" >&2
  fi
}

# start_redis PORT [extra redis-server options...]: no persistence, like the reference's stream
# Redis; returns when it answers.
start_redis() {
  local port=$1; shift
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize yes \
    --logfile "$work/redis.log" "$@" >/dev/null
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "redis-server on port $port did not start" >&2; return 1
}

# make_redis_tls_files DIR: a throw-away CA and a certificate for 127.0.0.1 (Redis over TLS).
make_redis_tls_files() {
  local d=$1 ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  mkdir -p "$d"
  openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.crt" -subj /CN=bench-ca -days 2 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
  openssl req "${ec[@]}" -keyout "$d/server.key" -out "$d/server.csr" -subj /CN=localhost >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/server.ext" -out "$d/server.crt" >/dev/null 2>&1
}

# start_d4_server REDIS_PORT TLS_PORT METRICS_PORT THREADS [extra [server] lines]: sets spid and
# returns when /health answers. Shared-secret mode with the test key, one Redis for both roles
# (D4_REDIS_ENDPOINT, e.g. "rediss://127.0.0.1:PORT", and D4_REDIS_QUERY replace the plain one).
# D4_STREAM_REDIS and D4_META_REDIS replace each role's whole endpoint (e.g. a redis-cluster://
# stream Redis), D4_REDIS_SECTION_EXTRA adds lines to [redis] (e.g. key_layout = "cluster").
start_d4_server() {
  local rport=$1 sport=$2 mport=$3 threads=$4 extra=${5:-}
  "$build/bin/d4-server" --generate-cert "$work/certs" >/dev/null
  cat > "$work/d4.toml" <<CONF
[general]
log_level = "warn"
[redis]
stream = "${D4_STREAM_REDIS:-${D4_REDIS_ENDPOINT:-127.0.0.1:$rport}/0${D4_REDIS_QUERY:-}}"
meta = "${D4_META_REDIS:-${D4_REDIS_ENDPOINT:-127.0.0.1:$rport}/1${D4_REDIS_QUERY:-}}"
${D4_REDIS_SECTION_EXTRA:-}
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

# start_d4_web REDIS_PORT WEB_PORT META_DB http|https: d4-web alone on $work/d4.toml (https with a
# throw-away certificate), then an admin API token created the way d4-web stores tokens (SHA-256
# in the users db). Sets web_pid, url and token; returns when the login page answers.
start_d4_web() {
  local rport=$1 wport=$2 meta_db=$3 scheme=$4 cert="" key=""
  if [ "$scheme" = https ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 2 \
      -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
    cert=cert.pem key=key.pem
  fi
  cat > "$work/d4.toml" <<CONF
[redis]
stream = "127.0.0.1:$rport/0"
meta = "127.0.0.1:$rport/$meta_db"
[web]
listen = "127.0.0.1:$wport"
tls_cert = "$cert"
tls_key = "$key"
admin_password = "Bench-Pass-0042"
CONF
  "$build/bin/d4-web" --config "$work/d4.toml" > "$work/web.log" 2>&1 &
  web_pid=$!
  url="$scheme://127.0.0.1:$wport"
  for _ in $(seq 100); do curl -ks "$url/login" >/dev/null && break; sleep 0.1; done
  token=$(python3 -c 'import secrets,string; a=string.ascii_letters+string.digits+"-_"; print("".join(secrets.choice(a) for _ in range(41)))')
  redis-cli -p "$rport" -n 1 HSET user:tokens "sha256:$(printf %s "$token" | sha256sum | cut -d' ' -f1)" \
    admin@admin.test >/dev/null
}
