// Before authentication a peer costs the bytes it sent, no more: a header declaring a megabyte
// commits nothing, the bytes held for unauthenticated connections are capped over the process and
// per peer (the connection going over is closed and counted), and memory is given back when such
// connections close. Measured on the real d4-server's RSS.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <thread>

#include "core/keys.hpp"
#include "server/harness.hpp"
#include "support/process_memory.hpp"

using namespace d4;
using namespace d4::test;

namespace {

double gauge(ServerProcess& s, const std::string& name) {
  return metric(s.metrics_port(), name).value_or(-1);
}

void raise_fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
  setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace

TEST(UnauthenticatedPeers, DeclaredMegabytesCostOnlyTheBytesSentAndMemoryReturnsWhenTheyClose) {
  raise_fd_limit();
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "max_connections_per_ip = 0\n";
  ServerProcess server(redis, o);
  constexpr int kConnections = 300;
  auto one_mb = make_packet(random_uuid(), 1, kTestHmacKey, std::string(1'000'000, 'm'));
  auto start = std::span<const std::uint8_t>(one_mb.data(), protocol::kHeaderSize + 100);
  // Idle is measured once a few TLS connections came and went and their memory was returned: the
  // first handshakes page in code and create OpenSSL's per-thread state, which stay whatever the
  // connections do.
  {
    std::vector<std::unique_ptr<SensorConnection>> warm_up;
    for (int i = 0; i < 4; ++i)
      warm_up.push_back(std::make_unique<SensorConnection>(server.tls_port(), true));
  }
  ASSERT_TRUE(eventually([&] { return gauge(server, "d4_server_connections") == 0.0; }));
  ASSERT_TRUE(eventually([&] { return gauge(server, "d4_server_memory_trims_total") >= 1.0; }));
  const long idle = rss_kb(server.pid());
  for (int round = 0; round < 2; ++round) {
    std::vector<std::unique_ptr<SensorConnection>> conns;
    for (int i = 0; i < kConnections; ++i) {
      conns.push_back(std::make_unique<SensorConnection>(server.tls_port(), true));
      ASSERT_TRUE(conns.back()->send(start));
    }
    ASSERT_TRUE(eventually([&] {
      return gauge(server, "d4_server_unauthenticated_bytes") == kConnections * (62.0 + 100.0);
    })) << gauge(server, "d4_server_unauthenticated_bytes");
    const long held = rss_kb(server.pid());
    // 300 declared megabytes took 290 MB before; now TLS state and a few KB of buffer each.
    if (kRssReflectsTheHeap) {
      EXPECT_LT(held - idle, 40 * 1024) << "RSS " << idle << " kB -> " << held << " kB";
    }
    conns.clear();
    EXPECT_TRUE(eventually([&] { return gauge(server, "d4_server_connections") == 0.0; }));
    EXPECT_EQ(gauge(server, "d4_server_unauthenticated_bytes"), 0.0);
    // What stays is bounded per thread, not per connection: the allocator's per-thread caches of
    // small blocks (up to 7 per size) keep some pages of each session thread's heap.
    long after = 0;
    if (kRssReflectsTheHeap) {
      EXPECT_TRUE(eventually(
          [&] {
            after = rss_kb(server.pid());
            return after < idle + 4 * 1024;
          },
          std::chrono::seconds(10), std::chrono::milliseconds(200)))
          << "RSS idle " << idle << " kB, with connections " << held << " kB, 10 s after they closed "
          << after << " kB; trims " << gauge(server, "d4_server_memory_trims_total");
    }
  }
}

TEST(UnauthenticatedPeers, BudgetsCloseTheConnectionThatGoesOverAndCountIt) {
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml =
      "max_payload = 100000\nunauthenticated_bytes_per_ip = 150000\nunauthenticated_bytes_max = 250000\n";
  ServerProcess server(redis, o);
  auto held = [&] { return gauge(server, "d4_server_unauthenticated_bytes"); };
  auto rejects = [&](const std::string& reason) {
    return gauge(server, "d4_server_rejects_total{reason=\"" + reason + "\"}");
  };
  auto uuid = random_uuid();
  auto honest = make_packet(uuid, 1, kTestHmacKey, std::string(100'000, 'h'));
  auto big = make_packet(random_uuid(), 1, kTestHmacKey, std::string(100'000, 'x'));
  auto part = [](const std::vector<std::uint8_t>& p, std::size_t n) {
    return std::span<const std::uint8_t>(p.data(), n);
  };
  // An honest sensor's first packet (the largest allowed) in progress from 127.0.0.1.
  SensorConnection a(server.tls_port(), true);
  ASSERT_TRUE(a.send(part(honest, 90'062)));
  ASSERT_TRUE(eventually([&] { return held() == 90'062.0; })) << held();
  // The same address may hold 150,000 bytes: a second connection going over is closed.
  SensorConnection b(server.tls_port(), true);
  b.send(part(big, 80'000));
  EXPECT_TRUE(b.wait_closed(std::chrono::seconds(5)));
  EXPECT_TRUE(eventually([&] { return rejects("unauthenticated_budget_ip") == 1.0; }));
  EXPECT_TRUE(eventually([&] { return held() == 90'062.0; })) << "the closed connection's bytes are back";
  // Other addresses share the process budget of 250,000 bytes.
  SensorConnection c(server.tls_port(), true, {}, {}, "127.0.0.2");
  ASSERT_TRUE(c.send(part(big, 99'062)));
  ASSERT_TRUE(eventually([&] { return held() == 189'124.0; })) << held();
  SensorConnection d(server.tls_port(), true, {}, {}, "127.0.0.3");
  d.send(part(big, 80'000));
  EXPECT_TRUE(d.wait_closed(std::chrono::seconds(5)));
  EXPECT_TRUE(eventually([&] { return rejects("unauthenticated_budget") == 1.0; }));
  EXPECT_FALSE(a.wait_closed(std::chrono::milliseconds(100))) << "connections within the budget stay";
  // The honest sensor completes its packet: it authenticates and its bytes leave the budget.
  ASSERT_TRUE(a.send(std::span<const std::uint8_t>(honest.data() + 90'062, honest.size() - 90'062)));
  auto s = server.stream();
  EXPECT_TRUE(eventually([&] {
    auto ks = stream_keys(s, 1);
    return ks.size() == 1 && s.command({"XLEN", ks[0]}).integer == 1;
  })) << server.log();
  EXPECT_TRUE(eventually([&] { return held() == 99'062.0; })) << held();
  auto meta = server.meta();
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", std::string(core::keys::kServerRejects), "unauthenticated_budget_ip"}).str ==
           "1";
  }));
}

// blacklist_ip_by_uuid blocks the addresses a sensor comes from: only a peer that proved it holds
// the sensor's key adds its address, and at most auto_blocked_ips_max addresses are added.
TEST(UnauthenticatedPeers, BlockIpsOfUuidNeedsTheSensorsKeyAndIsCapped) {
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "auto_blocked_ips_max = 2\n";
  ServerProcess server(redis, o);
  auto meta = server.meta();
  auto uuid = random_uuid();
  meta.command({"SADD", "blacklist_ip_by_uuid", uuid.dashless()});
  ASSERT_TRUE(server.wait_policy_reloads()) << server.log();
  auto try_from = [&](const std::string& source, const std::string& key) {
    SensorConnection c(server.tls_port(), true, {}, {}, source);
    c.send(make_packet(uuid, 3, key, "x\n"));
    return c.wait_closed(std::chrono::seconds(5));
  };
  for (int i = 10; i < 20; ++i) EXPECT_TRUE(try_from("127.0.0." + std::to_string(i), "not the key"));
  EXPECT_TRUE(
      eventually([&] { return gauge(server, "d4_server_rejects_total{reason=\"hmac_mismatch\"}") == 10.0; }));
  EXPECT_EQ(meta.command({"SCARD", "blacklist_ip"}).integer, 0) << "naming the UUID blocks nobody";
  for (int i = 20; i < 23; ++i) EXPECT_TRUE(try_from("127.0.0." + std::to_string(i), kTestHmacKey));
  EXPECT_TRUE(eventually([&] { return gauge(server, "d4_server_auto_blocks_refused_total") == 1.0; }));
  EXPECT_EQ(meta.command({"SCARD", "blacklist_ip"}).integer, 2);
  EXPECT_EQ(meta.command({"SISMEMBER", "blacklist_ip", "127.0.0.20"}).integer, 1);
  EXPECT_EQ(gauge(server, "d4_server_rejects_total{reason=\"blocked_ip_by_uuid\"}"), 3.0)
      << "the third address is refused all the same";
  auto s = server.stream();
  EXPECT_TRUE(stream_keys(s, 3).empty()) << "nothing stored";
}
