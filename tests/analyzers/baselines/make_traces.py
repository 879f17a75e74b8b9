#!/usr/bin/env python3
"""Writes the small input captures of the analyzer baselines (tests/analyzers/baselines/<case>/).

The captures are committed; this script documents how each was made and rebuilds them
byte for byte (no timestamps from the clock, no randomness). Run it from anywhere:
    python3 tests/analyzers/baselines/make_traces.py
then regenerate the expected outputs (docs/analyzers.md, "Baselines")."""
import os
import socket
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1700000000  # capture time of the first frame (seconds)


def pcap(frames, linktype=1):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for ts, frame in frames:
        sec, usec = int(ts), int(round((ts - int(ts)) * 1e6))
        out += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
    return out


def ethernet(ethertype, payload, vlan=None):
    head = bytes.fromhex("020000000001020000000002")
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, l4, options=b""):
    ihl = 20 + len(options)
    return (struct.pack("!BBHHHBBH", 0x40 | ihl // 4, 0, ihl + len(l4), 0x1234, 0, 64, proto, 0)
            + socket.inet_aton(src) + socket.inet_aton(dst) + options + l4)


def ipv6(src, dst, proto, l4):
    return (struct.pack("!IHBB", 0x60000000, len(l4), proto, 64) + socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst) + l4)


def tcp(sport, dport, seq, flags, payload=b"", ack=0):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth4(src, dst, l4, proto=6, **kw):
    return ethernet(0x0800, ipv4(src, dst, proto, l4, **kw))


# ---- DNS ----
def name(n):
    out = b""
    for label in n.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(owner, rtype, rdata, ttl=300, klass=1):
    return name(owner) + struct.pack("!HHIH", rtype, klass, ttl, len(rdata)) + rdata


def dns_response(qname, qtype, answers, authority=(), additional=(), ident=1):
    head = struct.pack("!HHHHHH", ident, 0x8180, 1, len(answers), len(authority), len(additional))
    body = name(qname) + struct.pack("!HH", qtype, 1)
    return head + body + b"".join(answers) + b"".join(authority) + b"".join(additional)


def dns_frame(ts, message, client="192.0.2.10", server="192.0.2.53"):
    return (ts, eth4(server, client, udp(53, 40000, message), proto=17))


# ---- TLS ----
def client_hello(ciphers, extensions, groups, sni):
    ext = b""
    for e in extensions:
        if e == 0:
            host = sni.encode()
            data = struct.pack("!HBH", len(host) + 3, 0, len(host)) + host
        elif e == 10:
            data = struct.pack("!H", 2 * len(groups)) + b"".join(struct.pack("!H", g) for g in groups)
        elif e == 11:
            data = b"\x01\x00"
        else:
            data = b""
        ext += struct.pack("!HH", e, len(data)) + data
    body = (struct.pack("!H", 0x0303) + bytes(32) + b"\0" + struct.pack("!H", 2 * len(ciphers))
            + b"".join(struct.pack("!H", c) for c in ciphers) + b"\x01\x00" + struct.pack("!H", len(ext)) + ext)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def write(case, frames, linktype=1):
    os.makedirs(os.path.join(HERE, case), exist_ok=True)
    with open(os.path.join(HERE, case, "input.pcap"), "wb") as f:
        f.write(pcap(frames, linktype))


def pibs_cases():
    SYN, ACK, SYNACK, RSTACK, ECE_CWR_SYN = 0x02, 0x10, 0x12, 0x14, 0xC2
    write("pibs-ece-cwr-syn-is-not-a-pure-syn", [
        # A pure SYN makes its sender a client: its later packets are not backscatter.
        (T0, eth4("198.51.100.1", "203.0.113.1", tcp(40000, 80, 1, SYN))),
        (T0 + 1, eth4("198.51.100.1", "203.0.113.1", tcp(40000, 80, 2, ACK))),
        # A SYN with ECE|CWR (an ECN-setup SYN) is not a pure SYN: the rule looks at the whole
        # flags byte, so this sender stays unknown and its next packet is reported.
        (T0 + 2, eth4("198.51.100.2", "203.0.113.1", tcp(40001, 80, 1, ECE_CWR_SYN))),
        (T0 + 3, eth4("198.51.100.2", "203.0.113.1", tcp(40001, 80, 2, RSTACK))),
    ])
    write("pibs-ipv4-options-shift-the-tcp-header", [
        # 4 bytes of IPv4 options: the TCP header starts 24 bytes in (the reference read it at 20,
        # taking the options for ports).
        (T0, eth4("192.0.2.77", "100.64.0.1", tcp(443, 5555, 1, SYNACK), options=b"\x01\x01\x01\x01")),
    ])
    write("pibs-syn-window-forgets-senders", [
        (T0, eth4("198.51.100.9", "203.0.113.1", tcp(1, 80, 1, SYN))),
        (T0 + 50, eth4("198.51.100.9", "203.0.113.1", tcp(1, 80, 2, ACK))),   # within 60 s: a client
        (T0 + 100, eth4("198.51.100.9", "203.0.113.1", tcp(1, 80, 3, ACK))),  # forgotten: reported
    ])
    write("pibs-ipv6-in-a-vlan", [
        (T0, ethernet(0x86DD, ipv6("2001:db8::80", "2001:db8:ffff::1", 6, tcp(443, 5555, 1, SYNACK)), vlan=7)),
    ])
    write("pibs-isn-equals-destination", [
        # 203.0.113.5 = 0xcb007105: a stateless scanner encoding its target in the sequence number.
        (T0, eth4("192.0.2.1", "203.0.113.5", tcp(1234, 23, 0xCB007105, SYN))),
        (T0, eth4("192.0.2.1", "203.0.113.6", tcp(1234, 23, 0xCB007105, SYN))),
    ])
    write("pibs-table-stats", [
        (T0 + i, eth4("198.51.100.%d" % (i + 1), "203.0.113.1", tcp(1000 + i, 80, 1, SYN))) for i in range(3)
    ] + [(T0 + 5, eth4("203.0.113.9", "198.51.100.1", tcp(80, 1000, 1, SYNACK)))])


