#!/bin/bash
# Packaging test (ctest label "packaging"): builds the Debian packages from the existing build tree
# (scripts/build-packages.sh --build-dir: nothing is compiled), checks their contents, conffiles,
# dependencies and maintainer scripts, checks the systemd units (systemd-analyze verify, with a
# broken unit that it must reject, and an exposure threshold of systemd-analyze security), checks
# the example meta-Redis configuration and the documented backup/restore with a real redis-server,
# then installs every package with dpkg into a clean Debian root and runs there: each executable
# (--version), --check-config of the installed configuration as the d4 user, a re-installation
# over a changed configuration (kept) and a purge.
#
# The clean root (D4_PACKAGING_ROOT):
#   host (default)  Debian's essential packages and the packages' dependencies, nothing else, copied
#                   from this machine's installed packages by host_root.py: seconds, no network.
#   debootstrap     debootstrap's minbase of this machine's release plus systemd and the packages'
#                   dependencies, from the Debian mirror (D4_DEBIAN_MIRROR, default
#                   http://deb.debian.org/debian): minutes the first time, then kept as a tarball in
#                   the cache directory (--cache, or D4_PACKAGING_CACHE).
# Needs root (chroot, dpkg into the clean root); exits 77 (skipped) otherwise.
#
# usage: packages_test.sh --source DIR --build DIR --version X.Y.Z --work DIR [--cache DIR]
set -uo pipefail

SKIP=77
SOURCE="" BUILD="" VERSION="" WORK="" CACHE="${D4_PACKAGING_CACHE:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --source) SOURCE=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --version) VERSION=$2; shift ;;
    --work) WORK=$2; shift ;;
    --cache) [ -n "$CACHE" ] || CACHE=$2; shift ;;
    *) echo "usage: $0 --source DIR --build DIR --version X.Y.Z --work DIR [--cache DIR]" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$CACHE" ] || CACHE="$WORK/cache"
ROOT_KIND="${D4_PACKAGING_ROOT:-host}"
MIRROR="${D4_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

FAILURES=0
step() { printf '\n== %s (%ds)\n' "$*" "$SECONDS"; }
fail() { echo "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*"; }
note() { echo "NOTE: $*"; }
check() {  # check DESCRIPTION COMMAND...: passes when the command succeeds
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
die() { echo "FAIL: $*"; exit 1; }
# matches [GREP OPTIONS] REGEX TEXT: a line of TEXT matches the extended REGEX
matches() { local opts=(); while [ $# -gt 2 ]; do opts+=("$1"); shift; done; grep -qE "${opts[@]}" -- "$1" <<<"$2"; }
has_line() { [[ $'\n'$2$'\n' == *$'\n'"$1"$'\n'* ]]; }  # has_line LINE TEXT, without a process
# none_matches [-v] [--] REGEX TEXT: no line of TEXT matches (-v: every line matches)
none_matches() {
  local invert=""
  [ "$1" = -v ] && { invert=-v; shift; }
  [ "$1" = -- ] && shift
  ! grep -qE $invert -- "$1" <<<"$2"
}

if [ "$(id -u)" != 0 ]; then
  echo "SKIPPED: needs root (chroot, dpkg into the clean root)"
  exit $SKIP
fi
case "$ROOT_KIND" in
  host) ROOT_TOOLS="python3" ;;
  debootstrap) ROOT_TOOLS="debootstrap apt-cache" ;;
  *) die "D4_PACKAGING_ROOT is host or debootstrap, not $ROOT_KIND" ;;
esac
for tool in dpkg-buildpackage dh systemd-analyze redis-server redis-cli chroot $ROOT_TOOLS; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh"
done

SERVER_PACKAGES="d4-server d4-worker d4-web d4-queue d4-export d4-admin d4-stack d4-alerts"
ANALYZER_PACKAGES="d4-pdns d4-pibs d4-tls-fingerprint d4-passivessl d4-misp-feed"
EXECUTABLE_PACKAGES="$SERVER_PACKAGES d4-client $ANALYZER_PACKAGES"
ALL_PACKAGES="d4-common $EXECUTABLE_PACKAGES"
# The daemons that systemd units run: each must take --check-config (issue: every daemon).
DAEMONS="d4-server d4-worker d4-web d4-export d4-pdns d4-pibs d4-passivessl d4-misp-feed d4-alerts"

