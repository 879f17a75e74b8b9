// TCP reassembly under a flood of distinct flows (spoofed sources, scans): every packet is the SYN
// of a new flow while the table already holds `range(0)` flows — the per-packet cost such a
// flood imposes on d4-pdns (DNS over TCP) and d4-tls-fingerprint. Uses only the reassembler's
// long-standing interface, so bench/analyzers/tcp_flood_compare.sh can build it against an older
// reassembler too.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "analyzers/packet/tcp_reassembly.hpp"

namespace {

using namespace d4::analyzers;

struct NullListener : packet::TcpListener {
  void on_data(packet::TcpFlow&, int, std::span<const std::uint8_t>, std::int64_t, std::uint64_t) override {}
};

void BM_TcpReassemblyNewFlowsFullTable(benchmark::State& state) {
  const auto table = static_cast<std::size_t>(state.range(0));
  NullListener listener;
  packet::TcpReassemblyOptions o;
  o.max_flows = table;
  packet::TcpReassembler r(listener, o);
  // Raw IPv4 + TCP SYN from 10.x.y.z to 192.0.2.80:443; the source is rewritten per packet.
  std::vector<std::uint8_t> ip = {0x45, 0, 0,   40, 0,    0,    0,    0,    64, 6,    0, 0, 10, 0,
                                  0,    0, 192, 0,  2,    80,   0x9c, 0x40, 1,  0xbb, 0, 0, 0,  1,
                                  0,    0, 0,   0,  0x50, 0x02, 0x20, 0,    0,  0,    0, 0};
  std::uint32_t next_source = 0x0A000000;
  packet::Packet p;
  std::uint64_t frame = 0;
  auto send_new_flow = [&] {
    std::uint32_t a = next_source++;
    ip[13] = static_cast<std::uint8_t>(a >> 16);
    ip[14] = static_cast<std::uint8_t>(a >> 8);
    ip[15] = static_cast<std::uint8_t>(a);
    packet::decode(packet::linktype::kRaw, ip, p);
    r.process(p, 0, ++frame);
  };
  for (std::size_t i = 0; i < table; ++i) send_new_flow();
  std::uint64_t packets = 0;
  for (auto _ : state) {
    send_new_flow();
    ++packets;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(packets));
  state.counters["flows"] = static_cast<double>(r.flow_count());
}
BENCHMARK(BM_TcpReassemblyNewFlowsFullTable)->Arg(20000)->Arg(200000);

}  // namespace
