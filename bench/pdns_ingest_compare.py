#!/usr/bin/env python3
"""Passive DNS ingestion into a real redis-server: several d4-pdns builds or settings, interleaved in
one run (the shared machine is noisy, so only figures taken side by side are compared), plus the
ceiling of Redis itself for the same command mix (redis-cli --pipe of the exact commands d4-pdns
sends for those records).

Each run gets a fresh redis-server (no persistence) and reports wall time, observations/s, the
CPU of d4-pdns and the CPU the store's redis-server spent (INFO cpu), per record.

Usage:
  bench/pdns_ingest_compare.py [--records N] [--repeats R] [--rounds K] [--unix]
                               [--queue-batch B [--queue-apart]] [--pipe-ceiling]
                               LABEL=BINARY[,key=value...] ...
  e.g. bench/pdns_ingest_compare.py --records 1000000 --rounds 2 --pipe-ceiling \\
         old=/tmp/d4-pdns-old new=build/bin/d4-pdns new-b500=build/bin/d4-pdns,batch_records=500
key=value pairs become [analyzers.pdns] settings of that variant.
"""
import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from pdns_records import generate  # bench/ is on sys.path when run as a script

TYPES = {"A": "1", "AAAA": "28", "CNAME": "5", "TXT": "16"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p




def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def generate_resp(csv_path, path):
    """The five commands d4-pdns sends per distinct record (first observation wins the order)."""
    seen = {}
    with open(csv_path) as f:
        for line in f:
            p = line.rstrip("\n").split("||")
            ts = int(p[0].split(".")[0])
            q, t, v = p[4].rstrip(".").lower(), TYPES[p[5]], p[6]
            if t == "5":
                v = v.rstrip(".")
            key = (q, v, t)
            if key in seen:
                a = seen[key]
                a[0], a[1], a[2] = min(a[0], ts), max(a[1], ts), a[2] + 1
            else:
                seen[key] = [ts, ts, 1]
    with open(path, "wb") as o:
        for (q, v, t), (first, last, count) in seen.items():
            o.write(resp("SADD", f"r:{q}:{t}", v) + resp("SADD", f"v:{v}:{t}", q) +
                    resp("SET", f"s:{q}:{v}:{t}", str(first), "NX", "GET") +
                    resp("SET", f"l:{q}:{v}:{t}", str(last), "GET", "KEEPTTL") +
                    resp("INCRBY", f"o:{q}:{v}:{t}", str(count)))
    return len(seen)


class Redis:
    def __init__(self, tmp, unix):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(dir=tmp)
        self.sock = os.path.join(self.dir, "redis.sock") if unix else None
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "log")]
        if self.sock:
            args += ["--unixsocket", self.sock, "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(args)
        for _ in range(200):
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout == b"PONG\n":
                break
            time.sleep(0.05)

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                              text=True).stdout

    def cpu(self):
        info = dict(l.split(":", 1) for l in self.cli("info", "cpu").splitlines() if ":" in l)
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def endpoint(self):
        return f"unix:{self.sock}/0" if self.sock else f"127.0.0.1:{self.port}/0"

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def queue_resp(csv_path, path):
    """LPUSHes of every line into analyzer:8:bench on db 2, as the D4 server feeds the queue."""
    key = b"analyzer:8:bench"
    with open(csv_path, "rb") as f, open(path, "wb") as out:
        out.write(b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n")
        for line in f:
            v = line.rstrip(b"\n")
            out.write(b"*3\r\n$5\r\nLPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(v), v))


def run_variant(tmp, label, spec, csv_path, n, unix, queue_batch=0, queue_apart=False):
    binary, *settings = spec.split(",")
    cfg = os.path.join(tmp, f"{label}.toml")
    with open(cfg, "w") as f:
        f.write("[analyzers.pdns]\n")
        for s in settings:
            k, v = s.split("=", 1)
            f.write(f"{k} = {v if v.isdigit() or v in ('true', 'false') else repr(v)}\n")
    redis = Redis(tmp, unix)
    queues = Redis(tmp, unix) if queue_batch and queue_apart else redis
    try:
        if queue_batch:
            with open(csv_path + ".resp", "rb") as f:
                subprocess.run(["redis-cli", "-p", str(queues.port), "--pipe"], stdin=f,
                               stdout=subprocess.DEVNULL, check=True)
            what = ["ingest", "-u", "bench", "--analyzer-redis", queues.endpoint()[:-1] + "2", "--exit-when-empty",
                    "--consumer", "bench", "--batch", str(queue_batch)]
        else:
            what = ["csv", csv_path]
        c0, r0, t0 = children_cpu(), redis.cpu(), time.monotonic()
        subprocess.run([binary, "-c", cfg, "--backend", redis.endpoint(), "--log-level", "warn", *what], check=True)
        t1, r1, c1 = time.monotonic(), redis.cpu(), children_cpu()
        processed = int(redis.cli("get", "stats:processed") or 0)
        if processed != n:
            sys.exit(f"{label}: stats:processed {processed} != {n}")
        return t1 - t0, c1 - c0, r1 - r0
    finally:
        redis.close()
        if queues is not redis:
            queues.close()


def run_pipe(tmp, resp_path, unix):
    redis = Redis(tmp, unix)
    try:
        r0, t0 = redis.cpu(), time.monotonic()
        args = ["redis-cli", "-s", redis.sock] if unix else ["redis-cli", "-p", str(redis.port)]
        with open(resp_path, "rb") as f:
            subprocess.run(args + ["--pipe"], stdin=f, stdout=subprocess.DEVNULL, check=True)
        t1, r1 = time.monotonic(), redis.cpu()
        return t1 - t0, 0.0, r1 - r0
    finally:
        redis.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--unix", action="store_true", help="connect through a unix socket")
    ap.add_argument("--queue-batch", type=int, default=0,
                    help="read the records from the analyzer queue (db 2) in batches of this many "
                         "elements instead of the CSV file")
    ap.add_argument("--queue-apart", action="store_true",
                    help="the analyzer queue on a second redis-server, as in production (the D4 "
                         "server's Redis), instead of db 2 of the store's server")
    ap.add_argument("--pipe-ceiling", action="store_true",
                    help="also time redis-cli --pipe with the same commands (Redis alone)")
    ap.add_argument("variants", nargs="+", help="LABEL=BINARY[,key=value...]")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pdns-bench-")
    try:
        csv_path = os.path.join(tmp, "records.csv")
        generate(csv_path, a.records, a.repeats)
        if a.queue_batch:
            queue_resp(csv_path, csv_path + ".resp")
        variants = [v.split("=", 1) for v in a.variants]
        distinct = None
        if a.pipe_ceiling:
            resp_path = os.path.join(tmp, "records.resp")
            distinct = generate_resp(csv_path, resp_path)
            variants.append(["redis-cli --pipe", None])
        print(f"{a.records} observations ({a.records // a.repeats} distinct), {a.rounds} rounds, "
              f"{'unix socket' if a.unix else 'TCP loopback'}, "
              f"{f'analyzer queue, batch {a.queue_batch}' if a.queue_batch else 'CSV file'}"
              f"{' on its own redis-server' if a.queue_apart else ''}, load {os.getloadavg()[0]:.1f}")
        results = {label: [] for label, _ in variants}
        for rnd in range(a.rounds):
            order = variants if rnd % 2 == 0 else list(reversed(variants))
            for label, spec in order:
                if spec is None:
                    r = run_pipe(tmp, resp_path, a.unix)
                else:
                    r = run_variant(tmp, label, spec, csv_path, a.records, a.unix, a.queue_batch, a.queue_apart)
                results[label].append(r)
                print(f"  round {rnd + 1} {label:>18}: {a.records / r[0]:>9,.0f} obs/s  wall {r[0]:6.2f} s  "
                      f"client cpu {r[1]:5.2f} s  redis cpu {r[2]:5.2f} s "
                      f"({r[2] / a.records * 1e6:.1f} us/obs)  load {os.getloadavg()[0]:.1f}", flush=True)
        print("best of rounds:")
        for label, _ in variants:
            best = min(results[label], key=lambda r: r[0])
            print(f"  {label:>18}: {a.records / best[0]:>9,.0f} obs/s  (wall {best[0]:.2f} s, client cpu "
                  f"{best[1]:.2f} s, redis cpu {best[2]:.2f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
