// Analyzers under floods: the TCP reassembly's flow table and byte budget (least recently active
// flows evicted in O(1), every held byte counted: segment bookkeeping and listener state included)
// and the PIBS SYN table's memory cap, in the libraries and through the real executables.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <regex>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/packet/tcp_reassembly.hpp"
#include "analyzers/pibs/syn_table.hpp"
#include "helpers.hpp"

using namespace d4::analyzers::packet;
using namespace d4::test::an;
using d4::test::read_text;
using d4::test::TempDir;
using d4::test::vector_path;

namespace {

constexpr std::int64_t kSecond = 1000000000;

// Remembers the in-order bytes of every flow by its initiator port, and the flows closed.
struct Recorder : TcpListener {
  std::map<std::uint16_t, std::string> data;
  std::map<std::uint16_t, int> closes;
  void on_data(TcpFlow& f, int, std::span<const std::uint8_t> b, std::int64_t, std::uint64_t) override {
    data[f.key.port[0]].append(b.begin(), b.end());
  }
  void on_close(TcpFlow& f) override { ++closes[f.key.port[0]]; }
};

// A distinct address per flow number (10.0.0.0/8).
std::string flow_address(std::uint32_t i) {
  return "10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) + "." +
         std::to_string(i & 255);
}

// Decodes raw IPv4 datagrams kept alive by the caller (the packet points into them).
struct Feeder {
  explicit Feeder(TcpReassembler& reassembler) : r(reassembler) {}
  TcpReassembler& r;
  Bytes frame;
  Packet p;
  std::uint64_t n = 0;
  void operator()(const std::string& src, std::uint16_t sport, std::uint32_t seq, std::uint8_t flags,
                  Bytes payload = {}, std::int64_t ts = 0) {
    frame = ipv4(src, "192.0.2.53", 6, tcp_seg(sport, 443, seq, flags, std::move(payload)));
    ASSERT_EQ(decode(linktype::kRaw, frame, p), DecodeStatus::Ok);
    r.process(p, ts, ++n);
  }
};

}  // namespace

TEST(TcpReassemblyFlood, DistinctFlowsBeyondTheTableEvictTheLeastRecentlyActiveAndAreCounted) {
  Recorder rec;
  TcpReassemblyOptions o;
  o.max_flows = 1000;
  TcpReassembler r(rec, o);
  Feeder feed(r);
  std::string expected;
  std::uint32_t seq = 5000;
  feed("192.0.2.1", 1111, seq++, tcpflag::kSyn);
  const std::uint32_t flood = 50000;
  for (std::uint32_t i = 0; i < flood; ++i) {
    feed(flow_address(i), 2000, 1, tcpflag::kSyn);
    if (i % 100 == 0) {  // a long-lived connection keeps talking through the flood
      char c = static_cast<char>('a' + i / 100 % 26);
      expected += c;
      feed("192.0.2.1", 1111, seq++, 0x18, {static_cast<std::uint8_t>(c)});
    }
    ASSERT_LE(r.flow_count(), o.max_flows);
  }
  EXPECT_EQ(r.flow_count(), o.max_flows);
  EXPECT_EQ(r.stats().flows_created, flood + 1);
  EXPECT_EQ(r.stats().flows_evicted, flood + 1 - o.max_flows);
  EXPECT_EQ(r.stats().flows_expired, 0u);
  // The active connection was never the least recently active one: never evicted, nothing lost.
  EXPECT_EQ(rec.closes[1111], 0);
  EXPECT_EQ(rec.data[1111], expected);
  r.flush();
  EXPECT_EQ(r.memory_bytes(), 0u);
}

TEST(TcpReassemblyFlood, HeldBackDataOfManyFlowsStaysUnderTheByteCapAndTheDropsAreCounted) {
  Recorder rec;
  TcpReassemblyOptions o;
  o.max_bytes = 1 << 20;
  TcpReassembler r(rec, o);
  Feeder feed(r);
  for (std::uint32_t i = 0; i < 2000; ++i) {
    const std::string src = flow_address(i);
    feed(src, 3000, 1000, tcpflag::kSyn);
    // Byte 1001 never arrives: everything after it is held back.
    for (std::uint32_t k = 0; k < 20; ++k) {
      feed(src, 3000, 1002 + k * 100, tcpflag::kAck, Bytes(100, 'x'));
      ASSERT_LE(r.memory_bytes(), o.max_bytes) << "flow " << i << " segment " << k;
    }
  }
  EXPECT_GT(r.stats().flows_evicted_memory, 0u);
  EXPECT_EQ(r.stats().flows_evicted, 0u);  // the flow count was never the limit
  EXPECT_LE(r.stats().peak_bytes, o.max_bytes);
  EXPECT_GT(r.stats().peak_bytes, o.max_bytes / 2);
  // Every counted byte is given back: the accounting balances.
  r.flush();
  EXPECT_EQ(r.flow_count(), 0u);
  EXPECT_EQ(r.memory_bytes(), 0u);
}

