#!/usr/bin/env python3
"""Synthetic passivedns CSV for the passive DNS benchmarks: N observations of N/R distinct records
(70% A, 10% AAAA, 10% CNAME, 10% TXT), each seen R times, timestamps spread over a day.

Usage: bench/pdns_records.py N OUT.csv [R=1]
"""
import sys


def generate(path, n, repeats):
    distinct = max(1, n // repeats)
    with open(path, "w") as f:
        for j in range(n):
            i = j % distinct
            ts = 1700000000 + (j * 86400) // n
            name = f"host{i}.zone{i % 1000}.example"
            k = i % 10
            if k < 7:
                t, v = "A", f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
            elif k == 7:
                t, v = "AAAA", f"2001:db8::{i >> 16:x}:{i & 0xffff:x}"
            elif k == 8:
                t, v = "CNAME", f"edge{i % 5000}.cdn.example."
            else:
                t, v = "TXT", f"v=spf1 include:_spf{i}.example -all"
            f.write(f"{ts}.000000||192.0.2.1||198.51.100.53||IN||{name}.||{t}||{v}||300||1\n")


if __name__ == "__main__":
    generate(sys.argv[2], int(sys.argv[1]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
