#!/bin/bash
# d4-server facing hostile peers, whole pipeline on loopback (real d4-server, redis-server, TLS).
# Each part starts its own redis-server and d4-server on free ports and prints its figures:
#
#   unauth-rss  server RSS with 1,000 unauthenticated TLS connections that each declare a 1 MB
#               packet and send 100 bytes of it (goal: < 64 MB above idle), then RSS every second
#               after they close (goal: back to idle within 10 s)
#   meta-keys   meta Redis keys created by 10,000 failing source addresses (a wrong HMAC from
#               127.<1+n/256>.<n%256>.1, each in its own /24; goal: < 1,000 keys), and how long the
#               server's meta Redis calls take (Redis SLOWLOG, commandstats)
#   ingest      throughput of SENSORS honest TLS sensors (type 1, 4 KB packets, d4-ingest-bench)
#               alone and while the hostile loads run (default: the 1,000 connections above,
#               reopened when the server closes them, and one sensor flooding parallel type
#               2/254 sessions), ROUNDS pairs on fresh servers; the median of the per-pair ratios
#               (goal: >= 80 %). Fails if any honest packet is not stored. Prints every refusal
#               with its reason and what held each load back.
#
#   bench/hostile.sh BUILD_DIR [PART...]            (default: every part)
#
# BUILD_DIR holds bin/d4-server, bin/d4-client, bin/d4-ingest-bench and bin/d4-hostile-bench
# (cmake -DD4_BUILD_BENCH=ON; targets d4-server d4-client d4-ingest-bench d4-hostile-bench).
# Environment: HOSTILE_CONNECTIONS (1000), RSS_ROUNDS (2), HOSTILE_NETWORKS (10000) and
# HOSTILE_THREADS (8 failing connections at a time), SENSORS (20),
# INGEST_MB per sensor (20), ROUNDS (3), THREADS (2 session threads of d4-server), HOSTILE_LOADS
# ("unauth flood"), FLOOD_SESSIONS (64), FLOOD_RETRY_MS (1000), SERVER_DEFAULTS (0: the ingest
# part sets max_sensor_backlog_bytes to 4 x INGEST_MB MiB, at least 64 MiB, so that the limits
# bite within the run; 1: every server default), D4_BENCH_DATA (workload cache, default
# /tmp/d4-hostile-bench-data), PERF_DIR (if set: `perf record -g` of d4-server during each honest
# transfer, into PERF_DIR/<alone|hostile>-<round>.data).
#
# Extending it: a new part is a function part_<name> (add <name> to all_parts); a new hostile load
# for the ingest part is a pair load_<name>_start / load_<name>_stop (add <name> to HOSTILE_LOADS).
# Both get the running server's ports in $sport (TLS), $mport (metrics), $rport (Redis).
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [PART...]}" && pwd)
shift
all_parts="unauth-rss meta-keys ingest"
parts=${*:-$all_parts}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
connections=${HOSTILE_CONNECTIONS:-1000}
networks=${HOSTILE_NETWORKS:-10000}
sensors=${SENSORS:-20}
ingest_mb=${INGEST_MB:-20}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
loads=${HOSTILE_LOADS:-unauth flood}
flood_sessions=${FLOOD_SESSIONS:-64}
flood_retry_ms=${FLOOD_RETRY_MS:-1000}
data=${D4_BENCH_DATA:-/tmp/d4-hostile-bench-data}
ulimit -n "$(ulimit -Hn)"

work=""
stop_all() {
  for p in ${load_pids:-} ${spid:-}; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  load_pids=""; spid=""
  [ -n "${rport:-}" ] && redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
  rport=""
  [ -n "$work" ] && rm -rf "$work"
  work=""
}
trap stop_all EXIT

# Fresh Redis and d4-server; extra [server] lines in $1.
start_stack() {
  work=$(mktemp -d)
  rport=$(free_port); sport=$(free_port); mport=$(free_port)
  start_redis "$rport" --maxclients 10000
  start_d4_server "$rport" "$sport" "$mport" "$threads" "${1:-}"
}

