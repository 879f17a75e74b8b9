#!/bin/sh
# Regenerates the screenshots of docs/web.md and docs/sharing.md (docs/images/*.png) from the browser
# test: the real d4-stack and d4-web in headless Chromium (tests/browser/web.test.mjs), which writes
# every screenshot to <build>/artifacts/browser/. The ones the documentation shows are copied here,
# compressed with pngquant (Debian package pngquant, scripts/install-deps.sh).
#
#   scripts/doc-screenshots.sh [build-dir]          # default: build
#   scripts/doc-screenshots.sh --reuse [build-dir]  # the screenshots of the last browser test run
#
# The build tree needs the stack: cmake --build <build> --target d4-stack d4-server d4-worker
# d4-client d4-web d4-pibs d4-misp-feed d4_test_ports; and tests/browser/node_modules (npm ci).
set -eu
reuse=0
if [ "${1:-}" = "--reuse" ]; then reuse=1; shift; fi
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
shots="$build/artifacts/browser"
command -v pngquant >/dev/null 2>&1 || { echo "pngquant is missing (apt-get install pngquant)" >&2; exit 1; }
if [ "$reuse" = 0 ]; then
  rm -rf "$shots"
  ctest --test-dir "$build" -R '^web_browser$' --output-on-failure
fi
mkdir -p "$root/docs/images"
# <screenshot of the test> <name in docs/images>
for pair in 08-alert-rule:alert-rule 09-alerts:alerts 12-organisations:organisations \
            13-queue-grant:queue-grant 14-alert-channels:alert-channels 15-misp-feed:misp-feed; do
  from="$shots/${pair%%:*}.png"
  to="$root/docs/images/${pair#*:}.png"
  [ -f "$from" ] || { echo "missing screenshot $from" >&2; exit 1; }
  pngquant --force --skip-if-larger --quality 40-80 --strip --speed 1 --output "$to" "$from" || cp "$from" "$to"
done
du -ch "$root"/docs/images/*.png | tail -1