TEST(TcpReassemblyFlood, TinySegmentsCountTheirBookkeepingAgainstThePerDirectionBound) {
  Recorder rec;
  TcpReassemblyOptions o;
  o.max_pending_bytes_per_direction = 64 * 1024;
  TcpReassembler r(rec, o);
  Feeder feed(r);
  feed("192.0.2.7", 4000, 0, tcpflag::kSyn);
  // 1-byte segments each leaving a hole: 64 KiB of data would be 65,536 of them; with the
  // bookkeeping counted the bound is reached after a few hundred.
  std::uint32_t sent = 0;
  while (r.stats().gaps == 0 && sent < 5000) feed("192.0.2.7", 4000, 3 + 2 * sent++, tcpflag::kAck, {'y'});
  EXPECT_EQ(r.stats().gaps, 1u);
  EXPECT_LT(sent, 1000u);
  EXPECT_GE(sent * (1 + TcpReassembler::kSegmentOverhead), o.max_pending_bytes_per_direction);
}

namespace {

// Keeps every byte it is given in its per-flow state, and says so.
struct Hoarder : TcpListener {
  struct State : FlowState {
    std::string kept;
    std::size_t memory_bytes() const override { return sizeof(*this) + kept.capacity(); }
  };
  int closes = 0;
  void on_data(TcpFlow& f, int, std::span<const std::uint8_t> b, std::int64_t, std::uint64_t) override {
    if (!f.state) f.state = std::make_unique<State>();
    static_cast<State&>(*f.state).kept.append(b.begin(), b.end());
  }
  void on_close(TcpFlow&) override { ++closes; }
};

}  // namespace

TEST(TcpReassemblyFlood, ListenerStateCountsAgainstTheByteCapAndAHoardingFlowIsClosed) {
  Hoarder h;
  TcpReassemblyOptions o;
  o.max_bytes = 256 * 1024;
  TcpReassembler r(h, o);
  Feeder feed(r);
  feed("192.0.2.9", 5000, 0, tcpflag::kSyn);
  std::uint32_t seq = 1;
  for (int i = 0; i < 1000 && h.closes == 0; ++i) {
    feed("192.0.2.9", 5000, seq, tcpflag::kAck, Bytes(1000, 'z'));
    seq += 1000;
    ASSERT_LE(r.memory_bytes(), o.max_bytes);
  }
  EXPECT_EQ(h.closes, 1);
  EXPECT_EQ(r.stats().flows_evicted_memory, 1u);
  EXPECT_EQ(r.flow_count(), 0u);
  EXPECT_EQ(r.memory_bytes(), 0u);
}

namespace {

// Appends `flows` distinct SYNs (one per source) towards `port`, one microsecond apart from `ts`.
void add_syn_flood(CaptureFile& c, std::uint32_t flows, std::uint16_t port, std::int64_t ts) {
  for (std::uint32_t i = 0; i < flows; ++i)
    c.add(ts + i * 1000, ethernet(0x0800, ipv4(flow_address(i), "192.0.2.80", 6,
                                               tcp_seg(static_cast<std::uint16_t>(1024 + i % 60000), port, i,
                                                       tcpflag::kSyn))));
}

// A copy of an Ethernet vector capture preceded by a flood that ends one second before it.
void write_flood_then_vector(const std::string& vector, std::uint32_t flows, std::uint16_t port,
                             const std::filesystem::path& out) {
  auto bytes = d4::test::read_file(vector_path(vector));
  auto reader = CaptureReader::from_memory(bytes);
  Frame f;
  CaptureFile c;
  std::vector<std::pair<std::int64_t, Bytes>> frames;
  while (reader.next(f)) frames.emplace_back(f.ts_ns, Bytes(f.data, f.data + f.caplen));
  ASSERT_FALSE(frames.empty());
  ASSERT_EQ(f.linktype, linktype::kEthernet);
  add_syn_flood(c, flows, port, frames.front().first - kSecond - flows * 1000LL);
  for (auto& [ts, frame] : frames) c.add(ts, std::move(frame));
  c.write(out);
}

std::uint64_t logged_count(const std::string& log, const std::string& what) {
  std::smatch m;
  if (!std::regex_search(log, m, std::regex("([0-9]+) " + what))) return 0;
  return std::stoull(m[1]);
}

}  // namespace