# User + system CPU seconds a process used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo "?"; }
sum_cpu() { local t=0 p; for p in "$@"; do t=$(awk -v t="$t" -v c="$(cpu_seconds "$p")" 'BEGIN{print t + c}'); done; echo "$t"; }
metric() { curl -sf "http://127.0.0.1:$mport/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$spid/status"; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f MB", k/1024}'; }
# Waits (up to $2 seconds) until metric $1 equals $3.
wait_metric() {
  for _ in $(seq $(( $2 * 10 ))); do [ "$(metric "$1")" = "$3" ] && return 0; sleep 0.1; done
  echo "timeout waiting for $1 = $3 (is $(metric "$1"))" >&2; return 1
}

# ---------------------------------------------------------------------------------- unauth-rss
part_unauth_rss() {
  start_stack
  # Idle = after a few connections came and went and their memory was returned, so that the TLS
  # code is paged in and OpenSSL's per-thread state exists before the baseline.
  "$build/bin/d4-hostile-bench" partial --port "$sport" --connections 10 --hold 0 >/dev/null
  wait_metric d4_server_connections 30 0
  wait_metric d4_server_memory_trims_total 30 1
  local idle; idle=$(rss_kb)
  echo "== $connections unauthenticated TLS connections, each declaring 1,000,000 bytes and sending 100 (${RSS_ROUNDS:-2} rounds)"
  echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg); RSS idle $(mb "$idle")"
  for round in $(seq "${RSS_ROUNDS:-2}"); do
    "$build/bin/d4-hostile-bench" partial --port "$sport" --connections "$connections" --declare 1000000 \
      --send 100 --hold 600 > "$work/partial.out" 2>&1 &
    load_pids=$!
    for _ in $(seq 600); do grep -q holding "$work/partial.out" && break; sleep 0.1; done
    wait_metric d4_server_unauthenticated_bytes 30 $(( connections * 162 ))
    local held; held=$(rss_kb)
    echo "   round $round: holding them $(mb "$held"): +$(mb $(( held - idle ))) above idle ($(awk -v d=$(( held - idle )) -v n="$connections" 'BEGIN{printf "%.1f KB", d/n}') per connection), unauthenticated bytes held $(metric d4_server_unauthenticated_bytes)"
    kill "$load_pids"; wait "$load_pids" 2>/dev/null || true; load_pids=""
    wait_metric d4_server_connections 30 0
    local line="     after they closed:"
    for s in 0 1 2 5 10; do
      [ "$s" -gt 0 ] && sleep $(( s - ${prev:-0} ))
      prev=$s
      local now; now=$(rss_kb)
      line="$line ${s} s $(mb "$now") (+$(mb $(( now - idle ))));"
    done
    prev=0
    echo "$line"
  done
  echo "   memory trims: $(metric d4_server_memory_trims_total)"
  stop_all
}

# ---------------------------------------------------------------------------------- meta-keys
part_meta_keys() {
  start_stack
  redis-cli -p "$rport" config set slowlog-log-slower-than 1000 >/dev/null  # 1 ms
  redis-cli -p "$rport" config set slowlog-max-len 100000 >/dev/null
  redis-cli -p "$rport" slowlog reset >/dev/null
  redis-cli -p "$rport" config resetstat >/dev/null
  sleep 1
  local before; before=$(redis-cli -p "$rport" -n 1 dbsize)
  echo "== $networks failing source addresses (wrong HMAC over TLS), each in its own /24 of 127/8"
  echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$build/bin/d4-hostile-bench" failing --port "$sport" --networks "$networks" --threads "${HOSTILE_THREADS:-8}" | sed 's/^/   /'
  for _ in $(seq 300); do
    [ "$(redis-cli -p "$rport" -n 1 hget server:rejects hmac_mismatch)" = "$networks" ] && break; sleep 0.1
  done
  sleep 1
  local after; after=$(redis-cli -p "$rport" -n 1 dbsize)
  echo "   rejects counted: $(redis-cli -p "$rport" -n 1 hget server:rejects hmac_mismatch) hmac_mismatch"
  echo "   meta Redis keys: $before before, $after after: $(( after - before )) created"
  echo "     of which ip:rejects:*/ip:errors:* $(redis-cli -p "$rport" -n 1 --scan --pattern 'ip:*' | wc -l), ranked networks $(redis-cli -p "$rport" -n 1 zcard server:reject_sources)"
  echo "   source details counted globally only: $(metric d4_server_reject_details_dropped_total)"
  local evals; evals=$(redis-cli -p "$rport" info commandstats | tr -d '\r' | awk -F'[=,:]' '/^cmdstat_eval:/{print "calls " $3 ", " $7 " us per call"}')
  echo "   meta+stream Redis EVAL calls: ${evals:-none}"
  # Flush calls carry more than 30 arguments (SLOWLOG keeps 32): the per-call durations Redis measured.
  redis-cli -p "$rport" --json slowlog get 100000 | python3 -c '
import json, sys
d = sorted(e[2] / 1000 for e in json.load(sys.stdin) if e[3] and e[3][0].lower() == "eval" and len(e[3]) >= 32)
print("   flush calls of 1 ms or more (SLOWLOG): %d; of 5 ms or more: %d; longest %.1f ms"
      % (len(d), sum(1 for x in d if x >= 5), d[-1] if d else 0))'
  stop_all
}

