#!/bin/sh
# Installs every Debian 12 package needed to build, test and run D4 (server stack, client, analyzers).
# python3-venv and PyMISP's dependencies (requests, dateutil, deprecated): the MISP feed test installs
# PyMISP itself into <build>/pymisp-venv (tests/sharing/pymisp_venv.sh).
# Idempotent; run as root (or through sudo). Boost is the 1.81 line only: it conflicts with 1.74's -dev
# packages, and gives Asio 1.26 / Beast 345 without the GCC 12 coroutine workaround.
set -eu
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential cmake ninja-build pkg-config ccache lld git
libboost1.81-dev
libssl-dev openssl libhiredis-dev libpcap-dev zlib1g-dev libzstd-dev
nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libsodium-dev
libtlsh-dev libarchive-dev libfixbuf-dev libfixbuf-tools libcurl4-openssl-dev
googletest libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
clang-14 libclang-rt-14-dev clang-format
redis-server redis-tools python3 python3-redis python3-aiosmtpd python3-venv python3-requests python3-dateutil python3-deprecated tcpdump tshark softflowd socat procps iproute2 curl wrk hyperfine"
# The Debian packages and their test (scripts/build-packages.sh, tests/packaging; debootstrap only for
# D4_PACKAGING_ROOT=debootstrap). Not needed to run the stack from the build tree.
if [ "${D4_INSTALL_PACKAGING:-1}" = "1" ]; then
  PKGS="$PKGS debhelper dpkg-dev systemd adduser debootstrap"
fi
# Cross-building and emulating the sensor client (scripts/cross-client.sh, run by scripts/test.sh).
if [ "${D4_INSTALL_CROSS:-1}" = "1" ]; then
  PKGS="$PKGS crossbuild-essential-arm64 crossbuild-essential-s390x qemu-user-static"
fi
if [ "${D4_INSTALL_BROWSER:-1}" = "1" ]; then
  # pngquant: scripts/doc-screenshots.sh compresses the browser test's screenshots for docs/images.
  PKGS="$PKGS chromium chromium-driver pngquant"
  # Node.js may already come from elsewhere (the Debian package conflicts with other builds).
  command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
# Debian starts redis-server as a system service on install; the project always runs its own
# instances on chosen loopback ports, so the system one is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  $SUDO systemctl stop redis-server || true
fi
echo "install-deps: all packages present"
