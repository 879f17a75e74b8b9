#!/bin/bash
# The reference server (CIRCL's d4-core, server/server.py, Python + Twisted) and d4-server in the
# same run, on the same workload: SENSORS TLS sensors x MB megabytes of pcap in 4 KB packets
# (the streams of bench/ingest_e2e.sh), each server on its own throw-away Redis, measured by the
# same sender (d4-ingest-bench) until every packet is in Redis.
#
#   bench/ingest_vs_reference.sh D4_CORE_CHECKOUT BUILD_DIR [SENSORS=20] [MB=20] [THREADS=2]
#
# D4_CORE_CHECKOUT is a clone of https://github.com/D4-project/d4-core (its server/ directory is
# copied, not changed). Needs Debian's python3-twisted, python3-openssl and python3-redis (run with
# /usr/bin/python3). BUILD_DIR holds bin/d4-server and bin/d4-ingest-bench.
set -euo pipefail
core=$(cd "${1:?usage: $0 D4_CORE_CHECKOUT BUILD_DIR [SENSORS] [MB] [THREADS]}" && pwd)
build=$(cd "${2:?usage: $0 D4_CORE_CHECKOUT BUILD_DIR [SENSORS] [MB] [THREADS]}" && pwd)
n=${3:-20}; mb=${4:-20}; threads=${5:-2}
here=$(cd "$(dirname "$0")" && pwd)
tools=${D4_SHARED_TOOLS:-$(cd "$here/../.." && pwd)/shared/tools}
source "$here/lib.sh"
bench_streams "$n" "$mb"
work=$(mktemp -d)
stream_port=$(free_port); meta_port=$(free_port); ref_port=$(free_port)
ref_pid=""
cleanup() {
  [ -n "$ref_pid" ] && kill "$ref_pid" 2>/dev/null && wait "$ref_pid" 2>/dev/null || true
  for p in "$stream_port" "$meta_port"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The reference server as its LAUNCH.sh runs it: D4_HOME with configs/server.conf and lib/,
# server.pem (certificate and key) beside server.py; stream and metadata Redis on two ports.
ref=$work/reference
mkdir -p "$ref/configs"
cp -r "$core/server/lib" "$core/server/server.py" "$ref/"
cat > "$ref/configs/server.conf" <<CONF
[Save_Directories]
use_default_save_directory = yes
save_directory = None
[D4_Server]
server_port = $ref_port
server_mode = shared-secret
default_hmac_key = d4-test-key
analyzer_queues_max_size = 100000000
[Redis_STREAM]
host = 127.0.0.1
port = $stream_port
db = 0
[Redis_METADATA]
host = 127.0.0.1
port = $meta_port
db = 0
[Redis_SERV]
host = 127.0.0.1
port = $meta_port
db = 1
[Redis_ANALYZER]
host = 127.0.0.1
port = $meta_port
db = 2
[Redis_CACHE]
host = 127.0.0.1
port = $meta_port
db = 3
CONF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 2 \
  -keyout "$ref/key.pem" -out "$ref/cert.pem" >/dev/null 2>&1
cat "$ref/cert.pem" "$ref/key.pem" > "$ref/server.pem"
start_redis "$stream_port"
start_redis "$meta_port"
(cd "$ref" && D4_HOME=$ref exec /usr/bin/python3 server.py >"$work/reference.log" 2>&1) &
ref_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$ref_port") 2>/dev/null && break
  kill -0 "$ref_pid" 2>/dev/null || { echo "the reference server stopped:" >&2; cat "$work/reference.log" >&2; exit 1; }
  sleep 0.1
done
echo "== reference server (d4-core $(git -C "$core" rev-parse --short HEAD 2>/dev/null || echo '?'), Python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())')): $n sensors x $mb MB, 4 KB packets, TLS, $(nproc) cores"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bin/d4-ingest-bench" send --port "$ref_port" --redis "127.0.0.1:$stream_port/0" --server-pid "$ref_pid" \
  --timeout 3600 "$data"/s*.d4
kill "$ref_pid" 2>/dev/null; wait "$ref_pid" 2>/dev/null || true; ref_pid=""
for p in "$stream_port" "$meta_port"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done

echo
"$here/ingest_e2e.sh" "$build" "$n" "$mb" "$threads"