TEST(TcpFloodExecutables, TlsFingerprintThroughAFlowFloodKeepsItsLimitsAndStillFingerprintsTheHandshakes) {
  TempDir dir;
  auto baseline = run_tool("d4-tls-fingerprint", {"-r", vector_path("tls.pcap")}, dir);
  ASSERT_EQ(baseline.status, 0) << baseline.err;
  ASSERT_FALSE(baseline.out.empty());
  write_flood_then_vector("tls.pcap", 20000, 443, dir / "flood.pcap");
  auto r =
      run_tool("d4-tls-fingerprint",
               {"-r", (dir / "flood.pcap").string(), "--max-flows", "500", "--tcp-max-memory", "1"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, baseline.out) << "the handshakes after the flood are fingerprinted as without it";
  EXPECT_GE(logged_count(r.err, "evicted \\(table full\\)"), 20000u - 500u) << r.err;
  EXPECT_NE(r.err.find("peak"), std::string::npos) << r.err;
}

TEST(TcpFloodExecutables, PdnsThroughAFlowFloodOnPort53KeepsItsLimitsAndStillExtractsTheAnswers) {
  TempDir dir;
  auto baseline = run_tool("d4-pdns", {"extract", vector_path("dns.pcap")}, dir);
  ASSERT_EQ(baseline.status, 0) << baseline.err;
  write_flood_then_vector("dns.pcap", 5000, 53, dir / "flood.pcap");
  d4::test::write_text(dir / "d4.toml", "[analyzers.pdns]\ntcp_max_flows = 100\ntcp_max_memory_mb = 1\n");
  auto r =
      run_tool("d4-pdns", {"-c", (dir / "d4.toml").string(), "extract", (dir / "flood.pcap").string()}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, baseline.out);
  EXPECT_GE(logged_count(r.err, "evicted \\(table full\\)"), 5000u - 100u) << r.err;
}

TEST(PibsSynFlood, SynTableNeverExceedsItsCapAndCountsEveryEviction) {
  using d4::analyzers::pibs::SynTable;
  const std::size_t cap = 256 * 1024;
  SynTable<std::array<std::uint8_t, 16>> t(1024, cap);
  std::mt19937_64 rng(7);
  const std::uint32_t n = 200000;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 16> k{};
    for (auto& b : k) b = static_cast<std::uint8_t>(rng());
    t.put(k, i);
    ASSERT_LE(t.memory_bytes() * 3 / 2, cap) << "doubling holds both arrays: at most 2/3 of the cap";
  }
  EXPECT_EQ(t.evictions() + t.size(), n);
  EXPECT_GT(t.evictions(), 0u);
  // Eviction prefers old senders: the newest addresses are nearly all still known.
  std::mt19937_64 replay(7);
  std::size_t recent_known = 0, recent = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 16> k{};
    for (auto& b : k) b = static_cast<std::uint8_t>(replay());
    if (i >= n - 1000) {
      ++recent;
      if (t.find(k)) ++recent_known;
    }
  }
  EXPECT_GT(recent_known, recent * 9 / 10);
}

TEST(PibsSynFlood, SpoofedIpv6SynFloodAgainstPibsStaysUnderItsCapAndSparesIpv4Clients) {
  TempDir dir;
  CaptureFile c;
  const std::int64_t t0 = 1700000000LL * kSecond;
  // A real IPv4 client opens a connection before the flood and is answered after it.
  c.add(t0, ethernet(0x0800, ipv4("198.51.100.7", "203.0.113.1", 6, tcp_seg(40000, 80, 1, tcpflag::kSyn))));
  std::mt19937_64 rng(11);
  const std::uint32_t flood = 40000;
  for (std::uint32_t i = 0; i < flood; ++i) {
    char src[64];
    std::snprintf(src, sizeof src, "2001:db8:%x:%x:%x:%x::1", static_cast<unsigned>(rng() & 0xffff),
                  static_cast<unsigned>(rng() & 0xffff), static_cast<unsigned>(rng() & 0xffff), i & 0xffff);
    c.add(t0 + kSecond + i, ethernet(0x86DD, ipv6(src, "2001:db8::80", 6, tcp_seg(1, 80, i, tcpflag::kSyn))));
  }
  c.add(t0 + 10 * kSecond,
        ethernet(0x0800, ipv4("198.51.100.7", "203.0.113.1", 6, tcp_seg(40000, 80, 2, tcpflag::kAck))));
  c.write(dir / "flood.pcap");
  auto r = run_tool("d4-pibs", {"-s", "-b", "--syn-table-max-mb", "1", (dir / "flood.pcap").string()}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("#Table memory: ([0-9]+) bytes"))) << r.out;
  EXPECT_LE(std::stoull(m[1]), 1u << 20);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("#Table memory cap: ([0-9]+) bytes"))) << r.out;
  EXPECT_EQ(std::stoull(m[1]), 1u << 20);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("#Number of unique IP addresses: ([0-9]+)"))) << r.out;
  const std::uint64_t known = std::stoull(m[1]);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("#Addresses evicted \\(memory cap\\): ([0-9]+)")))
      << r.out;
  const std::uint64_t evicted = std::stoull(m[1]);
  EXPECT_GT(evicted, 0u);
  EXPECT_EQ(known + evicted, flood + 1u) << "every sender is either known or counted as evicted";
  // The IPv4 client's table is not the IPv6 flood's: its answer is not taken for backscatter.
  EXPECT_EQ(r.out.find("198.51.100.7"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find(std::to_string(evicted) + " evicted by the SYN table's memory cap"), std::string::npos)
      << r.err;
}