# ---------------------------------------------------------------------------------------------
step "building the packages from $BUILD"
rm -rf "$WORK/debs" "$WORK/root" "$WORK/redis" "$WORK/extract"
mkdir -p "$WORK/debs" "$CACHE"
# No -dbgsym packages, and gzip -1 rather than xz: compression takes most of the time and is not
# what this test checks.
DEBS=$(DEB_BUILD_OPTIONS="noddebs ${DEB_BUILD_OPTIONS:-}" DPKG_DEB_COMPRESSOR_TYPE=gzip DPKG_DEB_COMPRESSOR_LEVEL=1 \
       "$SOURCE/scripts/build-packages.sh" --build-dir "$BUILD" --out "$WORK/debs" --jobs 2) ||
  die "scripts/build-packages.sh failed"
echo "$DEBS"
deb_of() { echo "$DEBS" | grep "/$1_[^/]*\.deb$"; }
field() { dpkg-deb -f "$(deb_of "$1")" "$2"; }
declare -A FILES  # package -> the paths it ships, one a line
for p in $ALL_PACKAGES; do
  [ -n "$(deb_of "$p")" ] && FILES[$p]=$(dpkg-deb -c "$(deb_of "$p")" | awk '{ print $6 }' | sed 's|^\.||')
done
files_of() { echo "${FILES[$1]:-}"; }
dep_names() { field "$1" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/ //g' | grep -v '^$'; }

# ---------------------------------------------------------------------------------------------
step "package contents"
for p in $ALL_PACKAGES; do
  [ -n "$(deb_of "$p")" ] || { fail "package $p was not built"; continue; }
  check "$p version is the project's ($VERSION)" [ "$(field "$p" Version)" = "$VERSION" ]
  check "$p depends on no development package" none_matches -- '-dev$' "$(dep_names "$p")"
done

# Every executable the build made is shipped, in the package named after it, and nowhere else
# (benchmark programs, d4-*-bench, are development tools and never installed).
for exe in "$BUILD"/bin/d4-*; do
  name=$(basename "$exe")
  case "$name" in *-bench) continue ;; esac
  owners=""
  for p in $EXECUTABLE_PACKAGES; do
    has_line "/usr/bin/$name" "${FILES[$p]:-}" && owners="$owners $p"
  done
  check "$name is shipped by its own package only (owners:${owners:- none})" [ "$owners" = " $name" ]
done

units_of() { files_of "$1" | sed -n 's|^/lib/systemd/system/\([^/]\+\)$|\1|p' | sort | tr '\n' ' '; }
expect_units() { check "$1 ships the units: $2" [ "$(units_of "$1")" = "$2" ]; }
expect_units d4-common "d4.target "
expect_units d4-server "d4-server.service "
expect_units d4-worker "d4-worker@.service "
expect_units d4-web "d4-web.service "
expect_units d4-alerts "d4-alerts.service "
expect_units d4-export "d4-export@.service "
expect_units d4-pdns "d4-pdns-capture@.service d4-pdns-ingest.service d4-pdns-serve.service "
expect_units d4-pibs "d4-pibs-capture@.service d4-pibs.service "
expect_units d4-passivessl "d4-passivessl-ingest.service d4-passivessl-serve.service "
expect_units d4-misp-feed "d4-misp-feed.service "
for p in d4-queue d4-admin d4-stack d4-client d4-tls-fingerprint; do expect_units "$p" ""; done

check "d4-common's only conffile is /etc/d4/d4.toml" \
  [ "$(dpkg-deb -I "$(deb_of d4-common)" conffiles)" = "/etc/d4/d4.toml" ]
for f in /usr/share/doc/d4/operations.md /usr/share/doc/d4/README.md /usr/share/doc/d4/configuration.md \
         /usr/share/doc/d4/examples/d4.example.toml /usr/share/doc/d4/examples/redis-d4-meta.conf \
         /usr/lib/sysusers.d/d4.conf; do
  check "d4-common ships $f" matches "^$f\$" "$(files_of d4-common)"
done
check "d4-common ships the Grafana dashboard" has_line /usr/share/doc/d4/grafana/d4.json "$(files_of d4-common)"
check "the documentation is not compressed (links between its files work)" \
  none_matches -- '^/usr/share/doc/d4/.*\.gz$' "$(files_of d4-common)"
check "d4-common's postinst creates the d4 user" \
  matches 'adduser .*--system' "$(dpkg-deb -I "$(deb_of d4-common)" postinst)"

# The sensor client needs the C and C++ runtimes, OpenSSL and libpcap, and nothing else.
client_deps=$(dep_names d4-client)
check "d4-client depends on libssl3" matches '^libssl3$' "$client_deps"
check "d4-client depends on libpcap0.8" matches '^libpcap0\.8$' "$client_deps"
check "d4-client depends only on the C/C++ runtimes, OpenSSL and libpcap ($(echo $client_deps))" \
  none_matches -v '^(libc6|libgcc-s1|libstdc\+\+6|libssl3|libpcap0\.8)$' "$client_deps"
