#!/bin/bash
# Cost of one d4-alerts evaluation as the number of sensors grows: SENSORS sensors in the sensor
# index (10 % of them silent, each with a full error list of 50 entries), a global sensor_silent
# and a global sensor_error rule, one webhook channel that nobody answers (so the firing alerts'
# notifications are attempted and fail, as with a receiver down). Prints the median of
# d4_alerts_last_evaluation_duration_seconds over ROUNDS evaluations, once the first notifications
# went out (steady state: the silent sensors fire, the others are read and judged).
#
#   bench/alerts_evaluation.sh BUILD_DIR [SENSORS=10000] [ROUNDS=20]
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [SENSORS] [ROUNDS]}
n=${2:-10000}; rounds=${3:-20}
work=$(mktemp -d)
cleanup() { [ -n "${apid:-}" ] && kill "$apid" 2>/dev/null; [ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
redis-server --port 0 --unixsocket "$work/r.sock" --save '' --appendonly no --dir "$work" --logfile "$work/redis.log" &
rpid=$!
for _ in $(seq 100); do redis-cli -s "$work/r.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
python3 - "$n" <<'PY' | redis-cli -s "$work/r.sock" --pipe >/dev/null
import json, sys, time
n = int(sys.argv[1]); now = int(time.time())
def cmd(*args):
    out = [f"*{len(args)}\r\n"]
    for a in args:
        b = str(a).encode()
        out.append(f"${len(b)}\r\n"); out.append(b.decode() + "\r\n")
    sys.stdout.write("".join(out))
for i in range(n):
    u = f"{i:032x}"
    seen = now - 3600 if i % 10 == 0 else now
    cmd("HSET", f"metadata_uuid:{u}", "first_seen", now - 86400, "last_seen", seen)
    cmd("SADD", "sensor:index", u)
    entries = [json.dumps({"time": now - 7200 - k, "reason": "idle_timeout", "detail": "no data", "ip": "192.0.2.1",
                           "source": "server", "session": "s"}) for k in range(50)]
    cmd("LPUSH", f"sensor:errors:{u}", *entries)
PY
cat > "$work/d4.toml" <<CONF
[general]
log_level = "warn"
[redis]
meta = "unix:$work/r.sock/0"
analyzer = "unix:$work/r.sock/2"
[alerts]
interval_ms = 500
metrics_listen = "127.0.0.1:0"
max_instances = $((n + 100))
max_sensors = $((n + 100))
renotify_seconds = 0
[alerts.webhook.nobody]
url = "http://127.0.0.1:9/hook"
timeout_ms = 1000
CONF
"$build/bin/d4-alerts" -c "$work/d4.toml" rule add --kind sensor_silent --interval 600 >/dev/null
"$build/bin/d4-alerts" -c "$work/d4.toml" rule add --kind sensor_error --threshold 3 --window 300 >/dev/null
"$build/bin/d4-alerts" -c "$work/d4.toml" --log-level info run 2> "$work/alerts.log" &
apid=$!
port=""
for _ in $(seq 200); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (metrics and health, HTTP).*/\1/p' "$work/alerts.log")
  [ -n "$port" ] && break; sleep 0.05
done
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
for _ in $(seq 600); do [ "$(metric d4_alerts_evaluations_total)" -ge 2 ] 2>/dev/null && break; sleep 0.1; done
samples=()
last=$(metric d4_alerts_evaluations_total)
while [ "${#samples[@]}" -lt "$rounds" ]; do
  sleep 0.2
  now=$(metric d4_alerts_evaluations_total)
  [ "$now" != "$last" ] || continue
  last=$now
  samples+=("$(metric d4_alerts_last_evaluation_duration_seconds)")
done
python3 - "$n" "$(metric d4_alerts_firing_count)" "${samples[*]}" <<'PY'
import statistics, sys
n, firing, s = int(sys.argv[1]), sys.argv[2], [float(x) for x in sys.argv[3].split()]
m = statistics.median(s)
print(f"{n} sensors, {firing} alerts firing: evaluation median {m * 1000:.0f} ms "
      f"(min {min(s) * 1000:.0f}, max {max(s) * 1000:.0f}), {m / n * 1e6:.1f} µs per sensor; "
      f"load {open('/proc/loadavg').read().split()[0]}")
PY
