#!/bin/sh
# Builds D4 and runs the whole test suite on a fresh Debian 12 machine:
#   1. installs the Debian packages (scripts/install-deps.sh),
#   2. release build with -Werror (GCC) + every test (real redis-server, TLS on loopback, browser),
#   3. the sensor client cross-built for arm64 and s390x (big-endian) and run under
#      qemu-user-static: stdout identical to the reference vectors, TLS sessions into d4-server;
#      the fully static client likewise (scripts/cross-client.sh --test; D4_CROSS_ARCHS="arm64 s390x"
#      chooses the architectures, empty: none),
#   4. the tests built with AddressSanitizer + UndefinedBehaviorSanitizer (Clang: a second compiler's
#      warnings, and about half GCC's compile time at -O0 with sanitizers),
#   5. the libFuzzer targets (Clang) for a bounded time.
# The tests mostly wait (on sockets, Redis, child processes): while one step's tests run, the next
# build runs beside them at the lowest CPU priority (nice 19), so it takes only the CPU they leave.
# Options: --quick (step 2 only), --no-install, --jobs N (build jobs, default: CPUs),
# --test-jobs N (tests run at once, default 4). Build trees: build/, build-cross/, build-asan/,
# build-fuzz/.
set -eu
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")  # run again for background steps
cd "$(dirname "$0")/.."
QUICK=0; INSTALL=1; JOBS=$(nproc); TEST_JOBS=4; BACKGROUND_STEP=""
FUZZ_SECONDS=${D4_FUZZ_SECONDS:-30}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-install) INSTALL=0 ;;
    --jobs) JOBS=$2; shift ;;
    --test-jobs) TEST_JOBS=$2; shift ;;
    --background-step) BACKGROUND_STEP=$2; shift ;;  # internal: see bg_start
    *) echo "usage: $0 [--quick] [--no-install] [--jobs N] [--test-jobs N]" >&2; exit 2 ;;
  esac
  shift
done

# Each step's duration, printed again at the end (build speed is tracked in docs/BENCHMARKS.md).
TIMES=""; STEP=""; STEP_START=$(date +%s); RUN_START=$STEP_START
end_step() {
  [ -n "$STEP" ] && TIMES="$TIMES$(printf '%6ss  %s' "$(($(date +%s) - STEP_START))" "$STEP")
"
  STEP_START=$(date +%s)
}
step() { end_step; STEP=$*; printf '\n==== %s ====\n' "$*"; }
summary() { end_step; STEP=""; printf '\n==== step times ====\n%s%6ss  in all\n' "$TIMES" "$(($(date +%s) - RUN_START))"; }
trap 'bg_stop; summary' EXIT

# A background step: "bg_start NAME FUNCTION" runs FUNCTION (this script again, with
# --background-step) at nice 19 in its own process group, its output kept in a file; "bg_join" waits
# for it, prints its output and duration, and stops the run if it failed. A run that stops early
# stops the background step too.
BG_PID=""; BG_NAME=""; BG_LOG=""; BG_START=0
bg_start() {
  BG_NAME=$1; BG_LOG=$(mktemp); BG_START=$(date +%s)
  printf '\n==== %s: started in the background ====\n' "$BG_NAME"
  setsid nice -n 19 "$SELF" --background-step "$2" --jobs "$JOBS" >"$BG_LOG" 2>&1 &
  BG_PID=$!
}
bg_join() {
  rc=0; wait "$BG_PID" || rc=$?
  BG_PID=""
  printf '\n==== %s (ran in the background) ====\n' "$BG_NAME"
  cat "$BG_LOG"; rm -f "$BG_LOG"
  TIMES="$TIMES$(printf '%6ss  %s (in the background)' "$(($(date +%s) - BG_START))" "$BG_NAME")
"
  if [ "$rc" != 0 ]; then echo "$BG_NAME failed (exit $rc)" >&2; exit "$rc"; fi
}
bg_stop() { [ -n "$BG_PID" ] && kill -TERM -"$BG_PID" 2>/dev/null; BG_PID=""; }

asan_build() {
  cmake -S . -B build-asan -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug -DD4_WERROR=ON \
        -DD4_UNITY_BUILD=ON -DD4_SANITIZE=address,undefined -DD4_BUILD_BENCH=OFF \
        -DD4_SHARED_LIBS=ON
  cmake --build build-asan -j "$JOBS"
}
fuzz() {
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DD4_FUZZ=ON -DD4_CLIENT_ONLY=ON \
        -DD4_BUILD_TESTS=OFF -DD4_BUILD_BENCH=OFF
  cmake --build build-fuzz -j "$JOBS" --target d4_fuzz_framer d4_fuzz_ipfix
  corpus=$(mktemp -d)
  cp tests/data/vectors/*.d4 "$corpus/"
  ./build-fuzz/bin/d4_fuzz_framer -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
  rm -rf "$corpus"
  corpus=$(mktemp -d)
  ./build-fuzz/bin/d4_fuzz_ipfix -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
  rm -rf "$corpus"
}
if [ -n "$BACKGROUND_STEP" ]; then
  trap - EXIT
  # setsid gave this step its own scheduler autogroup, and the kernel weighs autogroups equally
  # whatever their processes' nice values: without this line the step would take half the CPU
  # from the tests beside it. Lowering the group's own priority makes nice 19 mean what it says.
  [ -w /proc/self/autogroup ] && echo 19 >/proc/self/autogroup 2>/dev/null || true
  "$BACKGROUND_STEP"
  exit 0
fi

step "packages (install-deps.sh, npm)"
[ "$INSTALL" = 1 ] && ./scripts/install-deps.sh
if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
step "release build (-Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DD4_WERROR=ON -DD4_UNITY_BUILD=ON
cmake --build build -j "$JOBS"
[ "$QUICK" = 0 ] && bg_start "ASan/UBSan build (Clang)" asan_build
step "tests (release build)"
ctest --test-dir build --output-on-failure -j "$TEST_JOBS" --timeout 600

if [ "$QUICK" = 0 ]; then
  NO_INSTALL=""; [ "$INSTALL" = 0 ] && NO_INSTALL="--no-install"
  for arch in ${D4_CROSS_ARCHS-arm64 s390x}; do
    step "d4-client cross-built for $arch, tested under qemu"
    ./scripts/cross-client.sh "$arch" --test --jobs "$JOBS" $NO_INSTALL
  done
  step "static d4-client"
  ./scripts/cross-client.sh "$(dpkg --print-architecture)" --static --test --jobs "$JOBS" $NO_INSTALL

  step "waiting for the ASan/UBSan build"
  bg_join
  bg_start "fuzzing (libFuzzer, ${FUZZ_SECONDS}s per target)" fuzz
  step "tests (ASan/UBSan)"
  # malloc_context_size: 8 frames of each allocation's and free's stack (default 30), recorded at every
  # malloc and free: 8 % less CPU (docs/testing.md); a report's own stack stays whole.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:malloc_context_size=8 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$TEST_JOBS" --timeout 900 -LE 'browser|packaging'
  step "waiting for fuzzing"
  bg_join
fi
step "all tests passed"
