// Capture reading (pcap/pcapng/gzip, truncation, corruption), frame decoding and TCP reassembly.
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/packet/pcap_writer.hpp"
#include "analyzers/packet/tcp_reassembly.hpp"
#include "helpers.hpp"

using namespace d4::analyzers::packet;
using namespace d4::test::an;
using d4::test::TempDir;
using d4::test::vector_path;

namespace {

struct Summary {
  std::vector<std::int64_t> ts;
  std::vector<Bytes> data;
  std::vector<std::uint32_t> linktypes;
};

Summary read_all(CaptureReader r) {
  Summary s;
  Frame f;
  while (r.next(f)) {
    s.ts.push_back(f.ts_ns);
    s.data.emplace_back(f.data, f.data + f.caplen);
    s.linktypes.push_back(f.linktype);
  }
  EXPECT_EQ(r.error(), "");
  return s;
}

void gzip_file(const std::string& in, const std::string& out) {
  auto bytes = d4::test::read_file(in);
  gzFile gz = gzopen(out.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(gz);
}

}  // namespace

TEST(CaptureReader, ReadsTheVectorCaptures) {
  for (auto [name, count] : {std::pair{"dns.pcap", 120}, {"backscatter.pcap", 600}, {"tls.pcap", 87}}) {
    auto s = read_all(CaptureReader::open(vector_path(name)));
    EXPECT_EQ(s.ts.size(), static_cast<std::size_t>(count)) << name;
    for (auto lt : s.linktypes) EXPECT_EQ(lt, linktype::kEthernet);
  }
  auto dns = read_all(CaptureReader::open(vector_path("dns.pcap")));
  EXPECT_EQ(dns.ts.front(), 1700000000LL * 1000000000);  // MANIFEST: microsecond timestamps from 1700000000
  EXPECT_EQ(dns.ts[1], 1700000000LL * 1000000000 + 10000000);
}

TEST(CaptureReader, GzipAndPcapngGiveTheSameFrames) {
  TempDir dir;
  auto plain = read_all(CaptureReader::open(vector_path("tls.pcap")));
  gzip_file(vector_path("tls.pcap"), (dir / "tls.pcap.gz").string());
  auto gz = read_all(CaptureReader::open(dir / "tls.pcap.gz"));
  EXPECT_EQ(gz.data, plain.data);
  EXPECT_EQ(gz.ts, plain.ts);
  // editcap (Wireshark) writes an independent pcapng encoding of the same frames.
  std::string cmd =
      "editcap -F pcapng '" + vector_path("tls.pcap") + "' '" + (dir / "tls.pcapng").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "editcap is required (tshark package)";
  auto reader = CaptureReader::open(dir / "tls.pcapng");
  EXPECT_EQ(reader.format(), CaptureReader::Format::PcapNg);
  auto ng = read_all(std::move(reader));
  EXPECT_EQ(ng.data, plain.data);
  EXPECT_EQ(ng.ts, plain.ts);
  gzip_file((dir / "tls.pcapng").string(), (dir / "tls.pcapng.gz").string());
  EXPECT_EQ(read_all(CaptureReader::open(dir / "tls.pcapng.gz")).data, plain.data);
}

TEST(CaptureReader, BigEndianAndNanosecondVariants) {
  CaptureFile c;
  c.add(1700000000123456789LL, ethernet(0x0800, ipv4("1.2.3.4", "5.6.7.8", 17, udp(1, 2, text_bytes("x")))));
  c.add(1700000001000000001LL, ethernet(0x0800, ipv4("1.2.3.4", "5.6.7.8", 17, udp(1, 2, text_bytes("yy")))));
  for (bool be : {false, true}) {
    auto ns = c.pcap(true, be);
    auto s = read_all(CaptureReader::from_memory(ns));
    ASSERT_EQ(s.ts.size(), 2u);
    EXPECT_EQ(s.ts[0], 1700000000123456789LL) << "big endian " << be;
    EXPECT_EQ(s.ts[1], 1700000001000000001LL);
    auto us = c.pcap(false, be);
    auto su = read_all(CaptureReader::from_memory(us));
    EXPECT_EQ(su.ts[0], 1700000000123456000LL);
    EXPECT_EQ(su.data, s.data);
  }
}

TEST(CaptureReader, TruncatedCaptureKeepsEarlierFramesAndSaysWhy) {
  auto bytes = d4::test::read_file(vector_path("dns.pcap"));
  std::size_t whole = 0;
  {
    auto r = CaptureReader::from_memory(bytes);
    Frame f;
    while (r.next(f)) ++whole;
  }
  // Cut in the middle of the last record: every other frame is still delivered.
  Bytes cut(bytes.begin(), bytes.end() - 10);
  auto r = CaptureReader::from_memory(cut, "cut");
  Frame f;
  std::size_t n = 0;
  while (r.next(f)) ++n;
  EXPECT_EQ(n, whole - 1);
  EXPECT_TRUE(r.truncated());
  EXPECT_NE(r.error().find("truncated"), std::string::npos) << r.error();
  // Cut inside a record header.
  Bytes cut2(bytes.begin(), bytes.begin() + 24 + 8);
  auto r2 = CaptureReader::from_memory(cut2);
  EXPECT_FALSE(r2.next(f));
  EXPECT_TRUE(r2.truncated());
}

TEST(CaptureReader, CorruptLengthAndNonCaptureInputAreErrors) {
  CaptureFile c;
  c.add(0, Bytes(60, 0));
  auto b = c.pcap();
  b[24 + 8] = 0xff;  // captured length 0xff... far above the bound
  b[24 + 9] = 0xff;
  b[24 + 10] = 0xff;
  b[24 + 11] = 0x7f;
  auto r = CaptureReader::from_memory(b);
  Frame f;
  EXPECT_FALSE(r.next(f));
  EXPECT_FALSE(r.truncated());
  EXPECT_NE(r.error().find("corrupt"), std::string::npos) << r.error();
  Bytes text = text_bytes("this is not a capture file");
  EXPECT_THROW(CaptureReader::from_memory(text), CaptureError);
  EXPECT_THROW(CaptureReader::open("/nonexistent/file.pcap"), CaptureError);
  Bytes empty;
  EXPECT_THROW(CaptureReader::from_memory(empty), CaptureError);
}

TEST(CaptureReader, PcapngSkipsUnknownBlocksAndHonoursTimestampResolution) {
  // Section header, interface (linktype 1, if_tsresol = 10^-9), a custom block, an enhanced packet.
  Bytes b;
  auto le32 = [&](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  auto le16 = [&](std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v));
    b.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  le32(0x0A0D0D0A), le32(28), le32(0x1A2B3C4D), le16(1), le16(0), le32(0xffffffff), le32(0xffffffff),
      le32(28);
  le32(1), le32(32), le16(1), le16(0), le32(65535), le16(9), le16(1), b.insert(b.end(), {9, 0, 0, 0}),
      le16(0), le16(0), le32(32);
  le32(0x00000BAD), le32(16), le32(0xdeadbeef), le32(16);
  Bytes frame = ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(5, 6, text_bytes("abc"))));
  std::uint64_t ts = 1700000000123456789ULL;
  std::uint32_t padded = static_cast<std::uint32_t>((frame.size() + 3) & ~3u);
  le32(6), le32(32 + padded), le32(0), le32(static_cast<std::uint32_t>(ts >> 32)),
      le32(static_cast<std::uint32_t>(ts));
  le32(static_cast<std::uint32_t>(frame.size())), le32(static_cast<std::uint32_t>(frame.size()));
  append(b, frame);
  b.resize(b.size() + (padded - frame.size()), 0);
  le32(32 + padded);
  auto r = CaptureReader::from_memory(b);
  Frame f;
  ASSERT_TRUE(r.next(f)) << r.error();
  EXPECT_EQ(f.ts_ns, 1700000000123456789LL);
  EXPECT_EQ(Bytes(f.data, f.data + f.caplen), frame);
  EXPECT_FALSE(r.next(f));
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(r.skipped_blocks(), 1u);
}

