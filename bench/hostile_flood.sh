#!/bin/bash
# One sensor floods type 2/254 sessions while 20 honest sensors send (issue 14, "2/254 flood"):
# the honest sensors' ingest throughput alone, then with the flood, in one run, each on a fresh
# redis-server and d4-server with the same settings. The flooding sensor tries to hold FLOOD
# parallel TLS sessions, each a meta header then 64 KB type-254 packets as fast as the server takes
# them, reopening a session D4_FLOOD_RETRY_MS (1000) after the server closed or refused it. No worker runs, like the
# workers having fallen behind: the flood is held by the admission limits, not drained. Everything
# shares this machine's cores: the flooding client runs at `nice 19` so that its own TLS encryption
# (it writes into sockets the server is about to close) competes as little as possible with the
# server and the honest senders, as an attacker on another machine would; its CPU time is printed.
#
#   bench/hostile_flood.sh BUILD_DIR [SENSORS=20] [MB=20] [THREADS=2] [FLOOD=64] [ROUNDS=3]
#
# ROUNDS pairs (alone, then with the flood) are run back to back; the median of the per-pair ratios
# is reported, since other work on the machine moves single runs a lot.
#
# BUILD_DIR must hold bin/d4-server and bin/d4-ingest-bench (-DD4_BUILD_BENCH=ON). Streams come from
# ../shared/tools/mkbench.sh (cached in ${D4_BENCH_DATA:-/tmp/d4-ingest-bench-data}). D4_SERVER_EXTRA
# adds lines to [server]; by default the per-sensor byte limit is 64 MiB (at least 4 x MB), so that
# the limits bite within the run; D4_FLOOD_DEFAULTS=1 keeps every server default instead.
# Exit status 0 only if every honest packet was stored in both runs.
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [SENSORS] [MB] [THREADS] [FLOOD]}" && pwd)
n=${2:-20}; mb=${3:-20}; threads=${4:-2}; flood=${5:-64}; rounds=${6:-3}
here=$(cd "$(dirname "$0")" && pwd)
tools=${D4_SHARED_TOOLS:-$(cd "$here/../.." && pwd)/shared/tools}
data=${D4_BENCH_DATA:-/tmp/d4-ingest-bench-data}/w${n}x${mb}
if [ ! -f "$data/s$n.d4" ]; then
  echo "generating $n x $mb MB of D4 streams in $data (once)..." >&2
  "$tools/mkbench.sh" "$data" "$n" "$mb" >&2
fi
source "$here/lib.sh"
limit=$(( (mb * 4 > 64 ? mb * 4 : 64) << 20 ))
extra=${D4_SERVER_EXTRA:-}
if [ "${D4_FLOOD_DEFAULTS:-0}" = 1 ]; then
  limit=$((1 << 30))  # the default max_sensor_backlog_bytes
else
  extra="max_sensor_backlog_bytes = $limit
$extra"
fi
work=""; spid=""; rport=""; fpid=""
stop_all() {
  [ -n "$fpid" ] && kill "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null || true
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  [ -n "$rport" ] && redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
  [ -n "$work" ] && rm -rf "$work"
  fpid=""; spid=""; rport=""; work=""
}
trap stop_all EXIT
metric() { curl -s "http://127.0.0.1:$mport/metrics" | awk -v k="$1" '$1 == k {print $2}'; }

# run_once LABEL with_flood(0|1): prints the honest throughput line, sets mbps.
run_once() {
  local label=$1 with_flood=$2
  work=$(mktemp -d)
  rport=$(free_port); sport=$(free_port); mport=$(free_port)
  start_redis "$rport"
  start_d4_server "$rport" "$sport" "$mport" "$threads" "$extra"
  echo "== $label: $n honest sensors x $mb MB (type 1, 4 KB packets, TLS)$([ "$with_flood" = 1 ] && echo ", 1 sensor flooding $flood parallel 2/254 sessions (retry ${D4_FLOOD_RETRY_MS:-1000} ms)"); load $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ "$with_flood" = 1 ]; then
    nice -n 19 "$build/bin/d4-ingest-bench" flood --port "$sport" --sessions "$flood" --duration 3600 \
      --retry-ms "${D4_FLOOD_RETRY_MS:-1000}" \
      > "$work/flood.out" &
    fpid=$!
    sleep 2  # the flood runs before and during the honest transfer
  fi
  local out
  out=$("$build/bin/d4-ingest-bench" send --port "$sport" --redis "127.0.0.1:$rport/0" --metrics-port "$mport" \
          --server-pid "$spid" --only-type 1 "$data"/s*.d4) || { echo "$out"; echo "honest packets missing"; return 1; }
  echo "$out" | sed 's/^/   /'
  mbps=$(echo "$out" | awk '/^throughput/ {print $2}')
  if [ "$with_flood" = 1 ]; then
    local fcpu
    fcpu=$(awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$fpid/stat" 2>/dev/null || echo "?")
    kill -TERM "$fpid"; wait "$fpid" || true; fpid=""
    echo "   flooding client CPU: $fcpu s"
    sed 's/^/   /' "$work/flood.out"
    local flooder
    flooder=$(awk '/^flood/ {print $3}' "$work/flood.out" | tr -d :)
    echo "   flooder: $(redis-cli -p "$rport" -n 0 hget d4:backlog:sensor "$flooder") bytes stored (limit $limit),"\
         "$(redis-cli -p "$rport" -n 0 scard "active_uuid_type254:$flooder") sessions open at the end;"\
         "rejects too_many_sessions $(metric 'd4_server_rejects_total{reason="too_many_sessions"}'),"\
         "back-pressure sensor_bytes $(metric 'd4_server_backpressure_total{cause="sensor_bytes"}')"\
         "session_bytes $(metric 'd4_server_backpressure_total{cause="session_bytes"}')"\
         "memory $(metric 'd4_server_backpressure_total{cause="memory"}')"
    local held=0
    for f in "$data"/s*.d4; do
      u=$(head -c 18 "$f" | tail -c 16 | od -An -tx1 | tr -d ' \n')
      held=$((held + $(redis-cli -p "$rport" -n 1 exists "sensor:backpressure:$u")))
    done
    echo "   honest sensors held back by a limit: $held of $n"
  fi
  echo "   server peak RSS $(grep VmHWM /proc/$spid/status | awk '{print $2/1024 " MB"}'), redis used_memory $(redis-cli -p "$rport" info memory | grep '^used_memory_human' | cut -d: -f2 | tr -d '\r')"
  stop_all
}

ratios=""
for r in $(seq "$rounds"); do
  run_once "round $r, alone" 0
  alone=$mbps
  run_once "round $r, flood" 1
  ratios="$ratios $alone:$mbps"
done
python3 - $ratios <<'PY'
import statistics, sys
pairs = [tuple(float(x) for x in a.split(':')) for a in sys.argv[1:]]
r = [f / a * 100 for a, f in pairs]
print(f"== honest throughput with the flood: median {statistics.median(r):.0f} % of alone (goal >= 80 %); "
      + ", ".join(f"{f:.1f}/{a:.1f} MB/s = {x:.0f} %" for (a, f), x in zip(pairs, r)))
PY
