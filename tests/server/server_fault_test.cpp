// Faults: Redis stopped/killed mid-stream, sensors that vanish, many connections, several server
// instances sharing one Redis (one of them killed), shutdown with and without Redis.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "core/keys.hpp"
#include "server/harness.hpp"

using namespace d4;
using namespace d4::test;
namespace keys = d4::core::keys;

namespace {

std::string single_stream_data(core::RedisClient& s, int type, std::size_t* entries = nullptr) {
  auto ks = stream_keys(s, type);
  if (ks.size() != 1) return {};
  return stream_payloads(s, ks[0], entries);
}

// Streams `count` packets of distinct content while the caller breaks Redis; returns what was sent.
std::string stream_while(SensorConnection& c, const protocol::Uuid& uuid, int count, std::atomic<int>& sent) {
  std::string all;
  for (int i = 0; i < count; ++i) {
    std::string p =
        "packet " + std::to_string(i) + " " + std::string(900, static_cast<char>('a' + i % 26)) + "\n";
    if (!c.send(make_packet(uuid, 3, kTestHmacKey, p))) break;
    all += p;
    ++sent;
    if (i % 50 == 0) std::this_thread::sleep_for(5ms);
  }
  return all;
}

}  // namespace

// Redis stopped (clean) and later killed (SIGKILL) in the middle of a stream: the server stops
// reading, keeps what it accepted, re-sends unconfirmed batches after the restart, and the
// stream holds every packet exactly once and in order.
TEST(ServerFaults, RedisStoppedAndKilledMidStreamNothingAcceptedIsLost) {
  RedisServer redis(/*persistent=*/true);
  ServerOptions o;
  o.extra_server_toml = "redis_reply_timeout_ms = 2000\n";
  ServerProcess server(redis, o);
  auto uuid = random_uuid();
  SensorConnection c(server.tls_port(), true);
  std::atomic<int> sent{0};
  std::string expect;
  std::thread sender([&] { expect = stream_while(c, uuid, 3000, sent); });
  ASSERT_TRUE(eventually([&] { return sent > 300; }));
  // Each outage lasts until the server has noticed it (health reports Redis down).
  auto reports_redis_down = [&] {
    auto h = http_get(server.metrics_port(), "/health");
    return h && h->status == 503;
  };
  redis.stop();
  EXPECT_TRUE(eventually(reports_redis_down)) << "health reports Redis down";
  redis.start();
  ASSERT_TRUE(eventually([&] { return sent > 1500; }, 30s));
  redis.kill_hard();
  EXPECT_TRUE(eventually(reports_redis_down)) << "health reports Redis down";
  redis.start();
  sender.join();
  ASSERT_EQ(sent, 3000) << "the sensor was never disconnected";
  auto s = server.stream();
  std::string data;
  std::size_t entries = 0;
  ASSERT_TRUE(eventually(
      [&] {
        data = single_stream_data(s, 3, &entries);
        return data.size() >= expect.size();
      },
      60s))
      << data.size() << " of " << expect.size() << "\n"
      << server.log();
  EXPECT_EQ(entries, 3000u) << "no packet stored twice";
  EXPECT_TRUE(data == expect) << "order and content preserved";
  EXPECT_EQ(metric(server.metrics_port(), "d4_server_lost_packets_total"), 0.0);
  // Counted once the server has read the reply of the write whose data is already visible.
  EXPECT_TRUE(eventually([&] {
    return metric(server.metrics_port(), "d4_server_packets_total{type=\"3\"}") == 3000.0;
  })) << server.log();
}

// A sensor that vanishes: complete packets are kept, the partial one is counted, the session
// ends (workers see ended_session) and the slot is free for the sensor's next connection.
TEST(ServerFaults, ClientVanishingMidPacketEndsTheSessionAndFreesTheSlot) {
  RedisServer redis;
  ServerProcess server(redis);
  auto s = server.stream();
  auto meta = server.meta();
  for (bool reset : {false, true}) {
    auto uuid = random_uuid();
    std::string u = uuid.dashless();
    SensorConnection c(server.tls_port(), true);
    std::string expect;
    for (int i = 0; i < 10; ++i) {
      std::string p = std::string(reset ? "reset " : "close ") + "record " + std::to_string(i) + "\n";
      expect += p;
      ASSERT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, p)));
    }
    auto half = make_packet(uuid, 1, kTestHmacKey, std::string(3000, 'h'));
    ASSERT_TRUE(c.send(std::span<const std::uint8_t>(half.data(), 1500)));
    std::string key;
    ASSERT_TRUE(eventually([&] {
      for (const auto& k : stream_keys(s, 1))
        if (stream_payloads(s, k) == expect) key = k;
      return !key.empty();
    }));
    if (reset)
      c.abort();  // RST, no TLS close_notify: the process died
    else
      c.close();  // FIN in the middle of a packet
    std::string session = key.substr(key.rfind(':') + 1);
    EXPECT_TRUE(eventually([&] { return s.command({"SISMEMBER", "ended_session", session}).integer == 1; }));
    EXPECT_EQ(stream_payloads(s, key), expect);
    EXPECT_TRUE(eventually([&] { return s.command({"SISMEMBER", "active_connection:1", u}).integer == 0; }));
    std::vector<std::string> rejects;
    ASSERT_TRUE(eventually([&] {
      rejects = meta.command({"HGETALL", keys::sensor_rejects(u)}).as_strings();
      return rejects.size() == 2;
    })) << (reset ? "reset" : "close")
        << ": " << rejects.size() << " reject fields\n"
        << server.log();
    EXPECT_TRUE(rejects[0] == "truncated" || rejects[0] == "transport_error") << rejects[0];
    SensorConnection again(server.tls_port(), true);
    ASSERT_TRUE(again.send(make_packet(uuid, 1, kTestHmacKey, "back\n")));
    EXPECT_FALSE(again.wait_closed(500ms)) << "the slot was released";
  }
}

