#!/bin/bash
# Ingest with d4-server reaching Redis over plain TCP and over TLS (rediss://), in one run:
#
#   bench/ingest_redis_tls.sh BUILD_DIR [SENSORS=20] [MB=20] [THREADS=2] [ROUNDS=2]
#
# bench/ingest_e2e.sh (SENSORS TLS sensors x MB megabytes, 4 KB packets) alternately with
# D4_REDIS_TLS=0 and 1, ROUNDS times. The machine is shared: compare figures of the same run only.
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [SENSORS] [MB] [THREADS] [ROUNDS]}" && pwd)
n=${2:-20}; mb=${3:-20}; threads=${4:-2}; rounds=${5:-2}
here=$(cd "$(dirname "$0")" && pwd)
for round in $(seq "$rounds"); do
  for tls in 0 1; do
    echo "-- round $round, Redis over $([ "$tls" = 1 ] && echo "TLS (rediss://)" || echo "TCP (redis://)")"
    D4_REDIS_TLS=$tls "$here/ingest_e2e.sh" "$build" "$n" "$mb" "$threads"
  done
done
