// One authenticated sensor must not hurt the others: the meta-header byte limit, byte limits on
// a session's and a sensor's backlog, the cap on parallel type 2/254 sessions, and the global
// budget tied to the stream Redis's memory. Real redis-server, real d4-server, real TLS.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "core/keys.hpp"
#include "core/sensors.hpp"
#include "server/harness.hpp"

using namespace d4;
using namespace d4::test;
namespace keys = d4::core::keys;

namespace {

long long hash_int(core::RedisClient& r, const std::string& key, const std::string& field) {
  return r.command({"HGET", key, field}).as_integer().value_or(0);
}

std::size_t total_entries(core::RedisClient& stream, int type) {
  std::size_t n = 0;
  for (const auto& k : stream_keys(stream, type))
    n += static_cast<std::size_t>(stream.command({"XLEN", k}).integer);
  return n;
}

// A thread sending on a connection that back-pressure may hold: leaving the scope (also when an
// assertion fails) shuts the socket down, which unblocks the sender, and waits for it.
class Sender {
 public:
  Sender(SensorConnection& c, std::function<void()> body) : c_(c), t_(std::move(body)) {}
  ~Sender() { stop(); }
  void stop() {
    if (!t_.joinable()) return;
    ::shutdown(c_.fd(), SHUT_RDWR);
    t_.join();
  }

 private:
  SensorConnection& c_;
  std::thread t_;
};

}  // namespace

