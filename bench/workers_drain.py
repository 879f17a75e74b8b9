#!/usr/bin/python3
"""Times d4-worker draining session streams filled exactly like d4-server fills them.

usage: workers_drain.py BIN_DIR TYPE MEGABYTES [--sessions N] [--packet 4096] [--compression gzip|zstd|none]
                        [--queue] [--keep]

TYPE 1 builds a libpcap stream from tests/data/vectors/dns.pcap (records repeated); TYPE 8 a
passivedns CSV from dns.passivedns.csv (lines repeated, made unique). The data is cut into
PACKET-byte payloads and XADDed to stream:<type>:<session> with explicit ids (fields message,
uuid, timestamp, version), the sessions are registered in session_uuid:<type> and marked ended;
then d4-worker is started and timed until every session is cleaned up. With --queue an analyzer
queue of the type receives the output (file paths for type 1, one element per line for type 8).
Needs redis-server and python3-redis. Prints MB/s and records/s."""
import argparse, os, shutil, socket, subprocess, sys, tempfile, time
import redis

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, '..', 'tests', 'data', 'vectors')
SENSOR = '8bd5b2b23c8a4a399a5e1a4f1f2b7c01'


def free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p


def build_stream(type_, size):
    if type_ == 1:
        pcap = open(os.path.join(VECTORS, 'dns.pcap'), 'rb').read()
        header, records = pcap[:24], pcap[24:]
        n = max(1, size // len(records))
        return header + records * n, 120 * n
    lines = open(os.path.join(VECTORS, 'dns.passivedns.csv'), 'rb').read().splitlines()
    out, count, i = [], 0, 0
    total = 0
    while total < size:
        line = lines[i % len(lines)].replace(b'||300||', b'||%d||' % (i % 100000))
        out.append(line); total += len(line) + 1; i += 1
    return b'\n'.join(out) + b'\n', len(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('bin_dir'); ap.add_argument('type', type=int); ap.add_argument('megabytes', type=int)
    ap.add_argument('--sessions', type=int, default=4); ap.add_argument('--packet', type=int, default=4096)
    ap.add_argument('--compression', default='gzip'); ap.add_argument('--queue', action='store_true')
    ap.add_argument('--threads-per-type', type=int, default=1); ap.add_argument('--keep', action='store_true')
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='d4-drain-')
    port = free_port()
    redis_proc = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                                   '--appendonly', 'no', '--dir', tmp, '--logfile', os.path.join(tmp, 'redis.log')])
    try:
        r = redis.Redis(port=port)
        for _ in range(100):
            try:
                r.ping(); break
            except redis.ConnectionError:
                time.sleep(0.05)
        data, records_per_session = build_stream(a.type, a.megabytes * 1_000_000 // a.sessions)
        if a.queue:
            subprocess.run([os.path.join(a.bin_dir, 'd4-queue'), '--meta', f'127.0.0.1:{port}/0', '--analyzer',
                            f'127.0.0.1:{port}/2', 'create', '-t', str(a.type), '--force'], check=True,
                           stdout=subprocess.DEVNULL)
        sessions = []
        for s in range(a.sessions):
            session = f'00000000-0000-4000-8000-{s:012d}'
            sessions.append(session)
            p = r.pipeline(transaction=False)
            for i in range(0, len(data), a.packet):
                p.xadd(f'stream:{a.type}:{session}', {'message': data[i:i + a.packet], 'uuid': SENSOR,
                                                      'timestamp': 1700000000, 'version': 1},
                       id=f'{1000 + i // a.packet}-0')
                if len(p) >= 1000:
                    p.execute()
            p.sadd(f'session_uuid:{a.type}', session); p.sadd('ended_session', session)
            p.execute()
        total_bytes = len(data) * a.sessions
        conf = os.path.join(tmp, 'd4.toml')
        with open(conf, 'w') as f:
            f.write(f'[general]\nlog_level = "warn"\n[redis]\nstream = "127.0.0.1:{port}/0"\n'
                    f'meta = "127.0.0.1:{port}/0"\nanalyzer = "127.0.0.1:{port}/2"\n'
                    f'[workers]\narchive_dir = "{tmp}/archive"\ncompression = "{a.compression}"\n'
                    f'monitor_interval_seconds = 0\nthreads_per_type = {a.threads_per_type}\n')
        start = time.monotonic()
        worker = subprocess.Popen([os.path.join(a.bin_dir, 'd4-worker'), '-c', conf, '--types', str(a.type)])
        while r.scard(f'session_uuid:{a.type}') > 0:
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        worker.terminate(); worker.wait(10)
        recs = records_per_session * a.sessions
        print(f'type {a.type}: {a.sessions} sessions, {total_bytes / 1e6:.1f} MB in {a.packet}-byte packets, '
              f'compression {a.compression}, queue {"yes" if a.queue else "no"}: {elapsed:.2f} s, '
              f'{total_bytes / 1e6 / elapsed:.1f} MB/s, {recs / elapsed:,.0f} records/s')
    finally:
        redis_proc.terminate(); redis_proc.wait(10)
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