# ---------------------------------------------------------------------------------- ingest
# The workload: SENSORS sensors x INGEST_MB of random bytes in 4 KB type-1 packets, encapsulated by
# the real d4-client (distinct UUIDs: one connection per (uuid, type)).
make_workload() {
  local dir="$data/w${sensors}x${ingest_mb}"
  if [ ! -f "$dir/s$sensors.d4" ]; then
    echo "generating $sensors x $ingest_mb MB of D4 streams in $dir (once)..." >&2
    mkdir -p "$dir"
    printf '%s' d4-test-key > "$dir/key"
    for i in $(seq "$sensors"); do
      head -c $(( ingest_mb * 1000000 )) /dev/urandom |
        "$build/bin/d4-client" --uuid "$(python3 -c 'import uuid; print(uuid.uuid4())')" --key-file "$dir/key" \
          --type 1 --snaplen 4096 --destination stdout -q -q > "$dir/s$i.d4"
    done
  fi
  workload="$dir"
}

# Hostile loads: load_<name>_start runs before the honest senders, load_<name>_stop after them
# (before the server stops) and prints what held the load back.
# The hostile clients run at `nice 19` so that their own TLS work competes as little as possible
# with the server and the honest senders, as attackers on other machines would.
load_unauth_start() {
  nice -n 19 "$build/bin/d4-hostile-bench" partial --port "$sport" --connections "$connections" --declare 1000000 \
    --send 100 --hold 3600 --reconnect > "$work/load_unauth.out" 2>&1 &
  unauth_pid=$!
  load_pids="$load_pids $unauth_pid"
  for _ in $(seq 600); do grep -q holding "$work/load_unauth.out" && break; sleep 0.1; done
  wait_metric d4_server_unauthenticated_bytes 30 $(( connections * 162 ))
  echo "     load unauth: $connections TLS connections holding 162 bytes of a declared 1 MB packet (reopened when closed)"
}
load_unauth_stop() {
  echo "     load unauth: unauthenticated bytes held at the end $(metric d4_server_unauthenticated_bytes);" \
       "client CPU $(cpu_seconds "$unauth_pid") s"
}

# One sensor tries to hold FLOOD_SESSIONS parallel type 2/254 sessions, each a meta header then
# 64 KB type-254 packets as fast as the server takes them, reopening a session FLOOD_RETRY_MS after
# the server closed or refused it. No worker runs (as if the workers had fallen behind): the flood
# is held by the admission limits, not drained. The flooding client's CPU time is printed.
load_flood_start() {
  nice -n 19 "$build/bin/d4-ingest-bench" flood --port "$sport" --sessions "$flood_sessions" --duration 3600 \
    --retry-ms "$flood_retry_ms" > "$work/load_flood.out" &
  flood_pid=$!
  load_pids="$load_pids $flood_pid"
  sleep 2  # the flood runs before and during the honest transfer
  echo "     load flood: 1 sensor wants $flood_sessions parallel 2/254 sessions (retry $flood_retry_ms ms)"
}
load_flood_stop() {
  local cpu flooder
  cpu=$(cpu_seconds "$flood_pid")
  kill -TERM "$flood_pid"; wait "$flood_pid" || true
  sed 's/^/     load /' "$work/load_flood.out"
  flooder=$(awk '/^flood/ {print $3}' "$work/load_flood.out" | tr -d :)
  echo "     load flood: client CPU $cpu s; flooder $(redis-cli -p "$rport" -n 0 hget d4:backlog:sensor "$flooder") bytes stored" \
       "(limit $sensor_limit), $(redis-cli -p "$rport" -n 0 scard "active_uuid_type254:$flooder") sessions open at the end"
}