TEST(ServerBacklog, MetaHeaderPaddedWithBlanksBeyondTheLimitClosesTheSession) {
  RedisServer redis;
  ServerProcess server(redis);
  auto uuid = random_uuid();
  auto meta = server.meta();
  auto stream = server.stream();
  SensorConnection c(server.tls_port(), true);
  // 60,000 blanks are a legal start; 60,000 more exceed the 100,000 bytes a meta header may have.
  ASSERT_TRUE(c.send(make_packet(uuid, 2, kTestHmacKey, std::string(60'000, ' '))));
  c.send(make_packet(uuid, 2, kTestHmacKey, std::string(60'000, '\n')));
  EXPECT_TRUE(c.wait_closed(10s)) << server.log();
  EXPECT_TRUE(eventually([&] {
    return hash_int(meta, keys::sensor_rejects(uuid.dashless()), "meta_header_too_large") == 1;
  })) << server.log();
  EXPECT_EQ(total_entries(stream, 2), 1u) << "the packet past the limit is not stored";
  EXPECT_EQ(metric(server.metrics_port(), "d4_server_rejects_total{reason=\"meta_header_too_large\"}"), 1.0);
  auto errors = meta.command({"LRANGE", keys::sensor_errors(uuid.dashless()), "0", "0"}).as_strings();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(core::parse_sensor_error(errors[0]).detail.find("whitespace"), std::string::npos);
}

TEST(ServerBacklog, ParallelMetaSessionsOfOneSensorAreCapped) {
  RedisServer redis;
  ServerOptions o;
  o.extra_server_toml = "max_meta_sessions_per_sensor = 3\n";
  ServerProcess server(redis, o);
  auto flooder = random_uuid(), other = random_uuid();
  auto meta = server.meta();
  auto stream = server.stream();
  const std::string header = R"({"type": "maltrail"})";
  std::vector<std::unique_ptr<SensorConnection>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<SensorConnection>(server.tls_port(), true));
    ASSERT_TRUE(open.back()->send(make_packet(flooder, 2, kTestHmacKey, header)));
  }
  ASSERT_TRUE(eventually([&] { return total_entries(stream, 2) == 3; }));
  // A fourth parallel type-2 session of the same sensor is refused; another sensor is not.
  SensorConnection fourth(server.tls_port(), true);
  fourth.send(make_packet(flooder, 2, kTestHmacKey, header));
  EXPECT_TRUE(fourth.wait_closed(10s));
  EXPECT_TRUE(eventually([&] {
    return hash_int(meta, keys::sensor_rejects(flooder.dashless()), "too_many_sessions") == 1;
  })) << server.log();
  SensorConnection honest(server.tls_port(), true);
  ASSERT_TRUE(honest.send(make_packet(other, 2, kTestHmacKey, header)));
  EXPECT_TRUE(eventually([&] { return total_entries(stream, 2) == 4; }));
  EXPECT_FALSE(honest.wait_closed(300ms));
  EXPECT_EQ(metric(server.metrics_port(), "d4_server_rejects_total{reason=\"too_many_sessions\"}"), 1.0);
  // Once one of them ends, the sensor may open another.
  open.front()->close();
  ASSERT_TRUE(eventually([&] {
    return stream.command({"SCARD", keys::active_uuid_type2(flooder.dashless())}).integer == 2;
  }));
  SensorConnection again(server.tls_port(), true);
  ASSERT_TRUE(again.send(make_packet(flooder, 2, kTestHmacKey, header)));
  EXPECT_TRUE(eventually([&] { return total_entries(stream, 2) == 5; }));
  EXPECT_FALSE(again.wait_closed(300ms));
}

// One server for the suite with byte limits on a session's (200 kB) and a sensor's (300 kB)
// backlog and no worker: whatever is stored stays, as when the workers fall behind. A flooding
// sensor opens one session, then a second; an honest sensor sends beside them. The tests follow
// that story; each first brings the flood to the stage it needs (first_session_held(),
// second_session_held()), so that it also passes alone.
class ServerByteLimits : public ::testing::Test {
 protected:
  struct Shared {
    RedisServer redis;
    ServerProcess server{redis, options()};
    protocol::Uuid flooder = random_uuid(), honest = random_uuid();
    std::string chunk = std::string(10'000, 'f');
    std::unique_ptr<SensorConnection> a, b;
    std::unique_ptr<Sender> flood_a, flood_b;  // destroyed first: they send on a and b
  };
  static ServerOptions options() {
    ServerOptions o;
    o.extra_server_toml = "max_session_backlog_bytes = 200000\nmax_sensor_backlog_bytes = 300000\n";
    return o;
  }
  static void SetUpTestSuite() { shared_ = std::make_unique<Shared>(); }
  static void TearDownTestSuite() { shared_.reset(); }

  static Shared& s() { return *shared_; }
  static std::string flooder() { return s().flooder.dashless(); }
  static std::optional<double> server_metric(const std::string& name) {
    return metric(s().server.metrics_port(), name);
  }
  static long long sensor_backlog_bytes() {
    auto stream = s().server.stream();
    return hash_int(stream, std::string(keys::kBacklogBytesBySensor), flooder());
  }
  // A flooding session sending 100 packets of 10 kB of `type`.
  static void flood(std::unique_ptr<SensorConnection>& conn, std::unique_ptr<Sender>& sender,
                    std::uint8_t type) {
    conn = std::make_unique<SensorConnection>(s().server.tls_port(), true);
    SensorConnection& c = *conn;
    sender = std::make_unique<Sender>(c, [&c, type] {
      for (int i = 0; i < 100; ++i)
        if (!c.send(make_packet(s().flooder, type, kTestHmacKey, s().chunk))) return;
    });
  }
  // The flooder's first session, held at its session limit.
  static void first_session_held() {
    if (s().flood_a) return;
    flood(s().a, s().flood_a, 3);
    ASSERT_TRUE(eventually(
        [] { return server_metric("d4_server_paused_sessions{cause=\"session_bytes\"}") == 1.0; }, 30s))
        << s().server.log();
  }
  // The flooder's second session, held by the sensor's limit: waited for on the count of times a
  // session started waiting for its sensor's limit, which only grows. The number of sessions paused
  // for it is no event to wait for: it is 1 while the second session alone knows the sensor
  // reached its limit, and 2 from the first session's next backlog poll (200 ms after the second
  // session's batch is stored), a window a loaded machine misses.
  static void second_session_held() {
    ASSERT_NO_FATAL_FAILURE(first_session_held());
    if (s().flood_b) return;
    flood(s().b, s().flood_b, 8);
    ASSERT_TRUE(eventually(
        [] {
          return server_metric("d4_server_backpressure_total{cause=\"sensor_bytes\"}").value_or(0) >= 1.0;
        },
        30s))
        << s().server.log();
  }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(ServerByteLimits, AFloodingSessionIsHeldAtItsSessionLimitAndCountsWhatIsStored) {
  ASSERT_NO_FATAL_FAILURE(first_session_held());
  auto stream = s().server.stream();
  auto session_bytes = [&] {
    long long total = 0;
    for (const auto& v : stream.command({"HVALS", keys::kBacklogBytesBySession}).as_strings())
      total += std::stoll(v);
    return total;
  };
  // Held within one packet of the limit, and the count matches what is stored. The pause is
  // decided on what was read (stored + in flight to Redis): the stored count reaches the limit
  // once the writes in flight are confirmed.
  EXPECT_TRUE(eventually([] { return sensor_backlog_bytes() >= 200'000; }, 30s));
  EXPECT_LE(sensor_backlog_bytes(), 210'000);
  EXPECT_EQ(static_cast<long long>(total_entries(stream, 3)) * 10'000, session_bytes());
}

TEST_F(ServerByteLimits, ASecondSessionOfTheSensorStoresAtMostOnePacketBeyondTheSensorLimit) {
  ASSERT_NO_FATAL_FAILURE(second_session_held());
  EXPECT_GE(server_metric("d4_server_paused_sessions{cause=\"sensor_bytes\"}").value_or(0), 1.0);
  // The first session is held and knows nothing is unconfirmed.
  EXPECT_TRUE(eventually([] { return sensor_backlog_bytes() >= 300'000; }, 30s));
  EXPECT_LE(sensor_backlog_bytes(), 310'000);
}

TEST_F(ServerByteLimits, WithItsNextBacklogPollTheFirstSessionIsHeldByTheSensorLimitToo) {
  ASSERT_NO_FATAL_FAILURE(second_session_held());
  EXPECT_TRUE(eventually(
      [] { return server_metric("d4_server_paused_sessions{cause=\"sensor_bytes\"}") == 2.0; }, 30s));
}

TEST_F(ServerByteLimits, AnotherSensorIsStoredWhileTheFlooderIsHeld) {
  ASSERT_NO_FATAL_FAILURE(second_session_held());
  auto stream = s().server.stream();
  SensorConnection c(s().server.tls_port(), true);
  std::string expect;
  for (int i = 0; i < 30; ++i) {
    std::string line = "honest " + std::to_string(i) + std::string(5000, '.') + "\n";
    expect += line;
    ASSERT_TRUE(c.send(make_packet(s().honest, 3, kTestHmacKey, line)));
  }
  std::string stored;
  ASSERT_TRUE(eventually(
      [&] {
        stored.clear();
        for (const auto& k : stream_keys(stream, 3)) {
          auto data = stream_payloads(stream, k);
          if (data.rfind("honest", 0) == 0) stored = data;
        }
        return stored == expect;
      },
      30s));
}

TEST_F(ServerByteLimits, BackpressureIsCountedPerSensorGloballyAndInTheMetrics) {
  ASSERT_NO_FATAL_FAILURE(second_session_held());
  auto meta = s().server.meta();
  EXPECT_TRUE(eventually(
      [&] {
        return hash_int(meta, keys::sensor_backpressure(flooder()), "session_bytes") >= 1 &&
               hash_int(meta, keys::sensor_backpressure(flooder()), "sensor_bytes") >= 1;
      },
      30s));
  EXPECT_EQ(meta.command({"EXISTS", keys::sensor_backpressure(s().honest.dashless())}).integer, 0);
  EXPECT_GE(hash_int(meta, std::string(keys::kServerBackpressure), "session_bytes"), 1);
  EXPECT_GE(server_metric("d4_server_backpressure_total{cause=\"sensor_bytes\"}").value_or(0), 1.0);
}

// The suite's last test: it stops the flood.
TEST_F(ServerByteLimits, HeldSessionsAreNotDisconnected) {
  ASSERT_NO_FATAL_FAILURE(second_session_held());
  // Held, not disconnected: once the backlog is processed, the sessions go on.
  EXPECT_FALSE(s().a->wait_closed(100ms));
  EXPECT_FALSE(s().b->wait_closed(100ms));
  s().flood_a->stop();
  s().flood_b->stop();
}

// Several sessions of one sensor each decide on the sensor's count as Redis last told them (with
// their own batch's reply or their backlog poll) plus their own unconfirmed bytes: what the others
// have in flight meanwhile is not seen. The overshoot is therefore bounded by what the other
// sessions can have unconfirmed: less than max_session_pending_bytes + read_size + one packet each
// (docs/server.md, Admission). Eight sessions start together against a small limit.
TEST(ServerBacklog, ParallelSessionsOvershootTheSensorLimitByAtMostWhatTheOthersHaveUnconfirmed) {
  RedisServer redis;
  constexpr long long kLimit = 200'000, kPending = 65'536, kRead = 16'384, kMaxPayload = 20'000;
  constexpr int kSessions = 8;
  ServerOptions o;
  o.extra_server_toml =
      "max_session_backlog_bytes = 0\nmax_sensor_backlog_bytes = " + std::to_string(kLimit) +
      "\nmax_session_pending_bytes = " + std::to_string(kPending) + "\nread_size = " + std::to_string(kRead) +
      "\nmax_payload = " + std::to_string(kMaxPayload) + "\n";
  ServerProcess server(redis, o);
  auto flooder = random_uuid();
  const std::string f = flooder.dashless();
  auto stream = server.stream();
  const std::string header = R"({"type": "ja3-jl"})";
  const std::string chunk(10'000, 'f');
  std::vector<std::unique_ptr<SensorConnection>> conns;
  for (int i = 0; i < kSessions; ++i)
    conns.push_back(std::make_unique<SensorConnection>(server.tls_port(), true));
  std::vector<std::unique_ptr<Sender>> senders;
  for (auto& c : conns) {
    SensorConnection& conn = *c;
    senders.push_back(std::make_unique<Sender>(conn, [&conn, &flooder, &header, &chunk] {
      if (!conn.send(make_packet(flooder, 2, kTestHmacKey, header))) return;
      for (int i = 0; i < 100; ++i)
        if (!conn.send(make_packet(flooder, 254, kTestHmacKey, chunk))) return;
    }));
  }
  // Every session ends up held by the sensor's limit (each learns the count with its next batch's
  // reply or backlog poll) and none is closed.
  ASSERT_TRUE(eventually(
      [&] {
        return metric(server.metrics_port(), "d4_server_paused_sessions{cause=\"sensor_bytes\"}") ==
               static_cast<double>(kSessions);
      },
      30s))
      << server.log();
  // Once nothing is in flight the count equals what the streams hold.
  auto stored_bytes = [&] {
    long long n = 0;
    for (int type : {2, 254})
      for (const auto& k : stream_keys(stream, type))
        n += static_cast<long long>(stream_payloads(stream, k).size());
    return n;
  };
  long long counted = 0;
  ASSERT_TRUE(eventually(
      [&] {
        counted = hash_int(stream, std::string(keys::kBacklogBytesBySensor), f);
        return counted == stored_bytes();
      },
      30s));
  const long long packet = kMaxPayload + 62;
  const long long bound = kLimit + packet + (kSessions - 1) * (kPending + kRead + packet);
  EXPECT_GE(counted, kLimit);
  EXPECT_LT(counted, bound) << "the documented bound on the overshoot";
  std::printf("sensor limit %lld bytes, %d sessions: %lld stored (%lld over; bound %lld over)\n", kLimit,
              kSessions, counted, counted - kLimit, bound - kLimit);
  for (auto& c : conns) EXPECT_FALSE(c->wait_closed(100ms));
  senders.clear();
}

// One server for the suite whose stream Redis memory budget is 6 MB above what the empty Redis
// uses, shared from 2 MB above it. The honest sensor holds a small backlog (no worker runs), so two
// sensors share the budget, and a flooder sends until it is held. The tests follow that story;
// each first brings it to the stage it needs (flooder_held(), honest_went_on()), so that it also
// passes alone.
class ServerMemoryBudget : public ::testing::Test {
 protected:
  struct Shared {
    RedisServer redis;
    core::RedisClient probe{core::RedisEndpoint{"127.0.0.1", redis.port(), {}, 0, {}}};
    long long base = 0, budget = 0;
    double share_from = 0;
    std::unique_ptr<ServerProcess> server;
    protocol::Uuid flooder = random_uuid(), honest = random_uuid();
    std::unique_ptr<SensorConnection> h, f;
    std::unique_ptr<Sender> flood;  // destroyed first: it sends on f
    std::optional<long long> held_at;
    bool honest_went_on = false, honest_held = false;
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    s.base = used_memory();
    s.budget = s.base + (6 << 20);
    s.share_from = static_cast<double>(s.base + (2 << 20)) / static_cast<double>(s.budget);
    s.server = std::make_unique<ServerProcess>(s.redis, config(s.budget));
    s.h = std::make_unique<SensorConnection>(s.server->tls_port(), true);
    ASSERT_TRUE(honest_sends());
    auto stream = s.server->stream();
    ASSERT_TRUE(eventually([&] { return total_entries(stream, 3) == 1; }));
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { ASSERT_TRUE(shared_ && shared_->h) << "the suite's set-up failed"; }

  static Shared& s() { return *shared_; }
  static ServerProcess& server() { return *s().server; }
  static long long used_memory() {
    auto info = s().probe.command({"INFO", "memory"}).str;
    return std::stoll(info.substr(info.find("used_memory:") + 12));
  }
  static ServerOptions config(long long budget) {
    ServerOptions o;
    o.extra_server_toml = "memory_poll_ms = 50\nstream_memory_budget = " + std::to_string(budget) +
                          "\nstream_memory_share_from = " + std::to_string(s().share_from) + "\n";
    return o;
  }
  static bool honest_sends() {
    return s().h->send(make_packet(s().honest, 3, kTestHmacKey, std::string(10'000, 'h')));
  }
  static std::size_t honest_entries() {
    auto stream = server().stream();
    return total_entries(stream, 3);
  }
  static long long flooder_backlog_bytes() {
    auto stream = server().stream();
    return hash_int(stream, std::string(keys::kBacklogBytesBySensor), s().flooder.dashless());
  }
  static long long backpressure(const protocol::Uuid& sensor) {
    auto meta = server().meta();
    return hash_int(meta, keys::sensor_backpressure(sensor.dashless()), "memory");
  }
  // The flooder sends until the memory budget holds it; where its backlog stays.
  static void flooder_held() {
    if (s().held_at) return;
    s().f = std::make_unique<SensorConnection>(server().tls_port(), true);
    SensorConnection& f = *s().f;
    s().flood = std::make_unique<Sender>(f, [&f] {
      for (int i = 0; i < 200; ++i)
        if (!f.send(make_packet(s().flooder, 8, kTestHmacKey, std::string(64'000, 'f')))) return;
    });
    ASSERT_TRUE(eventually([] {
      return metric(server().metrics_port(), "d4_server_paused_sessions{cause=\"memory\"}") == 1.0;
    })) << server().log();
    std::this_thread::sleep_for(300ms);
    s().held_at = flooder_backlog_bytes();
  }
  // The honest sensor's ten more packets, stored while the flooder is held.
  static void honest_went_on() {
    ASSERT_NO_FATAL_FAILURE(flooder_held());
    if (s().honest_went_on) return;
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(honest_sends());
    ASSERT_TRUE(eventually([] { return honest_entries() == 11; }));
    s().honest_went_on = true;
  }
  static void reload_with_budget(long long budget) {
    server().write_config(config(budget));
    server().signal(SIGHUP);
  }
  // A budget below what Redis uses: every session waits, and the honest sensor sends one more
  // packet.
  static void honest_session_held() {
    ASSERT_NO_FATAL_FAILURE(honest_went_on());
    if (s().honest_held) return;
    reload_with_budget(s().base);
    ASSERT_TRUE(eventually([] {
      return metric(server().metrics_port(), "d4_server_paused_sessions{cause=\"memory\"}") >= 1.0 &&
             metric(server().metrics_port(), "d4_server_stream_memory_budget_bytes") ==
                 static_cast<double>(s().base);
    }));
    ASSERT_TRUE(honest_sends());
    s().honest_held = true;
  }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(ServerMemoryBudget, TheFlooderIsHeldAtItsFairShareLongBeforeTheBudget) {
  ASSERT_NO_FATAL_FAILURE(flooder_held());
  EXPECT_GT(metric(server().metrics_port(), "d4_server_stream_memory_fair_share_bytes").value_or(0), 0.0);
  EXPECT_LT(*s().held_at, 6 << 20) << "the flooder is held at its share, long before the budget";
  EXPECT_LT(used_memory(), s().budget);
}

TEST_F(ServerMemoryBudget, TheHonestSensorGoesOnWhileTheFlooderIsHeldAndCounted) {
  ASSERT_NO_FATAL_FAILURE(honest_went_on());
  EXPECT_EQ(flooder_backlog_bytes(), *s().held_at);
  EXPECT_TRUE(eventually([] { return backpressure(s().flooder) >= 1; }));
  auto meta = server().meta();
  EXPECT_EQ(meta.command({"EXISTS", keys::sensor_backpressure(s().honest.dashless())}).integer, 0);
}

TEST_F(ServerMemoryBudget, ABudgetBelowWhatRedisUsesHoldsEverySessionTheHonestOneToo) {
  ASSERT_NO_FATAL_FAILURE(honest_session_held());
  // The server read the packet and holds it: the honest sensor's session is paused and counted.
  EXPECT_TRUE(eventually([] { return backpressure(s().honest) >= 1; }));
  EXPECT_EQ(honest_entries(), 11u);
}

// The suite's last test: it stops the flood.
TEST_F(ServerMemoryBudget, WithRoomAgainTheHeldSessionGoesOnWithoutLoss) {
  ASSERT_NO_FATAL_FAILURE(honest_session_held());
  reload_with_budget(s().budget);
  EXPECT_TRUE(eventually([] { return honest_entries() == 12; })) << server().log();
  s().flood->stop();
}