TEST(Decode, EthernetVlanQinQAndCookedCaptures) {
  Bytes l4 = tcp_seg(443, 5555, 7, 0x12, {}, 9);
  Bytes ip = ipv4("203.0.113.9", "100.64.1.2", 6, l4);
  struct Case {
    std::uint32_t lt;
    Bytes frame;
    int vlans;
  } cases[] = {{linktype::kEthernet, ethernet(0x0800, ip), 0},
               {linktype::kEthernet, ethernet(0x0800, ip, {100}), 1},
               {linktype::kEthernet, ethernet(0x0800, ip, {100, 200}), 2},
               {linktype::kLinuxSll, sll(0x0800, ip), 0},
               {linktype::kLinuxSll2, sll2(0x0800, ip), 0},
               {linktype::kRaw, ip, 0},
               {linktype::kIpv4, ip, 0}};
  for (const auto& c : cases) {
    Packet p;
    ASSERT_EQ(decode(c.lt, c.frame, p), DecodeStatus::Ok) << c.lt;
    EXPECT_EQ(p.src.to_string(), "203.0.113.9");
    EXPECT_EQ(p.dst.to_string(), "100.64.1.2");
    EXPECT_TRUE(p.is_tcp());
    EXPECT_EQ(p.sport, 443);
    EXPECT_EQ(p.tcp.flags, 0x12);
    EXPECT_EQ(p.tcp.seq, 7u);
    EXPECT_EQ(p.vlan_depth, c.vlans);
    if (c.vlans) {
      EXPECT_EQ(p.vlan_id, 100);
    }
  }
  // BSD loopback: 4-byte family in host order.
  Bytes null_frame = {2, 0, 0, 0};
  append(null_frame, ip);
  Packet p;
  EXPECT_EQ(decode(linktype::kNull, null_frame, p), DecodeStatus::Ok);
  EXPECT_EQ(decode(147, ip, p), DecodeStatus::UnsupportedLink);
  EXPECT_EQ(decode(linktype::kEthernet, ethernet(0x0806, Bytes(28, 0)), p), DecodeStatus::NotIp);
}

