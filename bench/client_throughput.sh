#!/usr/bin/env bash
# Encapsulation throughput of d4-client, whole process, stdin -> stdout, on a 100 MB pcap built
# from the test vectors, at snaplen 4096 (type 1), with baselines measured in the same run:
#   cat                      the I/O ceiling (same redirections)
#   openssl dgst -hmac       the HMAC-SHA256 ceiling (one core, one pass over the file)
#   d4encode.py (optional)   an independent encoder, when D4ENCODE=/path/to/d4encode.py is set
# The client's output is checked (every HMAC verified, payloads == input) before timing.
#
# usage: bench/client_throughput.sh [path/to/d4-client] [MB] [runs]
#   default client: build-client/bin/d4-client, then build/bin/d4-client; MB=100; runs=5
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
client=${1:-}
if [[ -z "$client" ]]; then
  for c in "$root/build-client/bin/d4-client" "$root/build/bin/d4-client"; do
    [[ -x "$c" ]] && client=$c && break
  done
fi
[[ -x "${client:-}" ]] || { echo "d4-client binary not found; build it or pass its path" >&2; exit 2; }
mb=${2:-100}
runs=${3:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/d4-client-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Input: libpcap 2.4 stream of mb*10^6 bytes made of the vector captures' records.
python3 - "$root/tests/data/vectors" "$work/big.pcap" "$mb" <<'PY'
import struct, sys
vec, out, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
recs = []
for name in ('dns.pcap', 'backscatter.pcap', 'tls.pcap'):
    d = open(f'{vec}/{name}', 'rb').read(); o = 24
    while o + 16 <= len(d):
        incl = struct.unpack('<I', d[o+8:o+12])[0]; recs.append(d[o+16:o+16+incl]); o += 16 + incl
with open(out, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    total = i = 0
    while total < mb * 1000000:
        r = recs[i % len(recs)]
        f.write(struct.pack('<IIII', 1700000000 + i // 1000, i % 1000000, len(r), len(r))); f.write(r)
        total += 16 + len(r); i += 1
PY
bytes=$(stat -c %s "$work/big.pcap")

conf=$work/conf
mkdir -p "$conf"
echo 8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01 > "$conf/uuid"
printf 'd4-test-key' > "$conf/key"
echo 1 > "$conf/type"
echo 4096 > "$conf/snaplen"

# Correctness first: parse the whole output, verify every HMAC, compare the payloads with the input.
"$client" -c "$conf" -q -q < "$work/big.pcap" > "$work/out.d4"
python3 - "$work/out.d4" "$work/big.pcap" <<'PY'
import hashlib, hmac, struct, sys
data = open(sys.argv[1], 'rb').read(); inp = open(sys.argv[2], 'rb').read()
o = n = 0; pay = []
while o + 62 <= len(data):
    size = struct.unpack('<I', data[o+58:o+62])[0]
    pkt = data[o:o+26] + b'\0' * 32 + data[o+58:o+62+size]
    assert hmac.compare_digest(hmac.new(b'd4-test-key', pkt, hashlib.sha256).digest(), data[o+26:o+58]), n
    assert size <= 4096
    pay.append(data[o+62:o+62+size]); o += 62 + size; n += 1
assert o == len(data) and b''.join(pay) == inp and len(pay[-1]) == 0
print(f"output verified: {n} packets, {len(inp)} payload bytes, every HMAC correct")
PY
rm -f "$work/out.d4"

# Best and median wall time of `runs` runs of a shell command line, and the CPU time (user + sys,
# all processes of the command line) of the best run. CPU time is less sensitive to other load on
# the machine than wall time.
have_time=0
[[ -x /usr/bin/time ]] && have_time=1
measure() {
  local name=$1 cmd=$2 times=() cpus=()
  for ((i = 0; i < runs; i++)); do
    local s e cpu=0
    s=$(date +%s%N)
    if ((have_time)); then
      /usr/bin/time -f '%U %S' -o "$work/time.txt" bash -c "$cmd"
      cpu=$(awk '{ printf "%d", ($1 + $2) * 1000 }' "$work/time.txt")
    else
      bash -c "$cmd"
    fi
    e=$(date +%s%N)
    times+=("$(( (e - s) / 1000 )) $cpu")
  done
  local sorted best med bestcpu
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  best=$(sed -n 1p <<< "$sorted" | cut -d' ' -f1)
  bestcpu=$(sed -n 1p <<< "$sorted" | cut -d' ' -f2)
  med=$(sed -n "$((runs / 2 + 1))p" <<< "$sorted" | cut -d' ' -f1)
  awk -v n="$name" -v b="$bytes" -v best="$best" -v med="$med" -v cpu="$bestcpu" 'BEGIN {
    printf "%-44s %8.1f MB/s best (%6.1f ms)  %8.1f MB/s median  cpu %5d ms\n", n, b / best, best / 1000, b / med, cpu }'
}

echo "input: $bytes bytes of pcap, snaplen 4096, type 1, $runs runs each, $(nproc) CPUs"
echo "client: $client"
p=$work/big.pcap
measure "cat < in > /dev/null" "cat < '$p' > /dev/null"
measure "d4-client < in > /dev/null" "'$client' -c '$conf' -q -q < '$p' > /dev/null"
measure "cat in | cat | cat > /dev/null" "cat '$p' | cat | cat > /dev/null"
measure "cat in | d4-client | cat > /dev/null" "cat '$p' | '$client' -c '$conf' -q -q | cat > /dev/null"
measure "openssl dgst -sha256 -hmac (HMAC ceiling)" "openssl dgst -sha256 -hmac d4-test-key '$p' > /dev/null"
if [[ -n "${D4ENCODE:-}" && -f "${D4ENCODE}" ]]; then
  runs_saved=$runs; runs=1
  measure "d4encode.py (independent Python encoder)" \
    "python3 '$D4ENCODE' d4-test-key 8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01 1 4096 '$p' '$work/py.d4'"
  runs=$runs_saved
fi
