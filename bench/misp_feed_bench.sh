#!/bin/sh
# MISP feed export benchmark: N backscatter victims found by the real d4-pibs (synthetic capture,
# bench/backscatter_capture.py: three SYN-ACKs per victim within the last two hours) in a real
# redis-server, then `d4-misp-feed export --kind backscatter` timed three ways: the first export
# (every event written), the same again (nothing changed: events compared, not rewritten), and after
# d4-pibs ran once more on the same capture (every count changed: every event rewritten).
#
# Events hold at most 50,000 attributes (about 5,000 victims, most hit first; the others counted).
# Usage: bench/misp_feed_bench.sh [build-dir] [victims]   (defaults: build 100000)
# Needs redis-server, redis-cli and python3. Uses a loopback port and a temporary directory.
set -eu
BUILD=${1:-build}
N=${2:-100000}
BIN="$BUILD/bin"
TMP=$(mktemp -d)
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# Runs an export; prints its wall time and its own CPU time (user + system: on a loaded machine the
# wall time mostly measures the other processes).
timed() {
  label=$1
  shift
  python3 - "$N" "$label" "$@" <<'PY'
import resource, subprocess, sys, time
n, label, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
t = time.monotonic()
subprocess.run(cmd, check=True)
wall = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = r.ru_utime + r.ru_stime
print(f"{label}: wall {wall:.2f} s, CPU {cpu:.2f} s ({n / cpu:,.0f} victims per CPU second)")
PY
}

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" --daemonize no \
  --logfile "$TMP/redis.log" &
PIDS="$PIDS $!"
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.1; done

python3 "$(dirname "$0")/backscatter_capture.py" "$N" "$TMP/bs.pcap"
"$BIN/d4-pibs" --log-level warn -r "$TMP/bs.pcap" --redis-endpoint "127.0.0.1:$RPORT/4"
cat >"$TMP/d4.toml" <<CONF
[general]
data_dir = "$TMP"
log_level = "warn"
[redis]
meta = "127.0.0.1:$RPORT/0"
[analyzers.pibs]
results_redis = "127.0.0.1:$RPORT/4"
[sharing.misp]
org_name = "Bench"
org_uuid = "5f6e8a43-4d2c-4b71-9a55-0c1d2e3f4a5b"
max_attributes_per_event = 50000
[sharing.misp.backscatter]
max_victims_scanned = 100000000
CONF
echo "victims: $(redis-cli -p "$RPORT" -n 4 zcard pibs:victims)"
timed "first export (events written)" "$BIN/d4-misp-feed" -c "$TMP/d4.toml" export --kind backscatter
timed "second export (nothing changed)" "$BIN/d4-misp-feed" -c "$TMP/d4.toml" export --kind backscatter
"$BIN/d4-pibs" --log-level warn -r "$TMP/bs.pcap" --redis-endpoint "127.0.0.1:$RPORT/4"
timed "third export (every count changed)" "$BIN/d4-misp-feed" -c "$TMP/d4.toml" export --kind backscatter
du -sh "$TMP/misp-feed" | awk '{print "feed size: " $1}'