TEST(Decode, Ipv4OptionsFragmentsAndBoundaries) {
  Bytes l4 = tcp_seg(80, 1, 1000, 0x14, text_bytes("hello"));
  Bytes options = {0x94, 0x04, 0x00, 0x00};  // router alert
  Packet p;
  // Frames are kept in variables: the decoded packet points into them.
  const Bytes with_options = ipv4("1.1.1.1", "2.2.2.2", 6, l4, options);
  ASSERT_EQ(decode(linktype::kRaw, with_options, p), DecodeStatus::Ok);
  EXPECT_TRUE(p.has_ip_options);
  EXPECT_EQ(p.sport, 80);  // the reference read the TCP header 20 bytes after the IP header
  EXPECT_EQ(p.tcp.flags, 0x14);
  EXPECT_EQ(std::string(p.payload.begin(), p.payload.end()), "hello");
  // Ethernet padding after the IP datagram is not payload.
  Bytes padded = ethernet(0x0800, ipv4("1.1.1.1", "2.2.2.2", 6, tcp({})));
  padded.resize(padded.size() + 6, 0xEE);
  ASSERT_EQ(decode(linktype::kEthernet, padded, p), DecodeStatus::Ok);
  EXPECT_TRUE(p.payload.empty());
  // First fragment decodes; later fragments carry no transport header.
  ASSERT_EQ(decode(linktype::kRaw, ipv4("1.1.1.1", "2.2.2.2", 6, l4, {}, 0x2000), p), DecodeStatus::Ok);
  EXPECT_TRUE(p.fragmented);
  EXPECT_EQ(decode(linktype::kRaw, ipv4("1.1.1.1", "2.2.2.2", 6, l4, {}, 0x0010), p), DecodeStatus::Fragment);
  // Truncations at every length never read out of bounds and never succeed before the TCP header is whole.
  Bytes full = ethernet(0x0800, ipv4("1.1.1.1", "2.2.2.2", 6, l4, options));
  for (std::size_t n = 0; n < 14 + 24 + 20; ++n) {
    Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_NE(decode(linktype::kEthernet, cut, p), DecodeStatus::Ok) << n;
  }
  Bytes bad_ihl = ipv4("1.1.1.1", "2.2.2.2", 6, l4);
  bad_ihl[0] = 0x43;
  EXPECT_EQ(decode(linktype::kRaw, bad_ihl, p), DecodeStatus::BadIpHeader);
  Bytes bad_offset = ipv4("1.1.1.1", "2.2.2.2", 6, l4);
  bad_offset[20 + 12] = 0x20;  // TCP data offset 2 words
  EXPECT_EQ(decode(linktype::kRaw, bad_offset, p), DecodeStatus::BadTransport);
}

