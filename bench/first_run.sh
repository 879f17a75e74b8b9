#!/bin/sh
# A new operator's first run, timed: `git clone`, then the README's main command
# (./scripts/d4-stack.sh) until it prints "D4 stack is running". No compiler cache (a fresh
# machine has none); Debian's packages are taken as installed (.ci/run prints install-deps.sh's own
# time on a fresh machine). Two phases, so that the build's CPU time is measured too:
#   1. d4-stack.sh --init-only: package check, configure, build, first-run data directory;
#   2. d4-stack.sh: the stack started on it, until its summary is printed.
# Usage: bench/first_run.sh [REPOSITORY] (default: this checkout). Prints one line per phase and
# the total, with the load average (wall time depends on what else runs; CPU time barely does).
set -eu
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
t0=$(now)
git clone -q "$repo" "$work/d4"
cd "$work/d4"
export CCACHE_DISABLE=1
/usr/bin/time -f '%U %S' -o "$work/build.cpu" ./scripts/d4-stack.sh --data-dir "$work/data" --init-only \
  >"$work/init.out" 2>&1 || { cat "$work/init.out"; exit 1; }
t1=$(now)
./scripts/d4-stack.sh --data-dir "$work/data" >"$work/stack.out" 2>&1 &
pid=$!
i=0
until grep -q "D4 stack is running" "$work/stack.out"; do
  if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 600 ]; then cat "$work/stack.out"; exit 1; fi
  sleep 0.2; i=$((i + 1))
done
t2=$(now)
read -r user sys <"$work/build.cpu"
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v u="$user" -v s="$sys" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
  printf "clone, configure and build: %.0f s wall, %.0f CPU s (user + system)\n", t1 - t0, u + s
  printf "stack started:              %.1f s wall\n", t2 - t1
  printf "first run in all:           %.0f s wall (%.1f min), load average %s\n", t2 - t0, (t2 - t0) / 60, load
}'
