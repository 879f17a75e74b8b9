#!/bin/sh
# Builds D4 and runs the whole test suite on a fresh Debian 12 machine:
#   1. installs the Debian packages (scripts/install-deps.sh),
#   2. release build with -Werror + every test (real redis-server, TLS on loopback, browser),
#   3. the sensor client cross-built for arm64 and s390x (big-endian) and run under
#      qemu-user-static: stdout identical to the reference vectors, TLS sessions into d4-server;
#      the fully static client likewise (scripts/cross-client.sh --test; D4_CROSS_ARCHS="arm64 s390x"
#      chooses the architectures, empty: none),
#   4. the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer,
#   5. the libFuzzer targets (clang) for a bounded time.
# Options: --quick (step 2 only), --no-install, --jobs N. Build trees: build/, build-cross/,
# build-asan/, build-fuzz/.
set -eu
cd "$(dirname "$0")/.."
QUICK=0; INSTALL=1; JOBS=$(nproc)
FUZZ_SECONDS=${D4_FUZZ_SECONDS:-30}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-install) INSTALL=0 ;;
    --jobs) JOBS=$2; shift ;;
    *) echo "usage: $0 [--quick] [--no-install] [--jobs N]" >&2; exit 2 ;;
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
trap summary EXIT

step "packages (install-deps.sh, npm)"
[ "$INSTALL" = 1 ] && ./scripts/install-deps.sh
if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
step "release build (-Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DD4_WERROR=ON -DD4_UNITY_BUILD=ON
cmake --build build -j "$JOBS"
step "tests (release build)"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 600

if [ "$QUICK" = 0 ]; then
  NO_INSTALL=""; [ "$INSTALL" = 0 ] && NO_INSTALL="--no-install"
  for arch in ${D4_CROSS_ARCHS-arm64 s390x}; do
    step "d4-client cross-built for $arch, tested under qemu"
    ./scripts/cross-client.sh "$arch" --test --jobs "$JOBS" $NO_INSTALL
  done
  step "static d4-client"
  ./scripts/cross-client.sh "$(dpkg --print-architecture)" --static --test --jobs "$JOBS" $NO_INSTALL

  step "ASan/UBSan build"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DD4_WERROR=ON -DD4_UNITY_BUILD=ON \
        -DD4_SANITIZE=address,undefined -DD4_BUILD_BENCH=OFF
  cmake --build build-asan -j "$JOBS"
  step "tests (ASan/UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 900 -LE 'browser|packaging'

  step "fuzzing (libFuzzer, ${FUZZ_SECONDS}s per target)"
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
fi
step "all tests passed"
