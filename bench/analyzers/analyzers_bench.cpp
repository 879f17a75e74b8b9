// Hot paths of the analyzers, on in-memory captures (no disk, no Redis):
//   PIBS classification (pcap parsing + decoding + SYN table), with and without per-victim
//   aggregation; DNS message parsing/rendering; passive DNS extraction from a capture; passivedns
//   CSV parsing; TLS session tracking (reassembly, handshake parsing, JA3/JA3S, X.509).
// Run: build/bin/d4_bench_analyzers --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/pdns/dns_extractor.hpp"
#include "analyzers/pdns/dns_message.hpp"
#include "analyzers/pdns/passivedns_csv.hpp"
#include "analyzers/pibs/classifier.hpp"
#include "analyzers/pibs/victims.hpp"
#include "analyzers/tls/session.hpp"

#ifndef D4_BENCH_DATA_DIR
#define D4_BENCH_DATA_DIR "tests/data/vectors"
#endif

namespace {

using namespace d4::analyzers;
using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
void le32(Bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

Bytes read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  Bytes out;
  if (!f) return out;
  std::uint8_t buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

// Appends a pcap record holding an Ethernet/IPv4/TCP frame (54 bytes, like backscatter.pcap).
void add_tcp_frame(Bytes& cap, std::uint32_t ts, std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                   std::uint16_t dport, std::uint8_t flags) {
  Bytes f = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0};
  put32(f, src);
  put32(f, dst);
  put16(f, sport);
  put16(f, dport);
  put32(f, 1);
  put32(f, 0);
  f.push_back(0x50);
  f.push_back(flags);
  put16(f, 8192);
  put32(f, 0);
  le32(cap, ts);
  le32(cap, 0);
  le32(cap, static_cast<std::uint32_t>(f.size()));
  le32(cap, static_cast<std::uint32_t>(f.size()));
  cap.insert(cap.end(), f.begin(), f.end());
}

Bytes pcap_header() {
  Bytes b;
  le32(b, 0xa1b2c3d4);
  b.insert(b.end(), {2, 0, 4, 0});
  le32(b, 0);
  le32(b, 0);
  le32(b, 65535);
  le32(b, 1);
  return b;
}

// A telescope-like mix: 10% pure SYNs from 100k scanners, 90% replies (SYN-ACK, RST-ACK, ACK)
// from 10k victims towards random spoofed addresses.
const Bytes& backscatter_capture() {
  static const Bytes cap = [] {
    std::mt19937 gen(1);
    auto rng = [&gen] { return static_cast<std::uint32_t>(gen()); };
    Bytes c = pcap_header();
    static constexpr std::uint8_t kFlags[] = {0x12, 0x14, 0x10, 0x52};
    for (std::uint32_t i = 0; i < 1000000; ++i) {
      if (i % 10 == 0)
        add_tcp_frame(c, 1700000000 + i / 10000, 0x0A000000 | (rng() % 100000), 0xC6120000 | (rng() & 0xFFFF),
                      static_cast<std::uint16_t>(rng()), 80, 0x02);
      else
        add_tcp_frame(c, 1700000000 + i / 10000, 0xCB000000 | (rng() % 10000), 0x64400000 | (rng() & 0xFFFF),
                      static_cast<std::uint16_t>(80 + rng() % 3), static_cast<std::uint16_t>(rng()),
                      kFlags[rng() % 4]);
    }
    return c;
  }();
  return cap;
}

void BM_CaptureReadDecode(benchmark::State& state) {
  const Bytes& cap = backscatter_capture();
  std::uint64_t frames = 0;
  for (auto _ : state) {
    auto r = packet::CaptureReader::from_memory(cap);
    packet::Frame f;
    packet::Packet p;
    while (r.next(f)) {
      benchmark::DoNotOptimize(packet::decode(f.linktype, f.bytes(), p));
      ++frames;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
}
BENCHMARK(BM_CaptureReadDecode)->Unit(benchmark::kMillisecond);

void BM_PibsClassify(benchmark::State& state) {
  const Bytes& cap = backscatter_capture();
  std::uint64_t frames = 0, backscatter = 0;
  for (auto _ : state) {
    pibs::Classifier c;  // fresh table each round: includes its growth from empty
    auto r = packet::CaptureReader::from_memory(cap);
    packet::Frame f;
    packet::Packet p;
    while (r.next(f)) {
      backscatter += c.classify(f, p) == pibs::Verdict::Backscatter;
      ++frames;
    }
  }
  benchmark::DoNotOptimize(backscatter);
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
}
BENCHMARK(BM_PibsClassify)->Unit(benchmark::kMillisecond);

void BM_PibsClassifyAndAggregate(benchmark::State& state) {
  const Bytes& cap = backscatter_capture();
  std::uint64_t frames = 0;
  for (auto _ : state) {
    pibs::Classifier c;
    pibs::VictimTable v;
    auto r = packet::CaptureReader::from_memory(cap);
    packet::Frame f;
    packet::Packet p;
    while (r.next(f)) {
      if (c.classify(f, p) == pibs::Verdict::Backscatter) v.add(p, f.ts_seconds());
      ++frames;
    }
    benchmark::DoNotOptimize(v.victims().size());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
}
BENCHMARK(BM_PibsClassifyAndAggregate)->Unit(benchmark::kMillisecond);

std::vector<Bytes> dns_payloads() {
  std::vector<Bytes> out;
  auto bytes = read_file(std::string(D4_BENCH_DATA_DIR) + "/dns.pcap");
  if (bytes.empty()) return out;
  auto r = packet::CaptureReader::from_memory(bytes);
  packet::Frame f;
  packet::Packet p;
  while (r.next(f))
    if (packet::decode(f.linktype, f.bytes(), p) == packet::DecodeStatus::Ok && p.sport == 53)
      out.emplace_back(p.payload.begin(), p.payload.end());
  return out;
}

void BM_DnsParseRender(benchmark::State& state) {
  auto msgs = dns_payloads();
  if (msgs.empty()) {
    state.SkipWithError("dns.pcap not found (set D4_BENCH_DATA_DIR)");
    return;
  }
  dns::Message m;
  std::string out;
  std::uint64_t n = 0;
  for (auto _ : state) {
    for (const auto& msg : msgs) {
      m.parse(msg);
      for (const auto& rr : m.answers()) {
        out.clear();
        m.render_rdata(rr, dns::RdataStyle::Passivedns, out);
      }
      ++n;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
}
BENCHMARK(BM_DnsParseRender);

void BM_DnsExtractFromCapture(benchmark::State& state) {
  auto bytes = read_file(std::string(D4_BENCH_DATA_DIR) + "/dns.pcap");
  if (bytes.empty()) {
    state.SkipWithError("dns.pcap not found");
    return;
  }
  std::uint64_t frames = 0, records = 0;
  for (auto _ : state) {
    pdns::DnsExtractor ex([&](pdns::PdnsRecord&&, const auto&, const auto&) { ++records; });
    for (int rep = 0; rep < 100; ++rep) {
      auto r = packet::CaptureReader::from_memory(bytes);
      packet::Frame f;
      while (r.next(f)) {
        ex.process(f);
        ++frames;
      }
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DnsExtractFromCapture)->Unit(benchmark::kMillisecond);

void BM_PassivednsCsvParse(benchmark::State& state) {
  std::vector<std::string> lines;
  for (int i = 0; i < 1000; ++i)
    lines.push_back("1548624738.280922||192.168.1.12||8.8.8.8||IN||host" + std::to_string(i) +
                    ".example.org.||A||93.184." + std::to_string(i % 256) + ".34||299||12");
  pdns::PdnsRecord r;
  std::uint64_t n = 0;
  for (auto _ : state) {
    for (const auto& l : lines) benchmark::DoNotOptimize(pdns::parse_passivedns_line(l, r));
    n += lines.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
}
BENCHMARK(BM_PassivednsCsvParse);

void BM_TlsTracker(benchmark::State& state) {
  auto bytes = read_file(std::string(D4_BENCH_DATA_DIR) + "/tls.pcap");
  if (bytes.empty()) {
    state.SkipWithError("tls.pcap not found");
    return;
  }
  std::vector<Bytes> frames;
  {
    auto r = packet::CaptureReader::from_memory(bytes);
    packet::Frame f;
    while (r.next(f)) frames.emplace_back(f.data, f.data + f.caplen);
  }
  std::uint64_t packets = 0, sessions = 0;
  for (auto _ : state) {
    tls::TlsTracker t([&](const tls::TlsSession& s) { sessions += !s.ja3.empty(); }, nullptr);
    // 40 copies of the capture, each on its own client port range so that every copy is new flows.
    for (std::uint16_t copy = 0; copy < 40; ++copy) {
      for (auto fr : frames) {
        // Rewrite the client port (bytes 34-35 or 36-37 of Ethernet/IPv4/TCP) to keep flows distinct.
        std::uint16_t sport = static_cast<std::uint16_t>(fr[34] << 8 | fr[35]);
        std::uint16_t dport = static_cast<std::uint16_t>(fr[36] << 8 | fr[37]);
        std::size_t at = sport == 14443 ? 36 : 34;
        std::uint16_t port = sport == 14443 ? dport : sport;
        port = static_cast<std::uint16_t>(port + copy * 64);
        fr[at] = static_cast<std::uint8_t>(port >> 8);
        fr[at + 1] = static_cast<std::uint8_t>(port);
        packet::Frame f;
        f.data = fr.data();
        f.caplen = f.origlen = static_cast<std::uint32_t>(fr.size());
        f.linktype = 1;
        t.process(f);
        ++packets;
      }
    }
    t.finish();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(packets));
  state.counters["sessions/s"] =
      benchmark::Counter(static_cast<double>(sessions), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TlsTracker)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
