#!/usr/bin/env bash
# TCP reassembly under a flood of new flows, before and after a change, in one run:
#   bench/analyzers/tcp_flood_compare.sh <older commit> [benchmark args...]
# Builds bench/analyzers/tcp_reassembly_bench.cpp twice with the same compiler flags — against
# the reassembler of <older commit> and against the working tree's — then runs both back to back.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
old=${1:?usage: $0 <older commit> [benchmark args...]}
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/old/analyzers/packet"
for f in tcp_reassembly.hpp tcp_reassembly.cpp; do
  git -C "$root" show "$old:src/analyzers/packet/$f" > "$work/old/analyzers/packet/$f"
done
flags=(-std=c++20 -O2 -DNDEBUG)
common=("$root/src/analyzers/packet/decode.cpp" "$root/src/analyzers/packet/ip_address.cpp")
libs=(-lbenchmark_main -lbenchmark -lpthread)
# The older reassembler's header shadows the current one (its own directory comes first).
g++ "${flags[@]}" -I"$work/old" -I"$root/src" "$root/bench/analyzers/tcp_reassembly_bench.cpp" \
  "$work/old/analyzers/packet/tcp_reassembly.cpp" "${common[@]}" "${libs[@]}" -o "$work/before"
g++ "${flags[@]}" -I"$root/src" "$root/bench/analyzers/tcp_reassembly_bench.cpp" \
  "$root/src/analyzers/packet/tcp_reassembly.cpp" "${common[@]}" "${libs[@]}" -o "$work/after"
echo "== before ($old)"
"$work/before" "$@"
echo "== after (working tree)"
"$work/after" "$@"