TEST(Decode, Ipv6ExtensionHeaders) {
  Bytes l4 = udp(53, 4000, text_bytes("dns"));
  Bytes hbh(6, 0);   // hop-by-hop: 2 + 6 = 8 bytes
  Bytes dst(14, 0);  // destination options: 16 bytes
  Packet p;
  const Bytes with_ext = ipv6("2001:db8::1", "2001:db8::2", 17, l4, {{0, hbh}, {60, dst}});
  ASSERT_EQ(decode(linktype::kIpv6, with_ext, p), DecodeStatus::Ok);
  EXPECT_EQ(p.protocol, 17);
  EXPECT_EQ(p.sport, 53);
  EXPECT_EQ(std::string(p.payload.begin(), p.payload.end()), "dns");
  EXPECT_EQ(p.src.to_string(), "2001:db8::1");
  Bytes first_frag = {0, 0x01, 0, 0, 0, 1};  // offset 0, more fragments
  ASSERT_EQ(decode(linktype::kIpv6, ipv6("2001:db8::1", "2001:db8::2", 17, l4, {{44, first_frag}}), p),
            DecodeStatus::Ok);
  EXPECT_TRUE(p.fragmented);
  Bytes later_frag = {0, 0x10, 0, 0, 0, 1};
  EXPECT_EQ(decode(linktype::kIpv6, ipv6("2001:db8::1", "2001:db8::2", 17, l4, {{44, later_frag}}), p),
            DecodeStatus::Fragment);
  // A hop-by-hop header claiming more bytes than captured.
  Bytes lying = ipv6("2001:db8::1", "2001:db8::2", 17, l4, {{0, hbh}});
  lying[41] = 200;
  EXPECT_NE(decode(linktype::kIpv6, lying, p), DecodeStatus::Ok);
}

namespace {

struct Collected : TcpListener {
  std::string data[2];
  int gaps = 0, closes = 0;
  void on_data(TcpFlow&, int d, std::span<const std::uint8_t> b, std::int64_t, std::uint64_t) override {
    data[d].append(b.begin(), b.end());
  }
  void on_gap(TcpFlow&, int) override { ++gaps; }
  void on_close(TcpFlow&) override { ++closes; }
};

Packet decoded(const Bytes& ip) {
  Packet p;
  EXPECT_EQ(decode(linktype::kRaw, ip, p), DecodeStatus::Ok);
  return p;
}

}  // namespace

