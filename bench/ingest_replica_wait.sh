#!/bin/bash
# The cost of [server] wait_replicas: ingest with a local replica of the stream Redis, each batch
# counted as stored at once (wait_replicas = 0) or only once the replica acknowledged it (WAIT,
# wait_replicas = 1), alternately in one run:
#
#   bench/ingest_replica_wait.sh BUILD_DIR [SENSORS=20] [MB=20] [THREADS=2] [ROUNDS=2]
#
# Both settings run with the replica (bench/ingest_e2e.sh with D4_REPLICA=1), so what differs is
# the WAIT alone, not the replication the primary does anyway. The replica shares the machine.
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR [SENSORS] [MB] [THREADS] [ROUNDS]}" && pwd)
n=${2:-20}; mb=${3:-20}; threads=${4:-2}; rounds=${5:-2}
here=$(cd "$(dirname "$0")" && pwd)
for r in $(seq "$rounds"); do
  for w in 0 1; do
    echo "== round $r, wait_replicas = $w (one local replica)"
    D4_REPLICA=1 D4_SERVER_EXTRA="wait_replicas = $w
wait_timeout_ms = 5000" "$here/ingest_e2e.sh" "$build" "$n" "$mb" "$threads" |
      grep -E "load average|stored|throughput|cpu|redis  |latency|replica"
  done
done
