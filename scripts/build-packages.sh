#!/bin/sh
# Builds the Debian packages described in debian/ and prints the path of each .deb, one per line.
#   scripts/build-packages.sh [--build-dir DIR] [--out DIR] [--jobs N]
# --build-dir DIR  package the executables already built in DIR, a tree configured from this source
#                  (e.g. build/; build it first): no configuration and no compilation, only
#                  `cmake --install DIR --prefix /usr` into the package staging directory.
#                  Without it: a release build from scratch of a copy of the tree, as
#                  `dpkg-buildpackage -b -us -uc` in the tree does (debian/rules).
# --out DIR        where the packages go; default build-packages/. The build log stays there too.
# Needs debhelper and the build dependencies of debian/control (scripts/install-deps.sh).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT="$SRC/build-packages"
BUILD_DIR=""
JOBS=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=$(cd "$2" && pwd); shift ;;
    --out) OUT=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    *) echo "usage: $0 [--build-dir DIR] [--out DIR] [--jobs N]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# dpkg-buildpackage writes next to the directory it runs in and cleans that directory first: it runs
# in a scratch copy, which keeps the source tree clean and lets several builds run at once. From an
# existing build tree the copy is debian/ alone; from scratch it is every file git knows of.
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/src"
if [ -n "$BUILD_DIR" ]; then
  cp -R "$SRC/debian" "$WORK/src/debian"
  export D4_BUILD_DIR="$BUILD_DIR"
else
  (cd "$SRC" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK/src")
fi
LOG="$OUT/build-packages.log"
if ! (cd "$WORK/src" && dpkg-buildpackage -b -us -uc -j"$JOBS") >"$LOG" 2>&1; then
  tail -n 40 "$LOG" >&2
  echo "build-packages: dpkg-buildpackage failed (log: $LOG)" >&2
  exit 1
fi
awk '$1 ~ /\.deb$/ { print $1 }' "$WORK/src/debian/files" | while read -r deb; do
  mv "$WORK/$deb" "$OUT/$deb"
  echo "$OUT/$deb"
done
