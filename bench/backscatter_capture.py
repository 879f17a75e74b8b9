#!/usr/bin/env python3
# Synthetic backscatter for bench/web_backscatter.sh: N IPv4 victims (10.x.y.z), each answering
# 3 spoofed SYNs (SYN-ACK from port 80/443/53) at times spread over the last two hours; raw-IP
# pcap (linktype 101).
#   backscatter_capture.py N OUT.pcap
import struct, sys, time, random
n = int(sys.argv[1]); out = sys.argv[2]
random.seed(1)
now = int(time.time())
pk = []
for i in range(n):
    src = bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
    base = now - random.randint(0, 7200)
    for k in range(3):
        sport = (80, 443, 53)[k % 3]
        pk.append((base + k * 20, src, sport))
pk.sort()
with open(out, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))
    for ts, src, sport in pk:
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, 0, 0, 64, 6, 0, src, bytes([100, 64, 0, 1]))
        tcp = struct.pack('!HHIIBBHHH', sport, 40000, 1, 1, 5 << 4, 0x12, 65535, 0, 0)
        frame = ip + tcp
        f.write(struct.pack('<IIII', ts, 0, len(frame), len(frame)) + frame)
