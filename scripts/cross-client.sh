#!/bin/sh
# Cross-builds the sensor client (d4-client) for another CPU with Debian 12's cross toolchains and
# prints the path of the binary as its last line (everything else goes to stderr):
#   scripts/cross-client.sh ARCH [--static] [--test] [--no-install] [--jobs N]
# ARCH: arm64 armhf armel i386 mipsel mips64el ppc64el s390x (s390x is big-endian), or this
# machine's own architecture (amd64: a native build, useful with --static).
#   --static      a fully static client (glibc, OpenSSL and libpcap linked in): build-cross/ARCH/static
#   --test        run the client on ARCH (under qemu-user-static; a static one without any library
#                 of ARCH): its stdout for the shared vectors must be the reference C client's
#                 streams byte for byte, and its TLS sessions into a natively built d4-server must
#                 store the inputs intact (tests/server/client_session_test.cpp)
#   --test-suite  --test, plus the client's own test suite built for ARCH and run under qemu
#                 (dynamic builds only). See docs/client.md.
#   --no-install  do not install missing host packages (toolchain, qemu)
# The target's libraries (OpenSSL, libpcap, GoogleTest, ... with their dependencies) are Debian
# packages of ARCH downloaded with apt into a private apt state and extracted into
# build-cross/ARCH/sysroot: nothing of ARCH is installed on this machine, so the target's package
# versions need not match the host's (Multi-Arch "same" packages must, and the security archive
# carries some architectures only).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

usage() { echo "usage: $0 ARCH [--static] [--test | --test-suite] [--no-install] [--jobs N]" >&2; exit 2; }
[ $# -ge 1 ] || usage
ARCH=$1; shift
STATIC=0; TEST=0; FULL_SUITE=0; INSTALL=1; JOBS=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --static) STATIC=1 ;;
    --test) TEST=1 ;;
    --test-suite) TEST=1; FULL_SUITE=1 ;;
    --no-install) INSTALL=0 ;;
    --jobs) JOBS=$2; shift ;;
    *) usage ;;
  esac
  shift
done
case "$ARCH" in
  amd64) TRIPLET=x86_64-linux-gnu; QEMU=x86_64 ;;
  arm64) TRIPLET=aarch64-linux-gnu; QEMU=aarch64 ;;
  armhf) TRIPLET=arm-linux-gnueabihf; QEMU=arm ;;
  armel) TRIPLET=arm-linux-gnueabi; QEMU=arm ;;
  i386) TRIPLET=i686-linux-gnu; QEMU=i386 ;;
  mipsel) TRIPLET=mipsel-linux-gnu; QEMU=mipsel ;;
  mips64el) TRIPLET=mips64el-linux-gnuabi64; QEMU=mips64el ;;
  ppc64el) TRIPLET=powerpc64le-linux-gnu; QEMU=ppc64le ;;
  s390x) TRIPLET=s390x-linux-gnu; QEMU=s390x ;;
  mips) echo "cross-client: Debian 12 has no mips (big-endian 32-bit) port, so no OpenSSL for it; use s390x for big-endian" >&2; exit 2 ;;
  *) echo "cross-client: unknown architecture '$ARCH'" >&2; usage ;;
esac
say() { printf 'cross-client [%s]: %s\n' "$ARCH" "$*" >&2; }
NATIVE=0
[ "$ARCH" = "$(dpkg --print-architecture)" ] && NATIVE=1
SUDO=""
[ "$(id -u)" = "0" ] || SUDO="sudo"

# 1. Host packages: the cross toolchain and, to run the tests, qemu-user-static.
HOST_PKGS="crossbuild-essential-$ARCH"
[ "$TEST" = 1 ] && HOST_PKGS="$HOST_PKGS qemu-user-static"
[ "$NATIVE" = 1 ] && HOST_PKGS="build-essential libssl-dev libpcap-dev"
missing=""
for p in $HOST_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  [ "$INSTALL" = 1 ] || { say "missing host packages:$missing"; exit 1; }
  say "installing$missing"
  $SUDO apt-get update -q >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >&2