TEST(ServerFaults, ThousandConcurrentConnections) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 4096) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  ASSERT_GE(rl.rlim_cur, 2200u) << "RLIMIT_NOFILE too low for the test";
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "max_connections_per_ip = 0\n";
  ServerProcess server(redis, o);
  constexpr int kN = 1000;
  std::vector<std::unique_ptr<SensorConnection>> conns;
  std::vector<protocol::Uuid> uuids;
  for (int i = 0; i < kN; ++i) {
    conns.push_back(std::make_unique<SensorConnection>(server.tls_port(), true));
    uuids.push_back(random_uuid());
  }
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < kN; ++i)
      ASSERT_TRUE(conns[static_cast<std::size_t>(i)]->send(make_packet(
          uuids[static_cast<std::size_t>(i)], 3, kTestHmacKey, "sensor " + std::to_string(i) + "\n")));
  EXPECT_TRUE(eventually([&] { return metric(server.metrics_port(), "d4_server_connections") == kN; }, 30s));
  EXPECT_TRUE(eventually(
      [&] { return metric(server.metrics_port(), "d4_server_packets_total{type=\"3\"}") == 2 * kN; }, 60s));
  auto s = server.stream();
  EXPECT_EQ(s.command({"SCARD", "active_connection:3"}).integer, kN);
  auto keys3 = stream_keys(s, 3);
  EXPECT_EQ(keys3.size(), static_cast<std::size_t>(kN));
  for (std::size_t i = 0; i < keys3.size(); i += 97) EXPECT_EQ(s.command({"XLEN", keys3[i]}).integer, 2);
  conns.clear();
  EXPECT_TRUE(eventually([&] { return s.command({"SCARD", "ended_session"}).integer == kN; }, 60s));
  EXPECT_TRUE(eventually([&] { return s.command({"EXISTS", "active_connection:3"}).integer == 0; }, 30s));
  EXPECT_EQ(server.stop(), 0);
}

// Two instances share one Redis: (uuid, type) slots are exclusive across them; when one is
// killed, the other ends its sessions (ended_session for the workers) and frees its slots.
TEST(ServerFaults, InstancesShareRedisAndADeadInstanceIsReaped) {
  RedisServer redis;
  ServerProcess a(redis), b(redis);
  auto s = a.stream();
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  SensorConnection on_a(a.tls_port(), true);
  ASSERT_TRUE(on_a.send(make_packet(uuid, 1, kTestHmacKey, "via a")));
  ASSERT_TRUE(eventually([&] { return stream_keys(s, 1).size() == 1; }));
  std::string key = stream_keys(s, 1)[0];
  std::string session = key.substr(key.rfind(':') + 1);
  {
    SensorConnection dup(b.tls_port(), true);
    ASSERT_TRUE(dup.send(make_packet(uuid, 1, kTestHmacKey, "via b")));
    EXPECT_TRUE(dup.wait_closed(5s)) << "the slot is held by the other instance";
  }
  EXPECT_EQ(s.command({"SCARD", "server:instances"}).integer, 2);
  a.kill_hard();
  // Within instance_ttl (3 s) plus a heartbeat, b ends a's session and releases the slot.
  EXPECT_TRUE(eventually(
      [&] {
        return s.command({"SISMEMBER", "ended_session", session}).integer == 1;
      },
      15s))
      << b.log();
  // The instance is forgotten in the reaper's last step, after its sessions were ended.
  EXPECT_TRUE(eventually(
      [&] {
        return s.command({"SCARD", "server:instances"}).integer == 1;
      },
      10s))
      << b.log();
  EXPECT_EQ(s.command({"SISMEMBER", "active_connection:1", u}).integer, 0);
  EXPECT_EQ(s.command({"EXISTS", keys::sessions_of_sensor(u)}).integer, 0);
  SensorConnection on_b(b.tls_port(), true);
  ASSERT_TRUE(on_b.send(make_packet(uuid, 1, kTestHmacKey, "via b again")));
  EXPECT_FALSE(on_b.wait_closed(500ms));
  EXPECT_TRUE(eventually([&] { return stream_keys(s, 1).size() == 2; }));
}