for p in d4-server d4-worker d4-web d4-queue d4-export d4-admin d4-pdns d4-pibs d4-passivessl d4-misp-feed d4-alerts; do
  check "$p depends on d4-common of the same version" \
    matches "^d4-common \(= $VERSION\)$" "$(field "$p" Depends | tr ',' '\n' | sed 's/^ //')"
done

# ---------------------------------------------------------------------------------------------
step "unit files"
mkdir -p "$WORK/extract"
for p in $ALL_PACKAGES; do dpkg-deb -x "$(deb_of "$p")" "$WORK/extract"; done
UNITDIR="$WORK/extract/lib/systemd/system"
for unit in "$UNITDIR"/*.service; do
  name=$(basename "$unit")
  content=$(<"$unit")
  for setting in User=d4 Group=d4 ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
                 Restart=on-failure RestartSec=5s 'RestartPreventExitStatus=2 78' PartOf=d4.target \
                 'ExecReload=/bin/kill -HUP $MAINPID'; do
    check "$name: $setting" has_line "$setting" "$content"
  done
  check "$name reads /etc/d4/d4.toml" matches '^ExecStart=/usr/bin/d4-[a-z-]* --config /etc/d4/d4.toml' "$content"
  # "+" and "!" run a command with full privileges, PermissionsStartOnly likewise: never root.
  check "$name: nothing runs as root" \
    none_matches -- '^(User=(root|0)$|Exec[A-Za-z]*=[-@:]*[+!]|PermissionsStartOnly=)' "$content"
  capabilities=$(grep -E '^(Ambient|CapabilityBounding)' <<<"$content" | LC_ALL=C sort -u | tr '\n' ' ')
  case "$name" in
    *-capture@.service)
      check "$name: capture by CAP_NET_RAW alone" [ "$capabilities" = \
        "AmbientCapabilities= AmbientCapabilities=CAP_NET_RAW CapabilityBoundingSet= CapabilityBoundingSet=CAP_NET_RAW " ] ;;
    *) check "$name: no capability" [ "$capabilities" = "AmbientCapabilities= CapabilityBoundingSet= " ] ;;
  esac
done
check "d4.target starts the server, a worker and the web interface" \
  grep -qx 'Wants=d4-server.service d4-worker@main.service d4-web.service' "$UNITDIR/d4.target"
for setting in 'data_dir = "/var/lib/d4"' 'tls_key = "/etc/d4/tls/server.key"' 'state_dir = "/var/lib/d4/web"'; do
  check "the installed configuration has $setting" grep -q "^$setting" "$WORK/extract/etc/d4/d4.toml"
done

# ---------------------------------------------------------------------------------------------
# Without packages: the system paths follow the prefix given to cmake --install, and an existing
# configuration is the operator's.
step "cmake --install --prefix /usr/local"
STAGE="$WORK/install"
rm -rf "$STAGE"
install_local() { DESTDIR="$STAGE" cmake --install "$BUILD" --prefix /usr/local >"$WORK/cmake-install.log" 2>&1; }
if install_local; then
  for exe in "$BUILD"/bin/d4-*; do
    case "$exe" in *-bench) continue ;; esac
    check "cmake --install installs $(basename "$exe")" [ -x "$STAGE/usr/local/bin/$(basename "$exe")" ]
  done
  for f in share/doc/d4/operations.md share/doc/d4/examples/d4.example.toml lib/systemd/system/d4.target \
           lib/sysusers.d/d4.conf; do
    check "cmake --install installs /usr/local/$f" [ -f "$STAGE/usr/local/$f" ]
  done
  check "the units run /usr/local/bin with /usr/local/etc/d4/d4.toml" grep -qx \
    'ExecStart=/usr/local/bin/d4-server --config /usr/local/etc/d4/d4.toml' "$STAGE/usr/local/lib/systemd/system/d4-server.service"
  check "the configuration's state is under /usr/local/var/lib/d4" \
    grep -q '^data_dir = "/usr/local/var/lib/d4"' "$STAGE/usr/local/etc/d4/d4.toml"
  echo "# changed by the operator" >>"$STAGE/usr/local/etc/d4/d4.toml"
  install_local || fail "a second cmake --install failed: $(tail -n 5 "$WORK/cmake-install.log")"
  check "a second cmake --install keeps the changed configuration" \
    grep -qx '# changed by the operator' "$STAGE/usr/local/etc/d4/d4.toml"
  pristine() { [ -f "$1" ] && ! grep -q 'changed by the operator' "$1"; }
  check "and writes the new one next to it" pristine "$STAGE/usr/local/etc/d4/d4.toml.new"
else
  fail "cmake --install --prefix /usr/local failed: $(tail -n 5 "$WORK/cmake-install.log")"
fi
rm -rf "$STAGE"

# ---------------------------------------------------------------------------------------------
step "example meta-Redis configuration; backup and restore as docs/operations.md says"
REDIS_DIR="$WORK/redis"
mkdir -p "$REDIS_DIR"
rcli() { redis-cli -s "$REDIS_DIR/sock" "$@"; }
start_redis() {  # the shipped configuration, on a Unix socket in REDIS_DIR; extra options override
  redis-server "$WORK/extract/usr/share/doc/d4/examples/redis-d4-meta.conf" --port 0 \
    --unixsocket "$REDIS_DIR/sock" --dir "$REDIS_DIR" --supervised no --daemonize no \
    --pidfile "$REDIS_DIR/pid" --logfile "$REDIS_DIR/log" "$@" &
  REDIS_PID=$!
  for _ in $(seq 100); do
    [ "$(rcli ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  return 1
}
redis_backup() { rcli --rdb "$REDIS_DIR/backup.rdb" >"$REDIS_DIR/backup.log" 2>&1; }
stop_redis() { rcli shutdown >/dev/null 2>&1; wait "$REDIS_PID" 2>/dev/null; }
aof_rewritten() {
  local info
  for _ in $(seq 100); do
    info=$(rcli info persistence | tr -d '\r')
    matches '^aof_rewrite_in_progress:0$' "$info" && matches '^aof_rewrite_scheduled:0$' "$info" &&
      matches '^aof_last_bgrewrite_status:ok$' "$info" && return 0
    sleep 0.1
  done
  return 1
}
if start_redis; then
  check "redis-d4-meta.conf: append-only" [ "$(rcli config get appendonly | tail -n 1)" = yes ]
  check "redis-d4-meta.conf: fsync every second" [ "$(rcli config get appendfsync | tail -n 1)" = everysec ]
  rcli set d4:test:string value >/dev/null
  rcli -n 2 rpush analyzer:8:test a b c >/dev/null
  check "backup with redis-cli --rdb" redis_backup
  rcli flushall >/dev/null
  stop_redis
  mv "$REDIS_DIR/d4-meta-appendonly" "$REDIS_DIR/d4-meta-appendonly.old"
  cp "$REDIS_DIR/backup.rdb" "$REDIS_DIR/d4-meta.rdb"
  start_redis --appendonly no || fail "redis-server does not start with the backup"
  check "the backup is loaded with the append-only file off" [ "$(rcli -n 2 llen analyzer:8:test)" = 3 ]
  rcli config set appendonly yes >/dev/null
  check "config set appendonly yes rewrites the append-only file" aof_rewritten
  stop_redis
  start_redis || fail "redis-server does not start from the rewritten append-only file"
  check "after a restart with the append-only file on, the restored data is there" \
    [ "$(rcli get d4:test:string)/$(rcli -n 2 llen analyzer:8:test)" = "value/3" ]
  stop_redis
else
  fail "redis-server does not start with redis-d4-meta.conf: $(tail -n 5 "$REDIS_DIR/log")"
  kill "$REDIS_PID" 2>/dev/null
fi

# ---------------------------------------------------------------------------------------------
# The clean root holds systemd (its targets, for systemd-analyze) and the packages' dependencies.
step "clean Debian root ($ROOT_KIND)"
ROOT="$WORK/root"
DEPENDENCIES=$(for p in $ALL_PACKAGES; do dep_names "$p"; done | grep -v '^d4-' | sort -u)
debootstrap_root() {
  # debootstrap fetches real packages: virtual names are replaced by the package that provides them.
  real_package() {
    if matches '^Package:' "$(apt-cache show --no-all-versions "$1" 2>/dev/null)"; then
      echo "$1"
    else
      apt-cache showpkg "$1" | awk '/^Reverse Provides:/ { found = 1; next } found && NF { print $1; exit }'
    fi
  }
  local includes suite base
  includes=$(for dep in $DEPENDENCIES; do real_package "$dep"; done | sort -u | tr '\n' ',')
  includes="systemd,${includes%,}"
  suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
  base="$CACHE/root-$suite-$(echo "$includes $MIRROR" | sha256sum | cut -c1-16).tar"
  if [ ! -f "$base" ]; then
    echo "debootstrap $suite from $MIRROR with: $includes"
    rm -rf "$CACHE/bootstrap"
    debootstrap --variant=minbase --include="$includes" "$suite" "$CACHE/bootstrap" "$MIRROR" \
      >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -n 20 "$CACHE/debootstrap.log"; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    tar -C "$CACHE/bootstrap" -cf "$base.tmp" . && mv "$base.tmp" "$base"
    rm -rf "$CACHE/bootstrap"
  fi
  mkdir -p "$ROOT"
  tar -C "$ROOT" -xf "$base" || die "cannot unpack $base"
}
if [ "$ROOT_KIND" = host ]; then
  # shellcheck disable=SC2086
  python3 "$SOURCE/tests/packaging/host_root.py" "$ROOT" systemd $DEPENDENCIES ||
    die "cannot make the clean root from this machine's packages"
else
  debootstrap_root
fi
mkdir -p "$ROOT/tmp/debs"
for p in $ALL_PACKAGES; do cp "$(deb_of "$p")" "$ROOT/tmp/debs/"; done
in_root() { chroot "$ROOT" "$@"; }
D4_UID="" D4_GID=""
as_d4() { chroot --userspec="$D4_UID:$D4_GID" "$ROOT" "$@"; }

step "installing every package into the clean root"
in_root sh -c 'dpkg -i /tmp/debs/*.deb' >"$WORK/dpkg-install.log" 2>&1 ||
  { cat "$WORK/dpkg-install.log"; die "dpkg -i failed in the clean root"; }
for p in $ALL_PACKAGES; do
  check "$p is installed" [ "$(in_root dpkg-query -W -f='${Status}' "$p")" = "install ok installed" ]
done
check "the d4 system user exists, with no login shell" \
  matches ':/var/lib/d4:/usr/sbin/nologin$' "$(in_root getent passwd d4)"
D4_UID=$(in_root id -u d4)
D4_GID=$(in_root id -g d4)
check "the d4 user is a system user (uid $D4_UID)" [ "$D4_UID" -lt 1000 ]
mode() { in_root stat -c '%a %U:%G' "$1"; }
expect_mode() { check "$1 is $2" [ "$(mode "$1")" = "$2" ]; }
expect_mode /etc/d4 "750 root:d4"
expect_mode /etc/d4/d4.toml "640 root:d4"
expect_mode /etc/d4/tls "750 root:d4"
expect_mode /etc/d4/tls/server.key "640 root:d4"
expect_mode /var/lib/d4 "750 d4:d4"
expect_mode /var/lib/d4/web "750 d4:d4"
expect_mode /var/log/d4 "750 d4:d4"
check "nothing of D4 is enabled" [ -z "$(find "$ROOT/etc/systemd/system" -name 'd4*')" ]
# A file the installed configuration names under /usr comes from a package that one of ours
# depends on (e.g. the IPFIX element registry of [workers] ipfix_registry_files).
for path in $(grep -oE '"/usr/[^"]+"' "$ROOT/etc/d4/d4.toml" | tr -d '"' | sort -u); do
  check "$path, named by /etc/d4/d4.toml, is installed" [ -e "$ROOT$path" ]
done
check "the generated certificate and key form a pair" \
  [ "$(in_root openssl x509 -noout -pubkey -in /etc/d4/tls/server.crt)" = \
    "$(in_root openssl pkey -pubout -in /etc/d4/tls/server.key)" ]

step "the executables in the clean root"
# Every executable prints the build's one version (docs/configuration.md#exit-statuses); running at
# all shows that the root holds every library it loads.
for exe in "$ROOT"/usr/bin/d4-*; do
  name=$(basename "$exe")
  out=$(in_root "/usr/bin/$name" --version 2>&1)
  check "$name --version prints $VERSION ($out)" matches "^$name $VERSION( |$)" "$out"
done
# The installed configuration as the d4 user (the units' user, who reads it through its group),
# and a broken copy that must be refused with the configuration status (78).
cp "$ROOT/etc/d4/d4.toml" "$ROOT/tmp/broken.toml"
printf '[server\nlisten = \n' >>"$ROOT/tmp/broken.toml"
chmod 0644 "$ROOT/tmp/broken.toml"
for name in $DAEMONS; do
  out=$(as_d4 "/usr/bin/$name" --config /etc/d4/d4.toml --check-config 2>&1)
  rc=$?
  if [ "$name" = d4-misp-feed ]; then
    # Enabled by the operator only: it needs the publishing organisation, which no default names.
    check "$name --check-config asks for [sharing.misp] org_name and org_uuid (exit $rc: $out)" \
      [ $rc = 78 ] && check "$name names the missing settings" matches 'org_name and .*org_uuid' "$out"
  else
    check "$name --check-config of /etc/d4/d4.toml as the d4 user (exit $rc: $out)" [ $rc = 0 ]
  fi
  out=$(as_d4 "/usr/bin/$name" --config /tmp/broken.toml --check-config 2>&1)
  rc=$?
  check "$name --check-config refuses a broken file (exit $rc: $out)" [ $rc = 78 ]
done

step "the services started from their units in the clean root"
# As systemd would start them, without its sandbox: the unit's User, UMask, capabilities,
# EnvironmentFile and specifiers, its ExecStartPre then ExecStart, the installed configuration with
# only what an operator sets (the Redis servers, the analyzers' queues) and port 0 for listeners;
# then SIGTERM, as `systemctl stop` sends it.
RUN="$ROOT/run/d4-test"
mkdir -p "$RUN"
redis_pids=""
for role in stream meta; do
  redis-server --port 0 --unixsocket "$RUN/$role.sock" --unixsocketperm 777 --save '' --appendonly no \
    --dir "$RUN" --logfile "$RUN/redis-$role.log" &
  redis_pids="$redis_pids $!"
done
for role in stream meta; do
  for _ in $(seq 100); do [ "$(redis-cli -s "$RUN/$role.sock" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
done
CONFIG="$ROOT/etc/d4/d4.toml"
set_toml() {  # set_toml SECTION KEY VALUE: the one "KEY = ..." line of [SECTION] of the configuration
  awk -v section="$1" -v key="$2" -v value="$3" '
    /^\[/ { current = substr($0, 2, index($0, "]") - 2) }
    current == section && $0 ~ "^" key " *=" && !done { print key " = " value; done = 1; next }
    { print }
    END { exit !done }' "$CONFIG" >"$CONFIG.edit" && cat "$CONFIG.edit" >"$CONFIG" && rm -f "$CONFIG.edit" ||
    fail "no $2 in [$1] of /etc/d4/d4.toml"
}
Q_PDNS=11111111-1111-4111-8111-111111111111 Q_PIBS=22222222-2222-4222-8222-222222222222
Q_TLS=33333333-3333-4333-8333-333333333333 Q_EXPORT=44444444-4444-4444-8444-444444444444
set_toml redis stream '"unix:/run/d4-test/stream.sock/0"'
set_toml redis meta '"unix:/run/d4-test/meta.sock/0"'
set_toml server listen '["127.0.0.1:0"]'
set_toml server metrics_listen '"127.0.0.1:0"'
set_toml web listen '"127.0.0.1:0"'
set_toml analyzers.pdns listen '"127.0.0.1:0"'
set_toml analyzers.pdns backend '"unix:/run/d4-test/meta.sock/5"'
set_toml analyzers.pdns queue "\"$Q_PDNS\""
set_toml analyzers.pibs queue "\"$Q_PIBS\""
set_toml analyzers.tls listen '"127.0.0.1:0"'
set_toml analyzers.tls storage '"unix:/run/d4-test/meta.sock/6"'
set_toml analyzers.tls queue "\"$Q_TLS\""
create_queues() {  # once d4-server has written the accepted types
  for q in "$Q_PDNS 8" "$Q_PIBS 1" "$Q_TLS ja3-jl" "$Q_EXPORT 8"; do
    set -- $q
    out=$(as_d4 /usr/bin/d4-queue --config /etc/d4/d4.toml create --id "$1" -t "$2" -d "packaging test" 2>&1) ||
      fail "d4-queue create -t $2: $out"
  done
  redis-cli -s "$RUN/meta.sock" -n 2 rpush "analyzer:8:$Q_EXPORT" exported-by-the-unit >/dev/null
  echo "D4_EXPORT_TO=file:/var/log/d4/export-test.log" >"$ROOT/etc/d4/export-$Q_EXPORT.env"
}

unit_setting() { sed -n "s/^$2=//p" "$ROOT/lib/systemd/system/$1" | tail -n 1; }
# start_unit UNIT [CAPS]: runs the unit's ExecStartPre (must succeed), then its ExecStart in the
# background, logging to $RUN/UNIT.log; CAPS overrides the unit's ambient capabilities ("none").
# Sets UNIT_PID.
start_unit() {
  local unit=$1 instance="" file caps priv pre line envfile
  case "$unit" in *@*) instance=${unit#*@}; instance=${instance%.service}; file=${unit%%@*}@.service ;; *) file=$unit ;; esac
  caps=${2:-$(unit_setting "$file" AmbientCapabilities | tr 'A-Z' 'a-z' | sed 's/cap_//g')}
  priv="--reuid=$(unit_setting "$file" User) --regid=$(unit_setting "$file" Group) --init-groups --no-new-privs"
  if [ -n "$caps" ] && [ "$caps" != none ]; then
    priv="$priv --inh-caps=+$caps --ambient-caps=+$caps --bounding-set=-all,+$caps"
  else
    priv="$priv --bounding-set=-all"
  fi
  specifiers() { sed -e "s/%[iI]/$instance/g" -e "s/%H/$(uname -n)/g"; }
  envfile=$(unit_setting "$file" EnvironmentFile | sed 's/^-//' | specifiers)
  # systemd reads the environment file and expands the variables before dropping privileges.
  run() {
    exec chroot "$ROOT" sh -c "umask $(unit_setting "$file" UMask); set -a; [ -z '$envfile' ] || [ ! -f '$envfile' ] ||
                          . '$envfile'; set +a; exec setpriv $priv -- $1"
  }
  pre=$(unit_setting "$file" ExecStartPre | specifiers)
  if [ -n "$pre" ] && ! (run "$pre") >"$RUN/$unit.pre.log" 2>&1; then
    fail "$unit: ExecStartPre failed: $(cat "$RUN/$unit.pre.log")"
  fi
  line=$(unit_setting "$file" ExecStart | specifiers)
  run "$line" >"$RUN/$unit.log" 2>&1 &
  UNIT_PID=$!
}
wait_for_log() {  # wait_for_log FILE REGEX PID: the line appears while PID runs (30 s at most)
  for _ in $(seq 300); do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { grep -qE -- "$2" "$1" 2>/dev/null; return; }
    sleep 0.1
  done
  return 1
}
reap() {  # reap PID: sets STATUS to its exit status once it ends (30 s at most; "hung" if it does not)
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then
    kill -KILL "$1"
    wait "$1" 2>/dev/null
    STATUS=hung
  else
    wait "$1"
    STATUS=$?
  fi
}
# unit | what its log shows once it runs
SERVICES="d4-server.service|ready: mode registration
d4-worker@main.service|d4-worker $(uname -n)-main serving types
d4-web.service|listening on 127\.0\.0\.1:[0-9]+ \(web interface
d4-pdns-serve.service|query API on 127\.0\.0\.1:[0-9]+
d4-passivessl-serve.service|query API on 127\.0\.0\.1:[0-9]+
d4-pdns-ingest.service|consuming analyzer:8:$Q_PDNS
d4-pibs.service|consuming analyzer:1:$Q_PIBS
d4-passivessl-ingest.service|consuming analyzer:ja3-jl:$Q_TLS
d4-export@$Q_EXPORT.service|exporting analyzer:8:$Q_EXPORT
d4-alerts.service|d4-alerts evaluating every
d4-pdns-capture@lo.service|capturing on lo
d4-pibs-capture@lo.service|capturing on lo"
# Live capture on lo needs CAP_NET_RAW in this test's own bounding set (containers have it by default).
if (( (0x$(awk '/^CapBnd:/ { print $2 }' /proc/self/status) >> 13) & 1 )); then
  CAPTURE=yes
else
  CAPTURE=no
  note "no CAP_NET_RAW here: the capture units are not started"
  SERVICES=$(grep -v 'capture@' <<<"$SERVICES")
fi
declare -A PIDS
stop_services() {  # whatever happens to the test, nothing it started keeps running
  for pid in "${PIDS[@]}" $redis_pids; do kill -KILL "$pid" 2>/dev/null; done
}
trap stop_services EXIT
# d4-server first: the analyzers' queues need the accepted types it writes at its first start.
IFS='|' read -r unit ready <<<"$SERVICES"
start_unit "$unit"
PIDS[$unit]=$UNIT_PID
wait_for_log "$RUN/$unit.log" "$ready" "$UNIT_PID" && create_queues
while IFS='|' read -r unit ready; do
  start_unit "$unit"
  PIDS[$unit]=$UNIT_PID
done < <(tail -n +2 <<<"$SERVICES")
process_uid() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
while IFS='|' read -r unit ready; do
  pid=${PIDS[$unit]}
  if wait_for_log "$RUN/$unit.log" "$ready" "$pid"; then
    check "$unit runs, as the d4 user" [ "$(process_uid "$pid")" = "$D4_UID" ]
  else
    fail "$unit does not run: $(tail -n 3 "$RUN/$unit.log")"
  fi
done <<<"$SERVICES"
exported() { for _ in $(seq 100); do grep -qx exported-by-the-unit "$ROOT/var/log/d4/export-test.log" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
check "d4-export@ delivered the queue's element to /var/log/d4" exported
expect_mode /var/log/d4/export-test.log "640 d4:d4"
kill -TERM "${PIDS[@]}"
while IFS='|' read -r unit ready; do
  reap "${PIDS[$unit]}"
  check "$unit stops on SIGTERM with status 0 (status $STATUS)" [ "$STATUS" = 0 ]
done <<<"$SERVICES"
# Capture needs CAP_NET_RAW: without the capability the unit grants, it is refused.
for unit in d4-pdns-capture@lo.service d4-pibs-capture@lo.service; do
  [ "$CAPTURE" = yes ] || break
  start_unit "$unit" none
  reap "$UNIT_PID"
  check "$unit without CAP_NET_RAW fails (status $STATUS)" [ "$STATUS" != 0 -a "$STATUS" != hung ]
  check "$unit without CAP_NET_RAW says why" grep -q 'Operation not permitted' "$RUN/$unit.log"
done
for pid in $redis_pids; do kill "$pid"; wait "$pid" 2>/dev/null; done
trap - EXIT
rm -rf "$RUN" "$ROOT/etc/d4/export-$Q_EXPORT.env"

step "systemd-analyze on the installed units"
# Offline, against the root: no systemd as PID 1 needed (no bus, no running manager), so it works
# in a container. A broken copy of a unit shows that verify does report problems here.
verify() { systemd-analyze verify --root="$ROOT" --man=no --generators=no "$1" 2>&1; }
sed -e 's|^ExecStart=/usr/bin/d4-server|ExecStart=/usr/bin/d4-missing|' -e 's|^NoNewPrivileges=yes|NoNewPrivilege=yes|' \
  "$ROOT/lib/systemd/system/d4-server.service" >"$ROOT/etc/systemd/system/d4-broken.service"
out=$(verify d4-broken.service)
check "systemd-analyze verify reports an unknown setting" matches "Unknown key .NoNewPrivilege. in section \\[Service\\]" "$out"
check "systemd-analyze verify reports a missing executable" matches 'd4-missing' "$out"
rm -f "$ROOT/etc/systemd/system/d4-broken.service"
UNITS="d4.target d4-server.service d4-worker@main.service d4-web.service d4-pdns-ingest.service
       d4-pdns-serve.service d4-pdns-capture@eth0.service d4-pibs.service d4-pibs-capture@eth0.service
       d4-passivessl-ingest.service d4-passivessl-serve.service d4-misp-feed.service
       d4-export@4d1e0c40-7c2f-4a52-9a0a-5f1bd8a3c0e1.service d4-alerts.service"
for unit in $UNITS; do
  out=$(verify "$unit")
  check "systemd-analyze verify $unit${out:+: $out}" [ -z "$out" ]
  [ "$unit" = d4.target ] && continue
  # Exposure 2.0 at most ("OK"; 10 is a fully exposed service).
  out=$(systemd-analyze security --offline=yes --root="$ROOT" --threshold=20 --no-pager "$unit" 2>&1)
  rc=$?
  check "systemd-analyze security: $(echo "$out" | tail -n 1 | sed 's/^→ //')" [ $rc = 0 ]
done

step "re-installation keeps a changed configuration, the key pair and the modes"
echo "# changed by the operator" >>"$ROOT/etc/d4/d4.toml"
key_before=$(sha256sum <"$ROOT/etc/d4/tls/server.key")
in_root sh -c 'dpkg -i --force-confold /tmp/debs/*.deb' >"$WORK/dpkg-reinstall.log" 2>&1 ||
  { cat "$WORK/dpkg-reinstall.log"; fail "re-installation failed"; }
check "the operator's change to d4.toml is kept" grep -qx '# changed by the operator' "$ROOT/etc/d4/d4.toml"
check "the TLS key is not regenerated" [ "$(sha256sum <"$ROOT/etc/d4/tls/server.key")" = "$key_before" ]
expect_mode /etc/d4/d4.toml "640 root:d4"

step "purge"
in_root dpkg --purge $(echo "$ALL_PACKAGES" | tr ' ' '\n' | tac | tr '\n' ' ') >"$WORK/dpkg-purge.log" 2>&1 ||
  { cat "$WORK/dpkg-purge.log"; fail "purge failed"; }
check "purge removes /etc/d4" [ ! -e "$ROOT/etc/d4" ]
check "purge removes /var/log/d4" [ ! -e "$ROOT/var/log/d4" ]
check "purge removes the executables" [ -z "$(find "$ROOT/usr/bin" -name 'd4-*')" ]
check "purge removes the permission overrides" none_matches -- /etc/d4 "$(in_root dpkg-statoverride --list)"

echo
if [ "$FAILURES" = 0 ]; then
  rm -rf "$ROOT" "$WORK/extract"
  echo "packaging: all checks passed (${SECONDS}s)"
  exit 0
fi
echo "packaging: $FAILURES check(s) failed (${SECONDS}s); the clean root is kept in $ROOT"
exit 1
