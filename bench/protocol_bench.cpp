// Hot paths of the protocol library: HMAC-SHA256 signing/verification of D4 packets and the
// incremental framer, against OpenSSL's raw HMAC speed as the ceiling (same process, same run).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <random>

#include "protocol/encoder.hpp"
#include "protocol/framer.hpp"

using namespace d4::protocol;

namespace {
const Uuid kUuid = *Uuid::parse("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01");

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  std::mt19937 rng(42);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

std::vector<std::uint8_t> make_stream(std::size_t payload, std::size_t total) {
  PacketEncoder enc(1, 1, kUuid, "d4-test-key");
  auto p = random_bytes(payload);
  std::vector<std::uint8_t> out;
  while (out.size() < total) enc.append_packet(out, p, 1700000000);
  return out;
}
}  // namespace

// Ceiling: one-shot OpenSSL HMAC-SHA256 over the same number of bytes.
static void BM_OpenSslHmacCeiling(benchmark::State& st) {
  auto data = random_bytes(static_cast<std::size_t>(st.range(0)) + kHeaderSize);
  unsigned char out[32];
  unsigned int len = 0;
  for (auto _ : st) {
    HMAC(EVP_sha256(), "d4-test-key", 11, data.data(), data.size(), out, &len);
    benchmark::DoNotOptimize(out);
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * static_cast<std::int64_t>(data.size()));
}
BENCHMARK(BM_OpenSslHmacCeiling)->Arg(4096)->Arg(65536);

static void BM_SignPacket(benchmark::State& st) {
  PacketEncoder enc(1, 1, kUuid, "d4-test-key");
  auto payload = random_bytes(static_cast<std::size_t>(st.range(0)));
  std::array<std::uint8_t, kHeaderSize> header{};
  for (auto _ : st) {
    enc.encode_header(header, payload, 1700000000);
    benchmark::DoNotOptimize(header);
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) *
                       static_cast<std::int64_t>(payload.size() + kHeaderSize));
}
BENCHMARK(BM_SignPacket)->Arg(64)->Arg(4096)->Arg(65536);

// Framer + HMAC verification over a stream delivered in 16 KiB reads (like TLS records).
static void BM_FramerVerify(benchmark::State& st) {
  auto stream = make_stream(static_cast<std::size_t>(st.range(0)), 8 << 20);
  const std::size_t read_size = 16384;
  std::uint64_t packets = 0;
  for (auto _ : st) {
    Framer f;
    f.set_key(HmacKey("d4-test-key"));
    Packet p;
    for (std::size_t pos = 0; pos < stream.size(); pos += read_size) {
      std::size_t n = std::min(read_size, stream.size() - pos);
      auto w = f.prepare(n);
      std::memcpy(w.data(), stream.data() + pos, n);
      f.commit(n);
      while (f.next(p) == Framer::Status::Ready) ++packets;
    }
    if (f.error() != FrameError::None) st.SkipWithError("framing error");
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * static_cast<std::int64_t>(stream.size()));
  st.counters["packets/s"] = benchmark::Counter(static_cast<double>(packets), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FramerVerify)->Arg(64)->Arg(4096)->Arg(65536)->Unit(benchmark::kMillisecond);

// Framing alone (no key): the cost of the framer itself.
static void BM_FramerOnly(benchmark::State& st) {
  auto stream = make_stream(static_cast<std::size_t>(st.range(0)), 8 << 20);
  for (auto _ : st) {
    Framer f;
    Packet p;
    f.feed(stream);
    std::size_t n = 0;
    while (f.next(p) == Framer::Status::Ready) ++n;
    benchmark::DoNotOptimize(n);
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * static_cast<std::int64_t>(stream.size()));
}
BENCHMARK(BM_FramerOnly)->Arg(64)->Arg(4096)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
