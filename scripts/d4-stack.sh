#!/bin/sh
# Runs the whole D4 server stack on this machine (the README's main command):
# installs the Debian packages if needed, builds the project (incremental), then starts
# build/bin/d4-stack, which launches its own Redis and the analyzers, creates a self-signed certificate and a
# default configuration under ./d4-data on first run, and prints where sensors and the web UI
# connect. Arguments are passed to d4-stack (see `d4-stack --help`).
set -eu
cd "$(dirname "$0")/.."
D4_INSTALL_BROWSER=0 D4_INSTALL_PACKAGING=0 ./scripts/install-deps.sh >/dev/null
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DD4_UNITY_BUILD=ON >/dev/null
fi
cmake --build build -j "$(nproc)" --target d4-stack d4-server d4-worker d4-web d4-client \
  d4-pdns d4-pibs d4-passivessl 2>/dev/null ||
  cmake --build build -j "$(nproc)"
exec ./build/bin/d4-stack "$@"
