// Hot paths of d4-worker: record reassembly from 4 KiB stream payloads, and archive writes.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "workers/archive.hpp"
#include "workers/records.hpp"

namespace {

std::string vector_file(const char* name) {
  std::ifstream f(std::string(D4_TEST_DATA_DIR) + "/vectors/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// ~8 MB of input cut into 4096-byte payloads, like the C client's packets.
std::vector<std::string> payloads(const std::string& header, const std::string& body) {
  std::string data = header;
  while (data.size() < (8u << 20)) data += body;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < data.size(); i += 4096) out.push_back(data.substr(i, 4096));
  return out;
}

void BM_LineSplitterPassiveDns(benchmark::State& state) {
  auto p = payloads("", vector_file("dns.passivedns.csv"));
  std::size_t bytes = 0, records = 0;
  for (auto _ : state) {
    d4::workers::LineSplitter s(1 << 20);
    for (const auto& x : p) {
      s.feed(
          x,
          [&](std::string_view r) {
            benchmark::DoNotOptimize(r.data());
            ++records;
          },
          [](std::size_t) {});
      bytes += x.size();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LineSplitterPassiveDns)->Unit(benchmark::kMillisecond);

void BM_PcapReassembler(benchmark::State& state) {
  std::string pcap = vector_file("dns.pcap");
  auto p = payloads(pcap.substr(0, 24), pcap.substr(24));
  std::size_t bytes = 0, records = 0;
  for (auto _ : state) {
    d4::workers::PcapReassembler r(1 << 20);
    for (const auto& x : p) {
      r.feed(
          x, [](std::string_view) {},
          [&](std::string_view rec) {
            benchmark::DoNotOptimize(rec.data());
            ++records;
          });
      bytes += x.size();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PcapReassembler)->Unit(benchmark::kMillisecond);

void BM_ArchiveWrite(benchmark::State& state) {
  auto dir = std::filesystem::temp_directory_path() / "d4-bench-archive";
  std::string record(static_cast<std::size_t>(state.range(0)), 'x');
  std::size_t bytes = 0;
  for (auto _ : state) {
    d4::workers::ArchiveFile f;
    f.create(dir / "bench.cap", 0);
    for (int i = 0; i < (8 << 20) / state.range(0); ++i) f.write(record);
    f.close();
    bytes += 8u << 20;
  }
  std::filesystem::remove_all(dir);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_ArchiveWrite)->Arg(100)->Arg(4096)->Unit(benchmark::kMillisecond);

void BM_Compress(benchmark::State& state) {
  auto dir = std::filesystem::temp_directory_path() / "d4-bench-compress";
  std::filesystem::create_directories(dir);
  std::string pcap = vector_file("dns.pcap");
  std::string data = pcap;
  while (data.size() < (8u << 20)) data += pcap.substr(24);
  auto c = state.range(0) == 0 ? d4::workers::Compression::Gzip : d4::workers::Compression::Zstd;
  int level = static_cast<int>(state.range(1));
  for (auto _ : state) {
    std::ofstream(dir / "f.cap", std::ios::binary) << data;
    auto out = d4::workers::compress_file(dir / "f.cap", c, level);
    std::filesystem::remove(out);
  }
  std::filesystem::remove_all(dir);
  state.SetBytesProcessed(static_cast<std::int64_t>(data.size() * state.iterations()));
}
BENCHMARK(BM_Compress)->Args({0, 1})->Args({0, 6})->Args({1, 3})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