TEST(TcpReassembly, OutOfOrderRetransmittedAndOverlappingSegments) {
  const std::string client = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
  const std::string server = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  std::vector<Bytes> pkts;
  auto c = [&](std::uint32_t seq, std::string_view s, std::uint8_t flags = 0x18) {
    return ipv4("10.0.0.1", "10.0.0.2", 6, tcp_seg(40000, 80, seq, flags, text_bytes(s)));
  };
  auto s = [&](std::uint32_t seq, std::string_view d, std::uint8_t flags = 0x18) {
    return ipv4("10.0.0.2", "10.0.0.1", 6, tcp_seg(80, 40000, seq, flags, text_bytes(d)));
  };
  // Server SYN-ACK arrives before the SYN (capture reordering): the client is still the initiator.
  pkts.push_back(s(5000, "", 0x12));
  pkts.push_back(c(100, "", 0x02));
  pkts.push_back(c(101 + 10, client.substr(10, 10)));  // ahead: held back
  pkts.push_back(c(101, client.substr(0, 15)));        // fills the hole and overlaps
  pkts.push_back(c(101, client.substr(0, 5)));         // retransmission
  pkts.push_back(c(101 + 20, client.substr(20)));
  pkts.push_back(s(5001, server));
  pkts.push_back(s(5001, server.substr(0, 7)));  // retransmission
  pkts.push_back(c(101 + static_cast<std::uint32_t>(client.size()), "", 0x11));
  pkts.push_back(s(5001 + static_cast<std::uint32_t>(server.size()), "", 0x11));
  Collected col;
  TcpReassembler r(col);
  std::uint64_t n = 0;
  for (const auto& b : pkts) r.process(decoded(b), 1000, ++n);
  EXPECT_EQ(col.data[0], client);
  EXPECT_EQ(col.data[1], server);
  EXPECT_EQ(col.closes, 1);  // FIN both ways
  EXPECT_EQ(r.flow_count(), 0u);
  EXPECT_GT(r.stats().retransmitted_bytes, 0u);
}

TEST(TcpReassembly, BoundedHoldBackDeclaresAGapAndIdleFlowsExpire) {
  Collected col;
  TcpReassemblyOptions o;
  o.max_pending_bytes_per_direction = 1000;
  o.idle_timeout_ns = 5LL * 1000000000;
  TcpReassembler r(col, o);
  std::vector<Bytes> frames;  // alive while the reassembler reads them
  auto seg = [&](std::uint32_t seq, std::size_t len) {
    frames.push_back(ipv4("10.0.0.1", "10.0.0.2", 6, tcp_seg(1, 2, seq, 0x18, Bytes(len, 'x'))));
    return decoded(frames.back());
  };
  r.process(seg(1000, 10), 0, 1);
  // A lost segment (1010..1509) followed by more than the bound of data.
  for (std::uint32_t i = 0; i < 5; ++i) r.process(seg(1510 + i * 300, 300), 0, 2 + i);
  EXPECT_EQ(col.gaps, 1);
  EXPECT_EQ(col.data[0].size(), 10u + 5 * 300);  // everything after the hole was delivered
  EXPECT_EQ(r.flow_count(), 1u);
  r.expire(60LL * 1000000000);
  EXPECT_EQ(r.flow_count(), 0u);
  EXPECT_EQ(col.closes, 1);
}

TEST(PcapWriter, RoundTrip) {
  TempDir dir;
  Bytes frame = ethernet(0x0800, ipv4("1.2.3.4", "5.6.7.8", 6, tcp({})));
  {
    PcapWriter w(dir / "out.pcap", linktype::kEthernet);
    w.write(1700000000123456000LL, frame, static_cast<std::uint32_t>(frame.size() + 100));
    w.write(1700000001000000000LL, frame, static_cast<std::uint32_t>(frame.size()));
  }
  auto r = CaptureReader::open(dir / "out.pcap");
  Frame f;
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f.ts_ns, 1700000000123456000LL);
  EXPECT_EQ(f.origlen, frame.size() + 100);
  EXPECT_EQ(Bytes(f.data, f.data + f.caplen), frame);
  ASSERT_TRUE(r.next(f));
  EXPECT_FALSE(r.next(f));
}