# One run on a fresh redis-server and d4-server: $1 "alone" or "hostile". Prints the send output
# and what the server counted, sets mbps (honest MB/s); fails if an honest packet is missing.
ingest_run() {
  start_stack "$ingest_extra"
  echo "   - $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  if [ "$1" = hostile ]; then for l in $loads; do "load_${l}_start"; done; fi
  local out rc=0 perf_pid="" load_cpu0
  load_cpu0=$(sum_cpu ${load_pids:-})
  if [ -n "${PERF_DIR:-}" ]; then
    # Where the server's time goes during the honest transfer (perf report -i FILE).
    mkdir -p "$PERF_DIR"
    perf record -F 999 -g -p "$spid" -o "$PERF_DIR/$1-$r.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  out=$("$build/bin/d4-ingest-bench" send --port "$sport" --redis "127.0.0.1:$rport/0" --metrics-port "$mport" \
    --server-pid "$spid" --only-type 1 "$workload"/s*.d4) || rc=$?
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  echo "$out" | sed 's/^/     /'
  [ -n "${load_pids:-}" ] &&
    echo "     hostile clients' CPU during the transfer: $(awk -v a="$load_cpu0" -v b="$(sum_cpu $load_pids)" 'BEGIN{printf "%.1f", b - a}') s"
  if [ "$1" = hostile ]; then for l in $loads; do "load_${l}_stop"; done; fi
  report_refusals
  mbps=$(echo "$out" | awk '/^throughput/{print $2}')
  stop_all
  [ "$rc" = 0 ] || { echo "honest packets missing" >&2; return 1; }
}

# Every refusal with its reason (the metrics; the meta Redis's server:rejects, which the web UI
# shows), what back-pressure held, and whether any honest sensor was held by a limit.
report_refusals() {
  local m; m=$(curl -sf "http://127.0.0.1:$mport/metrics")
  echo "     refused (d4_server_rejects_total): $(echo "$m" | awk -F'[{}"]' '/^d4_server_rejects_total\{/ && $NF+0 > 0 {printf "%s%s %d", sep, $3, $NF; sep=", "}')"
  echo "     back-pressure (d4_server_backpressure_total): $(echo "$m" | awk -F'[{}"]' '/^d4_server_backpressure_total\{/ && $NF+0 > 0 {printf "%s%s %d", sep, $3, $NF; sep=", "}')"
  echo "     server:rejects in the meta Redis: $(redis-cli -p "$rport" -n 1 hgetall server:rejects | paste -sd' ')"
  local held=0 f u
  for f in "$workload"/s*.d4; do
    u=$(head -c 18 "$f" | tail -c 16 | od -An -tx1 | tr -d ' \n')
    held=$(( held + $(redis-cli -p "$rport" -n 1 exists "sensor:backpressure:$u") ))
  done
  echo "     honest sensors held back by a limit: $held of $sensors; server peak RSS $(awk '/^VmHWM/{printf "%.0f MB", $2/1024}' "/proc/$spid/status")"
}

part_ingest() {
  make_workload
  ingest_extra=""
  sensor_limit=$(( (ingest_mb * 4 > 64 ? ingest_mb * 4 : 64) << 20 ))
  if [ "${SERVER_DEFAULTS:-0}" = 1 ]; then
    sensor_limit=$(( 1 << 30 ))  # the default max_sensor_backlog_bytes
  else
    ingest_extra="max_sensor_backlog_bytes = $sensor_limit"
  fi
  echo "== $sensors honest TLS sensors x $ingest_mb MB (type 1, 4 KB packets), alone and with hostile loads: $loads"
  echo "   server: $threads session threads$([ -n "$ingest_extra" ] && echo ", $ingest_extra" || echo ", every default")"
  local ratios="" a h
  for r in $(seq "$rounds"); do
    echo "   round $r:"
    ingest_run alone
    a=$mbps
    ingest_run hostile
    h=$mbps
    echo "   round $r: alone $a MB/s, with $loads $h MB/s: $(awk -v a="$a" -v h="$h" 'BEGIN{printf "%.0f %%", 100*h/a}')"
    ratios="$ratios $a:$h"
  done
  python3 - $ratios <<'PY'
import statistics, sys
pairs = [tuple(float(x) for x in a.split(':')) for a in sys.argv[1:]]
r = [h / a * 100 for a, h in pairs]
print(f"== honest throughput with the hostile loads: median {statistics.median(r):.0f} % of alone (goal >= 80 %); "
      + ", ".join(f"{h:.1f}/{a:.1f} MB/s = {x:.0f} %" for (a, h), x in zip(pairs, r)))
PY
}

for p in $parts; do
  case "$p" in
    unauth-rss) part_unauth_rss ;;
    meta-keys) part_meta_keys ;;
    ingest) part_ingest ;;
    *) "part_${p//-/_}" ;;
  esac
done
