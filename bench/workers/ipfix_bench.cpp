// Hot path of the type-7 worker: IPFIX messages from 4 KiB stream payloads framed, decoded with
// their template, and (second benchmark) each data record rendered as the JSON object queued for
// analyzers. The input imitates YAF's biflow records: IPv4 5-tuple, millisecond times, forward and
// reverse counters, CERT's TCP flag elements, a variable-length application name.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "workers/ipfix/decoder.hpp"
#include "workers/ipfix/message_builder.hpp"
#include "workers/ipfix/record_json.hpp"

namespace {
using namespace d4::workers::ipfix;

constexpr std::uint32_t kCert = 6871, kReverse = 29305;

std::string flow_message(std::uint32_t sequence, bool with_template) {
  MessageBuilder m(1, 1700000000, sequence);
  if (with_template) {
    m.begin_set(2).u16(300).u16(15);
    m.field(152, 8).field(153, 8).field(8, 4).field(12, 4).field(7, 2).field(11, 2).field(4, 1);
    m.field(1, 8).field(2, 8).field(1, 8, kReverse).field(2, 8, kReverse);
    m.field(14, 1, kCert).field(15, 1, kCert).field(33, 2, kCert).field(96, 65535);
  }
  m.begin_set(300);
  for (std::uint32_t i = 0; i < 20; ++i) {
    m.u64(1700000000000ull + i).u64(1700000000500ull + i).u32(0xc0000200 + i).u32(0xc6336435);
    m.u16(static_cast<std::uint16_t>(40000 + i)).u16(443).u8(6);
    m.u64(1500 + i).u64(10).u64(64000 + i).u64(48).u8(0x02).u8(0x1b).u16(443).varlen(i % 2 ? "https" : "");
  }
  return m.finish();
}

// ~8 MB of messages (templates re-sent every 16 messages, as exporters do) in 4096-byte payloads.
std::vector<std::string> payloads() {
  std::string data;
  for (std::uint32_t n = 0; data.size() < (8u << 20); ++n) data += flow_message(n * 20, n % 16 == 0);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < data.size(); i += 4096) out.push_back(data.substr(i, 4096));
  return out;
}

struct CountingSink : RecordSink {
  const RecordRenderer* renderer = nullptr;  // nullptr: decode only
  std::string json;
  std::size_t records = 0, json_bytes = 0;
  void on_record(const MessageHeader& h, const Template& t, std::string_view record) override {
    ++records;
    if (!renderer) {
      benchmark::DoNotOptimize(record.data());
      return;
    }
    json.clear();
    renderer->render(json, "8bd5b2b23c8a4a399a5e1a4f1f2b7c01", h, t, record);
    json_bytes += json.size();
  }
  void on_issue(std::string_view, std::string) override {}
};

void run(benchmark::State& state, bool render) {
  auto p = payloads();
  auto model = InformationModel::standard();
  std::size_t bytes = 0, records = 0;
  for (auto _ : state) {
    MessageFramer framer;
    MessageDecoder decoder(model, {});
    RecordRenderer renderer(decoder.templates(), decoder.model());
    CountingSink sink;
    if (render) sink.renderer = &renderer;
    for (const auto& x : p) {
      framer.feed(x, [&](std::string_view m) { decoder.decode(m, sink); });
      bytes += x.size();
    }
    records += sink.records;
    benchmark::DoNotOptimize(sink.json_bytes);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}

void BM_IpfixDecode(benchmark::State& state) {
  run(state, false);
}
void BM_IpfixDecodeToJson(benchmark::State& state) {
  run(state, true);
}
BENCHMARK(BM_IpfixDecode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpfixDecodeToJson)->Unit(benchmark::kMillisecond);

}  // namespace
