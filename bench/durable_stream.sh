#!/bin/bash
# Cost of a durable stream Redis ([stack] durable_stream: AOF, appendfsync everysec) on ingest:
# bench/ingest_e2e.sh alternately with the volatile stream Redis (the default, like the
# reference) and with AOF, ROUNDS times each, in one run on the same data. The AOF is written to
# the benchmark's temporary directory (the same disk as everything else here).
#
#   bench/durable_stream.sh BUILD_DIR [ROUNDS=3] [SENSORS=20] [MB=20] [THREADS=2]
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [ROUNDS] [SENSORS] [MB] [THREADS]}
rounds=${2:-3}; n=${3:-20}; mb=${4:-20}; threads=${5:-2}
here=$(cd "$(dirname "$0")" && pwd)
declare -a volatile durable
for r in $(seq "$rounds"); do
  for mode in volatile durable; do
    extra=""
    [ "$mode" = durable ] && extra="--appendonly yes --appendfsync everysec"
    out=$(D4_REDIS_EXTRA="$extra" "$here/ingest_e2e.sh" "$build" "$n" "$mb" "$threads")
    mbps=$(echo "$out" | awk '/^throughput/ {print $2}')
    cpu=$(echo "$out" | awk -F'redis ' '/^cpu/ {split($2, a, " "); print a[1]}')
    echo "round $r $mode: $mbps MB/s, redis CPU $cpu s; load $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "$mode" = volatile ]; then volatile+=("$mbps"); else durable+=("$mbps"); fi
  done
done
python3 - "${volatile[*]}" "${durable[*]}" <<'PY'
import statistics, sys
v = [float(x) for x in sys.argv[1].split()]
d = [float(x) for x in sys.argv[2].split()]
mv, md = statistics.median(v), statistics.median(d)
print(f"median: volatile {mv:.1f} MB/s, durable (AOF everysec) {md:.1f} MB/s: {md / mv * 100:.0f} % "
      f"(per round: {', '.join(f'{b / a * 100:.0f} %' for a, b in zip(v, d))})")
PY
