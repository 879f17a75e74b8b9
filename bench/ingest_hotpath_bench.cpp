// Hot paths of d4-server outside TLS and Redis: framing + HMAC verification + XADD encoding per
// packet, blocklist lookups, statistics flush building, policy snapshot building.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/ipnet.hpp"
#include "core/redis_async.hpp"
#include "protocol/encoder.hpp"
#include "protocol/framer.hpp"
#include "server/meta_batch.hpp"
#include "server/policy.hpp"

namespace {

std::vector<std::uint8_t> packets(std::size_t count, std::size_t payload, const d4::protocol::Uuid& uuid) {
  d4::protocol::PacketEncoder enc(1, 1, uuid, "d4-test-key");
  std::vector<std::uint8_t> out, p(payload);
  for (std::size_t i = 0; i < payload; ++i) p[i] = static_cast<std::uint8_t>(i * 31);
  for (std::size_t i = 0; i < count; ++i) enc.append_packet(out, p, 1700000000);
  return out;
}

// What a session does per received packet: frame it, verify its HMAC, append the XADD to the
// batch (one copy of the payload), in 64 KB reads like the server.
void BM_SessionPacketPath(benchmark::State& state) {
  auto payload = static_cast<std::size_t>(state.range(0));
  auto uuid = d4::protocol::Uuid::generate_v4();
  auto stream = packets(256, payload, uuid);
  d4::protocol::HmacKey key("d4-test-key");
  std::string uuid_hex = uuid.dashless();
  std::string batch;
  for (auto _ : state) {
    d4::protocol::Framer framer;
    batch.clear();
    std::size_t off = 0, seq = 0;
    while (off < stream.size()) {
      auto buf = framer.prepare(64 * 1024);
      std::size_t n = std::min(buf.size(), stream.size() - off);
      std::memcpy(buf.data(), stream.data() + off, n);
      framer.commit(n);
      off += n;
      d4::protocol::Packet p;
      while (framer.next(p) == d4::protocol::Framer::Status::Ready) {
        if (!key.verify(p.raw.first<d4::protocol::kHeaderSize>(), p.payload)) state.SkipWithError("hmac");
        d4::core::RespWriter(batch)
            .begin(11)
            .arg("XADD")
            .arg("stream:1:3f2c1d3e-0000-4000-8000-000000000000")
            .arg("1700000000000-" + std::to_string(seq++))
            .arg("message")
            .arg(std::string_view(reinterpret_cast<const char*>(p.payload.data()), p.payload.size()))
            .arg("uuid")
            .arg(uuid_hex)
            .arg("timestamp")
            .arg(p.header.timestamp)
            .arg("version")
            .arg(std::uint64_t{1});
      }
      if (batch.size() > (1 << 20)) batch.clear();
    }
    benchmark::DoNotOptimize(batch.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 256));
}
BENCHMARK(BM_SessionPacketPath)->Arg(4096)->Arg(65536);

void BM_BlocklistMatch(benchmark::State& state) {
  d4::core::IpBlocklist b;
  std::mt19937 rng(42);
  for (int i = 0; i < state.range(0); ++i)
    b.add("10." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) + "." +
          std::to_string(rng() % 256));
  for (int i = 0; i < 50; ++i)
    b.add("172." + std::to_string(16 + i % 16) + ".0.0/" + std::to_string(12 + i % 12));
  b.add("2001:db8::/32");
  std::vector<d4::core::IpAddress> probes;
  for (int i = 0; i < 1024; ++i)
    probes.push_back(d4::core::IpAddress::from_v4(static_cast<std::uint32_t>(rng())));
  std::size_t i = 0, hits = 0;
  for (auto _ : state) hits += b.contains(probes[i++ & 1023]);
  benchmark::DoNotOptimize(hits);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_BlocklistMatch)->Arg(100)->Arg(100000);

// One worker's statistics flush: every sensor stored packets in the interval.
void BM_MetaFlushBuild(benchmark::State& state) {
  std::vector<std::string> uuids;
  for (int i = 0; i < state.range(0); ++i) uuids.push_back(d4::protocol::Uuid::generate_v4().dashless());
  for (auto _ : state) {
    d4::server::MetaBatch b;
    for (const auto& u : uuids) b.count_stored(u, "192.0.2.1", 1, 100, 409600);
    std::uint64_t seq = 0;
    auto reqs = b.take_requests("server:flush:x:0", seq, "20250101", 1700000000);
    benchmark::DoNotOptimize(reqs.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * state.range(0)));
}
BENCHMARK(BM_MetaFlushBuild)->Arg(20)->Arg(1000);

void BM_BuildPolicy(benchmark::State& state) {
  using d4::core::RedisReply;
  auto set = [](std::vector<std::string> v) {
    RedisReply r;
    r.type = RedisReply::Type::Array;
    for (auto& s : v) {
      RedisReply e;
      e.type = RedisReply::Type::String;
      e.str = std::move(s);
      r.elements.push_back(std::move(e));
    }
    return r;
  };
  std::vector<std::string> reg, ips;
  for (int i = 0; i < state.range(0); ++i) reg.push_back(d4::protocol::Uuid::generate_v4().dashless());
  for (int i = 0; i < 1000; ++i)
    ips.push_back("198.51." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  RedisReply key;
  key.type = RedisReply::Type::String;
  key.str = "k";
  std::vector<RedisReply> meta = {
      key, set({"1", "2", "3", "4", "8", "254"}), set({"ja3-jl"}), set(ips), set({}), set({}), set(reg)};
  RedisReply stream;
  stream.type = RedisReply::Type::Array;
  RedisReply now;
  now.type = RedisReply::Type::Integer;
  stream.elements = {now, set({}), set({})};
  for (auto _ : state) {
    auto p = d4::server::build_policy(d4::core::ServerMode::Registration, meta, stream, nullptr);
    benchmark::DoNotOptimize(p.get());
  }
}
BENCHMARK(BM_BuildPolicy)->Arg(1000)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
