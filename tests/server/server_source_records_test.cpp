// What peers that never authenticate can write into the persisted meta Redis is bounded: their
// rejects are recorded per source network (IPv4 /24, IPv6 /64), only for the top
// reject_sources_max networks, and while the meta Redis is down the server keeps aggregating in
// bounded memory and writes every count exactly once when it is back. The loopback /8 provides
// the many source addresses (127.x.y.z).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "core/keys.hpp"
#include "core/sensors.hpp"
#include "server/harness.hpp"
#include "support/process_memory.hpp"

using namespace d4;
using namespace d4::test;
namespace keys = d4::core::keys;

namespace {

// One rejected connection from `source`: plain TCP, a header of type 0 (never accepted).
void refused_from(int port, const std::string& source) {
  SensorConnection c(port, false, {}, {}, source);
  std::vector<std::uint8_t> junk(62, 0);
  c.send(junk);
  c.wait_closed(std::chrono::seconds(5));
}

// 127.<1 + n / 256>.<n % 256>.1: a distinct /24 for each n.
std::string address_in_network(int n) {
  return "127." + std::to_string(1 + n / 256) + "." + std::to_string(n % 256) + ".1";
}

long long count_keys(core::RedisClient& r, const std::string& pattern) {
  long long n = 0;
  std::string cursor = "0";
  do {
    auto reply = r.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    cursor = reply.elements.at(0).str;
    n += static_cast<long long>(reply.elements.at(1).elements.size());
  } while (cursor != "0");
  return n;
}

}  // namespace

TEST(SourceRecords, ManyFailingNetworksCreateABoundedSetOfKeys) {
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "reject_sources_max = 20\nmax_connections_per_ip = 0\n";
  ServerProcess server(redis, o);
  auto meta = server.meta();
  constexpr int kNetworks = 300;
  for (int n = 0; n < kNetworks; ++n) refused_from(server.plain_port(), address_in_network(n));
  // Every reject is counted...
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str ==
           std::to_string(kNetworks);
  })) << server.log();
  // ...but details exist for at most 20 networks: 2 keys each and the ranking.
  EXPECT_EQ(meta.command({"ZCARD", std::string(keys::kRejectSources)}).integer, 20);
  EXPECT_LE(count_keys(meta, "ip:rejects:*"), 20);
  EXPECT_LE(count_keys(meta, "ip:errors:*"), 20);
  EXPECT_LT(meta.command({"DBSIZE"}).integer, 60) << "keys of the meta Redis";
  // A network with repeated rejects takes a place, and keeps it and its details while newcomers
  // with fewer rejects come and go.
  for (int i = 0; i < 5; ++i) refused_from(server.plain_port(), "127.200.0." + std::to_string(i + 1));
  core::RedisClient stream_c = server.stream();
  core::SensorPolicy policy(meta, stream_c);
  EXPECT_TRUE(eventually([&] { return policy.ip_rejects("127.200.0.9")["type_not_accepted"] == 5; }))
      << "the record of 127.200.0.0/24";
  for (int n = kNetworks; n < kNetworks + 50; ++n) refused_from(server.plain_port(), address_in_network(n));
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str ==
           std::to_string(kNetworks + 55);
  }));
  EXPECT_EQ(policy.ip_rejects("127.200.0.9")["type_not_accepted"], 5);
  EXPECT_EQ(policy.ip_errors("127.200.0.0/24").size(), 5u);
  EXPECT_EQ(meta.command({"ZCARD", std::string(keys::kRejectSources)}).integer, 20);
  EXPECT_FALSE(meta.command({"ZSCORE", std::string(keys::kRejectSources), "127.200.0.0/24"}).is_nil());
}

TEST(SourceRecords, MetaRedisOutageKeepsBoundedMemoryAndCountsEveryRejectOnce) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
  setrlimit(RLIMIT_NOFILE, &rl);
  RedisServer stream_redis, meta_redis;
  ServerOptions o;
  o.meta_redis = &meta_redis;
  o.extra_server_toml = "max_connections_per_ip = 0\n";
  ServerProcess server(stream_redis, o);
  auto pending_meta = [&] {  // the control thread and the two session threads
    double sum = 0;
    for (int w = 0; w <= o.threads; ++w)
      sum += metric(server.metrics_port(),
                    "d4_server_redis_pending_requests{redis=\"meta\",worker=\"" + std::to_string(w) + "\"}")
                 .value_or(-1);
    return sum;
  };
  meta_redis.stop();
  long before = rss_kb(server.pid());
  constexpr int kNetworks = 3000;
  for (int n = 0; n < kNetworks; ++n) refused_from(server.plain_port(), address_in_network(n));
  long during = rss_kb(server.pid());
  // One flush (a few calls) waits per worker thread; the rest is aggregated, bounded.
  EXPECT_LT(pending_meta(), 100.0);
  if (kRssReflectsTheHeap) {
    EXPECT_LT(during - before, 16 * 1024) << "RSS " << before << " kB -> " << during << " kB";
  }
  meta_redis.start();
  auto meta = server.meta();
  EXPECT_TRUE(eventually(
      [&] {
        return meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str ==
               std::to_string(kNetworks);
      },
      std::chrono::seconds(20)))
      << meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str << "\n"
      << server.log();
  // Details beyond the per-interval bound were dropped, and counted.
  double dropped = metric(server.metrics_port(), "d4_server_reject_details_dropped_total").value_or(-1);
  EXPECT_GT(dropped, 0.0);
  EXPECT_LE(meta.command({"ZCARD", std::string(keys::kRejectSources)}).integer, 256);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(meta.command({"HGET", std::string(keys::kServerRejects), "type_not_accepted"}).str,
            std::to_string(kNetworks))
      << "applied exactly once";
}