TEST(ServerFaults, CleanShutdownStoresEverythingAndEndsSessions) {
  RedisServer redis;
  ServerProcess server(redis);
  auto uuid = random_uuid();
  SensorConnection c(server.tls_port(), true);
  std::string expect;
  for (int i = 0; i < 200; ++i) {
    std::string p = "line " + std::to_string(i) + "\n";
    expect += p;
    ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, p)));
  }
  auto s = server.stream();
  ASSERT_TRUE(eventually([&] { return single_stream_data(s, 3) == expect; }));
  std::string key = stream_keys(s, 3)[0];
  std::string session = key.substr(key.rfind(':') + 1);
  EXPECT_EQ(server.stop(), 0);
  EXPECT_TRUE(c.wait_closed(1s));
  EXPECT_EQ(s.command({"SISMEMBER", "ended_session", session}).integer, 1);
  EXPECT_EQ(s.command({"EXISTS", "active_connection:3"}).integer, 0);
  EXPECT_EQ(s.command({"SCARD", "server:instances"}).integer, 0);
  EXPECT_NE(server.log().find("every accepted packet is stored"), std::string::npos);
  // Statistics were flushed before exit.
  auto meta = server.meta();
  auto today = meta.command({"GET", "first_date"}).str;
  EXPECT_EQ(meta.command({"ZSCORE", keys::daily_uuid(today), uuid.dashless()}).str, "200");
}

TEST(ServerFaults, LongRedisOutageClosesSessionsAfterTheConfiguredTimeAndShutdownIsBounded) {
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "redis_outage_close_after = 2\nshutdown_timeout = 2\n";
  ServerProcess server(redis, o);
  auto uuid = random_uuid();
  SensorConnection c(server.tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "x\n")));
  auto s = server.stream();
  ASSERT_TRUE(eventually([&] { return !single_stream_data(s, 3).empty(); }));
  redis.stop();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.wait_closed(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1500ms);
  EXPECT_TRUE(eventually([&] {
    return metric(server.metrics_port(), "d4_server_rejects_total{reason=\"redis_unavailable\"}") == 1.0;
  }));
  // Shutdown with Redis still down: bounded by shutdown_timeout, and reported.
  auto t1 = std::chrono::steady_clock::now();
  server.stop(20s);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 8s);
}

TEST(ServerFaults, SighupReloadsTheModeAndAppliesItToLiveConnections) {
  RedisServer redis;
  ServerProcess server(redis);
  auto uuid = random_uuid();
  SensorConnection c(server.tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "x\n")));
  auto s = server.stream();
  ASSERT_TRUE(eventually([&] { return !single_stream_data(s, 3).empty(); }));
  ServerOptions o;
  o.mode = "registration";
  server.write_config(o);
  server.signal(SIGHUP);
  EXPECT_TRUE(c.wait_closed(5s)) << "an unregistered sensor is closed once registration mode applies";
  auto meta = server.meta();
  EXPECT_TRUE(eventually([&] { return meta.command({"GET", "server:mode"}).str == "registration"; }));
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::sensor_rejects(uuid.dashless()), "unregistered"}).str == "1";
  }));
}

TEST(ServerFaults, MutualTlsRequiresAClientCertificateFromTheConfiguredCa) {
  TempDir pki;
  auto run = [&](const std::string& cmd) {
    return std::system(("cd " + pki.path().string() + " && " + cmd + " >/dev/null 2>&1").c_str());
  };
  ASSERT_EQ(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out "
                "ca.crt -days 2 -subj /CN=sensors-ca"),
            0);
  ASSERT_EQ(run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out "
                "client.csr -subj /CN=sensor-1"),
            0);
  ASSERT_EQ(run("openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt "
                "-days 2"),
            0);
  ASSERT_EQ(run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out "
                "other.crt -days 2 -subj /CN=stranger"),
            0);
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml =
      "tls_client_ca = \"" + (pki.path() / "ca.crt").string() + "\"\ntls_require_client_cert = true\n";
  ServerProcess server(redis, o);
  EXPECT_FALSE(tls_handshake_ok(server.tls_port())) << "no client certificate";
  EXPECT_FALSE(tls_handshake_ok(server.tls_port(), (pki.path() / "other.crt").string(),
                                (pki.path() / "other.key").string()))
      << "certificate from another CA";
  EXPECT_TRUE(tls_handshake_ok(server.tls_port(), (pki.path() / "client.crt").string(),
                               (pki.path() / "client.key").string()));
  auto meta = server.meta();
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::ip_rejects("127.0.0.0/24"), "tls_handshake"})
               .as_integer()
               .value_or(0) >= 2;
  }));
  SensorConnection c(server.tls_port(), true, (pki.path() / "client.crt").string(),
                     (pki.path() / "client.key").string());
  auto uuid = random_uuid();
  ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "mtls\n")));
  auto s = server.stream();
  EXPECT_TRUE(eventually([&] { return single_stream_data(s, 3) == "mtls\n"; }));
}