fi

# 2. Target packages in a sysroot, with a private apt state for ARCH.
BASE="$ROOT/build-cross/$ARCH"
SYSROOT="$BASE/sysroot"
TARGET_PKGS="libssl-dev libpcap0.8-dev nlohmann-json3-dev libstdc++6 libgcc-s1"
[ "$FULL_SUITE" = 1 ] && TARGET_PKGS="$TARGET_PKGS libgtest-dev librapidcheck-dev"
# Headers of these come with the cross toolchain (libc6-dev-ARCH-cross); the target's copies would
# shadow them. Their runtime libraries (libc6, ...) are extracted.
TOOLCHAIN_PKGS="libc6-dev linux-libc-dev libcrypt-dev libnsl-dev libtirpc-dev libc-dev-bin rpcsvc-proto"
if [ "$NATIVE" = 0 ] && [ "$(cat "$SYSROOT/.packages" 2>/dev/null)" != "$TARGET_PKGS" ]; then
  say "downloading the target's packages: $TARGET_PKGS"
  APT="$BASE/apt"
  rm -rf "$SYSROOT" "$APT"
  mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$SYSROOT"
  : > "$APT/status"
  set -- -q -o "Dir::State::Lists=$APT/lists" -o "Dir::State::status=$APT/status" \
    -o "Dir::Cache::archives=$APT/archives" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" \
    -o "APT::Architecture=$ARCH" -o "APT::Architectures::=$ARCH" -o Debug::NoLocking=1
  # Repositories without ARCH only warn; the Debian archive has every architecture above.
  apt-get "$@" update >&2 || say "apt-get update reported errors (continuing with what it fetched)"
  # shellcheck disable=SC2086
  apt-get "$@" --download-only --no-install-recommends -y install $TARGET_PKGS >&2
  for deb in "$APT"/archives/*.deb; do
    name=$(dpkg-deb -f "$deb" Package)
    case " $TOOLCHAIN_PKGS " in *" $name "*) continue ;; esac
    dpkg-deb -x "$deb" "$SYSROOT"
  done
  # Absolute symbolic links (ppc64el's /lib64/ld64.so.2, ...) must point into the sysroot: qemu
  # looks paths up under it, the kernel follows links from the real root.
  find "$SYSROOT" -type l -lname '/*' | while read -r link; do
    ln -sfn "$SYSROOT$(readlink "$link")" "$link"
  done
  rm -rf "$APT/archives" "$APT/lists"
  echo "$TARGET_PKGS" > "$SYSROOT/.packages"
fi

# 3. Configure and build. The static build has no test suite of its own (the test programs are not
# static): it is tested by the TLS sessions below.
if [ "$STATIC" = 1 ]; then BUILD="$BASE/static"; else BUILD="$BASE/build"; fi
SUITE=0; [ "$FULL_SUITE" = 1 ] && [ "$STATIC" = 0 ] && SUITE=1
TESTS=OFF; [ "$SUITE" = 1 ] && TESTS=ON
STATIC_FLAG=OFF; [ "$STATIC" = 1 ] && STATIC_FLAG=ON
CROSS=""
[ "$NATIVE" = 0 ] && CROSS="-DCMAKE_TOOLCHAIN_FILE=$ROOT/cmake/toolchains/debian-cross.cmake -DD4_CROSS_ARCH=$ARCH -DD4_CROSS_SYSROOT=$SYSROOT"
say "configuring $BUILD"
# shellcheck disable=SC2086
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $CROSS \
  -DD4_CLIENT_ONLY=ON -DD4_STATIC_CLIENT="$STATIC_FLAG" -DD4_BUILD_TESTS="$TESTS" -DD4_BUILD_BENCH=OFF \
  -DD4_WERROR=ON -DD4_UNITY_BUILD=ON >&2
# With the tests: everything the client-only build has (client, protocol and client tests).
TARGET="d4-client"; [ "$SUITE" = 1 ] && TARGET="all"
say "building $TARGET"
cmake --build "$BUILD" -j "$JOBS" --target "$TARGET" >&2
CLIENT="$BUILD/bin/d4-client"
if [ "$STATIC" = 1 ]; then
  # Fully static: no program interpreter, no shared library.
  if readelf -l "$CLIENT" | grep -q INTERP || readelf -d "$CLIENT" | grep -q NEEDED; then
    say "$CLIENT is not fully static"; readelf -d "$CLIENT" >&2; exit 1
  fi
fi
# How tests start the client: natively, or under qemu; a static client gets no sysroot at all, so
# it runs only if it needs no library of ARCH.
if [ "$NATIVE" = 1 ]; then LAUNCHER=""
elif [ "$STATIC" = 1 ]; then LAUNCHER="qemu-$QEMU-static"
else LAUNCHER="qemu-$QEMU-static -L $SYSROOT"
fi

# 4. The client's test suite on the target architecture (ctest runs it under qemu), then TLS
# sessions into a native d4-server.
if [ "$TEST" = 1 ]; then
  if [ "$SUITE" = 1 ]; then
    say "running the client's test suite (${LAUNCHER:-native})"
    EXCLUDE=""
    if [ "$NATIVE" = 0 ]; then
      # qemu-user does not implement the SIOCETHTOOL ioctl that libpcap needs to open an
      # interface: live capture cannot run under the emulator (it is tested natively).
      EXCLUDE='^PcapSource\.'
      say "not run under qemu (no SIOCETHTOOL in the emulator): $(ctest --test-dir "$BUILD" -N -R "$EXCLUDE" | grep -c 'Test *#') PcapSource test(s)"
    fi
    ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" --timeout 600 ${EXCLUDE:+-E "$EXCLUDE"} >&2
  fi
  NATIVE_BUILD="$ROOT/build"
  if [ ! -f "$NATIVE_BUILD/build.ninja" ]; then
    cmake -S "$ROOT" -B "$NATIVE_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DD4_WERROR=ON -DD4_UNITY_BUILD=ON >&2
  fi
  cmake --build "$NATIVE_BUILD" -j "$JOBS" --target d4-server d4_client_session_tests >&2
  # The shared vectors: stdin to stdout with the reference C client's settings and timestamps.
  # A native static client runs in an empty root (as root): no file at all around it.
  V="$ROOT/tests/data/vectors"
  WORK=$(mktemp -d)
  RUN="$LAUNCHER"; PROG="$CLIENT"; KEY="$WORK/key"
  if [ "$STATIC" = 1 ] && [ "$NATIVE" = 1 ] && [ "$(id -u)" = 0 ]; then
    cp "$CLIENT" "$WORK/d4-client"; RUN="chroot $WORK"; PROG=/d4-client; KEY=/key
  fi
  printf 'd4-test-key' > "$WORK/key"
  for v in "c-client-type1-dns.d4 dns.pcap 1 4096" "c-client-type3-log.d4 auth.log 3 512" \
           "c-client-type8-passivedns.d4 dns.passivedns.csv 8 4096"; do
    set -- $v
    TS=$(od -An -t u8 --endian=little -j 18 -N 8 "$V/$1" | tr -d ' ')
    # shellcheck disable=SC2086
    $RUN $PROG --uuid 8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01 --key-file "$KEY" --type "$3" --snaplen "$4" \
      --timestamp "$TS" -q < "$V/$2" > "$WORK/out" 2> "$WORK/err" || true
    if ! cmp "$WORK/out" "$V/$1" >&2; then
      cat "$WORK/err" >&2; say "stdout for $2 differs from $1"; exit 1
    fi
  done
  rm -rf "$WORK"
  say "stdout identical to the reference C client's streams for the 3 vectors (${RUN:-native})"
  say "TLS sessions of the $ARCH client into the native d4-server"
  D4_CLIENT_UNDER_TEST="$CLIENT" D4_TARGET_LAUNCHER="$LAUNCHER" \
    "$NATIVE_BUILD/bin/d4_client_session_tests" >&2
fi
file "$CLIENT" >&2 || true
echo "$CLIENT"