def pdns_cases():
    A, NS, CNAME, SOA, MX, TXT, AAAA, SRV, OPT = 1, 2, 5, 6, 15, 16, 28, 33, 41
    chain = dns_response("www.example.org", A, [
        rr("www.example.org", CNAME, name("edge.cdn.example.net")),
        rr("edge.cdn.example.net", A, socket.inet_aton("192.0.2.80")),
    ])
    write("pdns-owner-name-of-each-record", [dns_frame(T0, chain)])
    styles = dns_response("example.org", MX, [
        rr("example.org", MX, struct.pack("!H", 10) + name("mx.example.org")),
        rr("example.org", TXT, b"\x05hello\x05world"),
        rr("_sip._tcp.example.org", SRV, struct.pack("!HHH", 1, 2, 5060) + name("sip.example.org")),
        rr("example.org", SOA, name("ns1.example.org") + name("hostmaster.example.org")
           + struct.pack("!IIIII", 2024010101, 7200, 3600, 1209600, 300)),
    ])
    write("pdns-passivedns-style-rdata", [dns_frame(T0, styles)])
    write("pdns-presentation-style-rdata", [dns_frame(T0, styles)])
    odd = dns_response("odd.example.org", A, [
        rr("odd.example.org", A, b"\xc0\x00\x02\x01\x07"),          # 5-byte A: generic form, counted
        rr("odd.example.org", 65280, b"\xde\xad"),                   # unknown type: generic form
        rr("odd.example.org", AAAA, socket.inet_pton(socket.AF_INET6, "2001:db8::1")),
    ], additional=[b"\0" + struct.pack("!HHIH", OPT, 1232, 0, 0)])   # EDNS OPT: never a record
    write("pdns-generic-form-and-skipped-opt", [dns_frame(T0, odd)])
    # Two responses in one TCP segment, each with its 2-byte length, after a handshake.
    m1 = dns_response("a.example.org", A, [rr("a.example.org", A, socket.inet_aton("192.0.2.1"))], ident=7)
    m2 = dns_response("b.example.org", NS, [rr("b.example.org", NS, name("ns.example.org"))], ident=8)
    stream = struct.pack("!H", len(m1)) + m1 + struct.pack("!H", len(m2)) + m2
    c, s = "192.0.2.10", "192.0.2.53"
    write("pdns-two-messages-in-one-tcp-segment", [
        (T0, eth4(c, s, tcp(40000, 53, 100, 0x02))),
        (T0, eth4(s, c, tcp(53, 40000, 500, 0x12, ack=101))),
        (T0 + 1, eth4(s, c, tcp(53, 40000, 501, 0x18, stream, ack=101))),
    ])


def tls_cases():
    GREASE = 0x2A2A
    hello = client_hello([0x0A0A, 0x1301, 0x1302], [0, 10, 11, GREASE], [29, 0xFAFA, 23], "g.example")
    for case in ("tls-ja3-without-the-grease-quirk", "tls-ja3-with-the-grease-quirk"):
        write(case, [
            (T0, eth4("10.0.0.1", "10.0.0.2", tcp(50000, 443, 100, 0x02))),
            (T0 + 0.001, eth4("10.0.0.1", "10.0.0.2", tcp(50000, 443, 101, 0x18, hello))),
        ])
    # The server's SYN-ACK is the first packet seen, yet the ClientHello's sender is the client.
    write("tls-client-is-the-clienthello-sender", [
        (T0, eth4("10.0.0.2", "10.0.0.1", tcp(443, 50001, 900, 0x12, ack=101))),
        (T0 + 0.001, eth4("10.0.0.1", "10.0.0.2", tcp(50001, 443, 101, 0x18, hello))),
    ])


if __name__ == "__main__":
    pibs_cases()
    pdns_cases()
    tls_cases()
