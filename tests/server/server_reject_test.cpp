// Every reject gives the documented outcome (the connection is closed, nothing of it is stored
// after the offending packet) and its reason counter: in the sensor's record once the sensor
// authenticated, per source network of the peer (never in a sensor's record) before that.
#include <gtest/gtest.h>

#include <thread>

#include "core/keys.hpp"
#include "core/sensors.hpp"
#include "server/harness.hpp"

using namespace d4;
using namespace d4::test;
namespace keys = d4::core::keys;

namespace {

// Rejects before authentication are recorded per source network of the peer.
constexpr const char* kSource = "127.0.0.0/24";

// One d4-server (and its Redis) shared by every test of a suite, configured by Suite::options().
template <typename Suite>
class SharedServerSuite : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    redis_ = new RedisServer();
    server_ = new ServerProcess(*redis_, Suite::options());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete redis_;
    server_ = nullptr;
    redis_ = nullptr;
  }

 protected:
  ServerProcess& server() { return *server_; }
  core::RedisClient meta() { return server_->meta(); }
  core::RedisClient stream() { return server_->stream(); }

 private:
  static inline RedisServer* redis_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
};

// One server for the suite, with short timeouts so that timeout rejects are quick to observe.
class Rejects : public SharedServerSuite<Rejects> {
 public:
  static ServerOptions options() {
    ServerOptions o;
    o.extra_server_toml =
        "handshake_timeout = 2\nunidentified_timeout = 2\nheader_timeout = 1\npacket_timeout = 2\n"
        "idle_timeout = 3\nmax_payload = 100000\nmax_connections_per_ip = 0\n";
    return o;
  }

 protected:
  long long ip_rejects(const std::string& reason) {
    auto r = meta().command({"HGET", keys::ip_rejects(kSource), reason});
    return r.as_integer().value_or(0);
  }
  long long sensor_rejects(const std::string& uuid, const std::string& reason) {
    return meta().command({"HGET", keys::sensor_rejects(uuid), reason}).as_integer().value_or(0);
  }
  long long global_rejects(const std::string& reason) {
    return meta().command({"HGET", keys::kServerRejects, reason}).as_integer().value_or(0);
  }
  // Waits for an unauthenticated reject counted on the peer IP (and globally), nothing on a sensor.
  void expect_ip_reject(const std::string& reason, long long before, const std::string& uuid = {}) {
    EXPECT_TRUE(eventually([&] { return ip_rejects(reason) == before + 1; })) << reason << "\n"
                                                                              << server().log();
    EXPECT_GE(global_rejects(reason), 1);
    if (!uuid.empty()) {
      EXPECT_EQ(meta().command({"EXISTS", keys::sensor_rejects(uuid)}).integer, 0)
          << "no sensor record before authentication";
      EXPECT_EQ(meta().command({"EXISTS", keys::sensor_metadata(uuid)}).integer, 0)
          << "no metadata for unauthenticated UUIDs";
    }
    auto errors = meta().command({"LRANGE", keys::ip_errors(kSource), "0", "0"}).as_strings();
    ASSERT_FALSE(errors.empty());
    EXPECT_EQ(core::parse_sensor_error(errors[0]).reason, reason);
  }
  void expect_sensor_reject(const std::string& uuid, const std::string& reason, long long count = 1) {
    EXPECT_TRUE(eventually([&] { return sensor_rejects(uuid, reason) == count; })) << reason << "\n"
                                                                                   << server().log();
    auto errors = meta().command({"LRANGE", keys::sensor_errors(uuid), "0", "0"}).as_strings();
    ASSERT_FALSE(errors.empty());
    auto e = core::parse_sensor_error(errors[0]);
    EXPECT_EQ(e.reason, reason);
    EXPECT_EQ(e.ip, "127.0.0.1");
    EXPECT_EQ(e.source, "server");
    EXPECT_GT(e.time, 1600000000);
    EXPECT_EQ(e.session.size(), 36u);
    EXPECT_FALSE(meta().command({"HGET", keys::sensor_metadata(uuid), "Error"}).str.empty());
  }
  // Runs d4-admin against this server's Redis; returns its exit status.
  int admin(std::vector<std::string> args) {
    std::vector<std::string> argv = {(bin_dir() / "d4-admin").string(), "-c",
                                     server().config_path().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    Process p(argv, Process::Options{{}, server().dir() / "admin.out", server().dir() / "admin.err", {}, {}});
    return p.wait(30s);
  }
};

std::size_t stored_packets(core::RedisClient& stream, int type, const std::string& uuid) {
  std::size_t total = 0;
  for (const auto& k : stream_keys(stream, type)) {
    auto r = stream.command({"XRANGE", k, "-", "+", "COUNT", "1"});
    if (r.elements.empty() || r.elements[0].elements[1].elements[3].str != uuid) continue;
    total += static_cast<std::size_t>(stream.command({"XLEN", k}).integer);
  }
  return total;
}

}  // namespace

TEST_F(Rejects, WrongKeyIsCountedPerIpAndNeverCreatesSensorState) {
  auto uuid = random_uuid();
  long long before = ip_rejects("hmac_mismatch");
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 3, "not the key", "hello\n")));
  EXPECT_TRUE(c.wait_closed(5s));
  expect_ip_reject("hmac_mismatch", before, uuid.dashless());
  auto s = stream();
  EXPECT_EQ(stored_packets(s, 3, uuid.dashless()), 0u);
  EXPECT_EQ(s.command({"SISMEMBER", "active_connection:3", uuid.dashless()}).integer, 0)
      << "no slot is taken before the HMAC verified";
}

TEST_F(Rejects, PerSensorKeyReplacesTheDefaultAndAKnownSensorsRecordIsUntouchedBeforeAuthentication) {
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  ASSERT_EQ(admin({"sensor", "set-key", uuid.dashed(), "own <key> & \"quotes\""}), 0);
  meta().command({"HSET", keys::sensor_metadata(u), "Error", "Error: set by the sensor's own session"});
  long long before = ip_rejects("hmac_mismatch");
  {
    SensorConnection c(server().tls_port(), true);
    ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "x\n")));  // the default key no longer works for it
    EXPECT_TRUE(c.wait_closed(5s));
  }
  // Anyone can name a UUID: before the key verified, nothing in the sensor's record changes. The
  // attempt is in the source network's record, with the UUID it named.
  EXPECT_TRUE(eventually([&] { return ip_rejects("hmac_mismatch") == before + 1; }));
  auto errors = meta().command({"LRANGE", keys::ip_errors(kSource), "0", "0"}).as_strings();
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(core::parse_sensor_error(errors[0]).detail.find(u), std::string::npos) << errors[0];
  EXPECT_EQ(meta().command({"HGET", keys::sensor_metadata(u), "Error"}).str,
            "Error: set by the sensor's own session");
  EXPECT_EQ(meta().command({"EXISTS", keys::sensor_unauth_errors(u)}).integer, 0);
  EXPECT_EQ(meta().command({"EXISTS", keys::sensor_errors(u)}).integer, 0);
  EXPECT_EQ(meta().command({"EXISTS", keys::sensor_rejects(u)}).integer, 0);
  SensorConnection ok(server().tls_port(), true);
  ASSERT_TRUE(ok.send(make_packet(uuid, 3, "own <key> & \"quotes\"", "stored\n")));
  auto s = stream();
  EXPECT_TRUE(eventually([&] { return stored_packets(s, 3, u) == 1; }));
  // The reference clears Error when a packet is stored.
  EXPECT_TRUE(eventually([&] {
    return meta().command({"HEXISTS", keys::sensor_metadata(u), "Error"}).integer == 0;
  }));
}

TEST_F(Rejects, BlockedIpAndCidrCloseNewAndLiveConnections) {
  auto uuid = random_uuid();
  SensorConnection live(server().tls_port(), true);
  ASSERT_TRUE(live.send(make_packet(uuid, 3, kTestHmacKey, "before\n")));
  auto s = stream();
  ASSERT_TRUE(eventually([&] { return stored_packets(s, 3, uuid.dashless()) == 1; }));
  long long before = ip_rejects("blocked_ip");
  ASSERT_EQ(admin({"block", "ip", "127.0.0.0/8"}), 0);
  EXPECT_EQ(meta().command({"SISMEMBER", "blacklist_ip", "127.0.0.0/8"}).integer, 1)
      << "stored as a range, not expanded";
  EXPECT_TRUE(live.wait_closed(5s)) << "a live connection of a blocked address is closed";
  expect_sensor_reject(uuid.dashless(), "blocked_ip");
  // New connections are refused at accept time, before TLS.
  EXPECT_FALSE(tls_handshake_ok(server().tls_port()));
  EXPECT_TRUE(eventually([&] { return ip_rejects("blocked_ip") >= before + 1; }));
  ASSERT_EQ(admin({"unblock", "ip", "127.0.0.0/8"}), 0);
  EXPECT_TRUE(eventually([&] { return tls_handshake_ok(server().tls_port()); }, 5s, 100ms));
  // A single address entry too.
  ASSERT_EQ(admin({"block", "ip", "127.0.0.1"}), 0);
  EXPECT_TRUE(eventually([&] { return !tls_handshake_ok(server().tls_port()); }, 5s, 100ms));
  ASSERT_EQ(admin({"unblock", "ip", "127.0.0.1"}), 0);
  EXPECT_TRUE(eventually([&] { return tls_handshake_ok(server().tls_port()); }, 5s, 100ms));
}

TEST_F(Rejects, BlockedUuidClosesLiveAndNewConnections) {
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  SensorConnection live(server().tls_port(), true);
  ASSERT_TRUE(live.send(make_packet(uuid, 8, kTestHmacKey, "a||b\n")));
  auto s = stream();
  ASSERT_TRUE(eventually([&] { return stored_packets(s, 8, u) == 1; }));
  ASSERT_EQ(admin({"block", "uuid", uuid.dashed()}), 0);  // dashed input is normalised
  EXPECT_TRUE(live.wait_closed(5s));
  expect_sensor_reject(u, "blocked_uuid");
  long long before = ip_rejects("blocked_uuid");
  SensorConnection again(server().tls_port(), true);
  ASSERT_TRUE(again.send(make_packet(uuid, 8, kTestHmacKey, "c||d\n")));
  EXPECT_TRUE(again.wait_closed(5s));
  EXPECT_TRUE(eventually([&] { return ip_rejects("blocked_uuid") == before + 1; }));
  EXPECT_EQ(stored_packets(s, 8, u), 1u);
  ASSERT_EQ(admin({"unblock", "uuid", u}), 0);
}

// "Block every IP presenting this UUID": the peer address joins blacklist_ip.
TEST_F(Rejects, BlockIpsOfUuidBlocksTheAddressPresentingIt) {
  auto bad = random_uuid();
  ASSERT_EQ(admin({"block", "ips-of", bad.dashless()}), 0);
  ASSERT_TRUE(server().wait_policy_reloads()) << server().log();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(bad, 8, kTestHmacKey, "x\n")));
  EXPECT_TRUE(c.wait_closed(5s));
  EXPECT_TRUE(eventually([&] {
    return meta().command({"SISMEMBER", "blacklist_ip", "127.0.0.1"}).integer == 1;
  }));
  EXPECT_TRUE(eventually([&] { return !tls_handshake_ok(server().tls_port()); }, 5s, 100ms));
  ASSERT_EQ(admin({"unblock", "ips-of", bad.dashless()}), 0);
  ASSERT_EQ(admin({"unblock", "ip", "127.0.0.1"}), 0);
  EXPECT_TRUE(eventually([&] { return tls_handshake_ok(server().tls_port()); }, 5s, 100ms));
}

TEST_F(Rejects, DuplicateUuidTypeKeepsTheFirstConnection) {
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  SensorConnection first(server().tls_port(), true);
  ASSERT_TRUE(first.send(make_packet(uuid, 1, kTestHmacKey, "first")));
  auto s = stream();
  ASSERT_TRUE(eventually([&] { return stored_packets(s, 1, u) == 1; }));
  // Storing clears the sensor's Error field (reference rule) in the statistics flush of the first
  // connection's worker thread, which also sets last_seen; wait for it so that the reject below is
  // the latest event.
  ASSERT_TRUE(eventually([&] {
    return meta().command({"HEXISTS", keys::sensor_metadata(u), "last_seen"}).integer == 1;
  }));
  SensorConnection second(server().tls_port(), true);
  ASSERT_TRUE(second.send(make_packet(uuid, 1, kTestHmacKey, "second")));
  EXPECT_TRUE(second.wait_closed(5s));
  expect_sensor_reject(u, "duplicate");
  EXPECT_EQ(meta().command({"HGET", keys::sensor_metadata(u), "Error"}).str,
            "Error: This UUID is using the same UUID for one type=1");
  ASSERT_TRUE(first.send(make_packet(uuid, 1, kTestHmacKey, "more")));
  EXPECT_TRUE(eventually([&] { return stored_packets(s, 1, u) == 2; }));
  EXPECT_FALSE(first.wait_closed(100ms));
  // Another type of the same sensor is a separate slot.
  SensorConnection other(server().tls_port(), true);
  ASSERT_TRUE(other.send(make_packet(uuid, 3, kTestHmacKey, "log\n")));
  EXPECT_TRUE(eventually([&] { return stored_packets(s, 3, u) == 1; }));
  // Closing the first frees the slot.
  first.close();
  EXPECT_TRUE(eventually([&] { return s.command({"SISMEMBER", "active_connection:1", u}).integer == 0; }));
  SensorConnection third(server().tls_port(), true);
  ASSERT_TRUE(third.send(make_packet(uuid, 1, kTestHmacKey, "third")));
  EXPECT_TRUE(eventually([&] { return stored_packets(s, 1, u) == 3; }));
}

TEST_F(Rejects, TypeChangeOnAConnectionIsRefused) {
  auto s = stream();
  auto uuid = random_uuid();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, "pcap")));
  ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "log\n")));
  EXPECT_TRUE(c.wait_closed(5s));
  expect_sensor_reject(uuid.dashless(), "type_change");
  // The pcap packet's storage may be confirmed after the reject, and counted in a later flush
  // (last_seen is written with it): read before the reject, it must not clear the reject's Error.
  EXPECT_TRUE(eventually([&] {
    return meta().command({"HEXISTS", keys::sensor_metadata(uuid.dashless()), "last_seen"}).integer == 1;
  }));
  EXPECT_EQ(meta().command({"HGET", keys::sensor_metadata(uuid.dashless()), "Error"}).str,
            "Error: Unexpected type change type=1, new type=3");
  EXPECT_EQ(stored_packets(s, 1, uuid.dashless()), 1u);
  EXPECT_EQ(stored_packets(s, 3, uuid.dashless()), 0u);
}

TEST_F(Rejects, Type254BeforeAMetaHeaderIsRefused) {
  long long before = ip_rejects("first_type_254");
  auto uuid = random_uuid();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 254, kTestHmacKey, "data\n")));
  EXPECT_TRUE(c.wait_closed(5s));
  expect_ip_reject("first_type_254", before, uuid.dashless());
}

// 254 -> 2 is illegal too (a second meta header on the same connection).
TEST_F(Rejects, SecondMetaHeaderOnAConnectionIsATypeChange) {
  auto uuid = random_uuid();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 2, kTestHmacKey, "{\"type\":\"ja3-jl\"}")));
  ASSERT_TRUE(c.send(make_packet(uuid, 254, kTestHmacKey, "{}\n")));
  ASSERT_TRUE(c.send(make_packet(uuid, 2, kTestHmacKey, "{\"type\":\"ja3-jl\"}")));
  EXPECT_TRUE(c.wait_closed(5s));
  expect_sensor_reject(uuid.dashless(), "type_change");
}

// The extended type announced by the meta header must be accepted.
TEST_F(Rejects, ExtendedTypeNotAcceptedIsRefused) {
  auto uuid = random_uuid();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 2, kTestHmacKey, "{\"type\":\"not-accepted\"}")));
  ASSERT_TRUE(c.send(make_packet(uuid, 254, kTestHmacKey, "{}\n")));
  EXPECT_TRUE(c.wait_closed(5s));
  expect_sensor_reject(uuid.dashless(), "extended_type_not_accepted");
}

TEST_F(Rejects, UuidChangeOnAConnectionIsRefusedAndTheNewUuidGetsNoState) {
  auto uuid = random_uuid(), other = random_uuid();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "a\n")));
  ASSERT_TRUE(c.send(make_packet(other, 3, kTestHmacKey, "b\n")));
  EXPECT_TRUE(c.wait_closed(5s));
  expect_sensor_reject(uuid.dashless(), "uuid_change");
  EXPECT_EQ(meta().command({"EXISTS", keys::sensor_metadata(other.dashless())}).integer, 0);
}

TEST_F(Rejects, OversizeAndGarbageCloseWithoutBufferingOrDesynchronising) {
  {
    long long before = ip_rejects("oversize");
    auto uuid = random_uuid();
    auto big = make_packet(uuid, 1, kTestHmacKey, std::string(100001, 'x'));
    SensorConnection c(server().tls_port(), true);
    // Only the header is sent: the size is refused before any payload is buffered.
    ASSERT_TRUE(c.send(std::span<const std::uint8_t>(big.data(), 62)));
    EXPECT_TRUE(c.wait_closed(5s));
    expect_ip_reject("oversize", before, uuid.dashless());
  }
  {
    // Exactly the maximum is accepted (the reference's rule).
    auto uuid = random_uuid();
    SensorConnection c(server().tls_port(), true);
    ASSERT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, std::string(100000, 'y'))));
    auto s = stream();
    EXPECT_TRUE(eventually([&] { return stored_packets(s, 1, uuid.dashless()) == 1; }));
  }
  {
    long long before = ip_rejects("type_not_accepted");
    SensorConnection c(server().tls_port(), true);
    std::string http = "GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: scanner\r\nAccept: */*\r\n\r\n";
    ASSERT_TRUE(c.send(std::vector<std::uint8_t>(http.begin(), http.end())));
    EXPECT_TRUE(c.wait_closed(5s));
    expect_ip_reject("type_not_accepted", before);
  }
  {
    long long before = ip_rejects("invalid_uuid");
    SensorConnection c(server().tls_port(), true);
    std::vector<std::uint8_t> junk(200, 0x11);
    junk[1] = 1;  // an accepted type, but the UUID is not version 4
    ASSERT_TRUE(c.send(junk));
    EXPECT_TRUE(c.wait_closed(5s));
    expect_ip_reject("invalid_uuid", before);
  }
}

TEST_F(Rejects, SlowlorisHeaderAndPayloadTimeouts) {
  {
    long long before = ip_rejects("header_timeout");
    auto pk = make_packet(random_uuid(), 3, kTestHmacKey, "x\n");
    SensorConnection c(server().tls_port(), true);
    ASSERT_TRUE(c.send(std::span<const std::uint8_t>(pk.data(), 30)));
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.wait_closed(5s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2500ms) << "header_timeout is 1 s";
    expect_ip_reject("header_timeout", before);
  }
  {
    // An identified sensor trickling a payload.
    auto uuid = random_uuid();
    SensorConnection c(server().tls_port(), true);
    ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "first\n")));
    auto pk = make_packet(uuid, 3, kTestHmacKey, std::string(5000, 'z'));
    ASSERT_TRUE(c.send(std::span<const std::uint8_t>(pk.data(), 100)));
    for (int i = 0; i < 4 && !c.wait_closed(700ms); ++i)
      c.send(std::span<const std::uint8_t>(pk.data() + 100 + i, 1));
    EXPECT_TRUE(c.wait_closed(5s));
    expect_sensor_reject(uuid.dashless(), "packet_timeout");
    auto s = stream();
    EXPECT_EQ(stored_packets(s, 3, uuid.dashless()), 1u) << "the complete packet before is kept";
  }
}

TEST_F(Rejects, IdleUnidentifiedAndHandshakeTimeouts) {
  {
    auto uuid = random_uuid();
    SensorConnection c(server().tls_port(), true);
    ASSERT_TRUE(c.send(make_packet(uuid, 8, kTestHmacKey, "one||line\n")));
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.wait_closed(8s));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 2500ms) << "idle_timeout is 3 s";
    expect_sensor_reject(uuid.dashless(), "idle_timeout");
    auto s = stream();
    EXPECT_EQ(stored_packets(s, 8, uuid.dashless()), 1u);
    EXPECT_TRUE(eventually([&] {
      return s.command({"SISMEMBER", "active_connection:8", uuid.dashless()}).integer == 0;
    }));
  }
  {
    long long before = ip_rejects("unidentified_timeout");
    SensorConnection c(server().tls_port(), true);
    EXPECT_TRUE(c.wait_closed(6s));
    expect_ip_reject("unidentified_timeout", before);
  }
  {
    long long before = ip_rejects("handshake_timeout");
    SensorConnection c(server().tls_port(), false);  // TCP to the TLS port, no ClientHello
    EXPECT_TRUE(c.wait_closed(6s));
    expect_ip_reject("handshake_timeout", before);
  }
}

TEST_F(Rejects, KickClosesTheSensorAndBlocksItForTheGivenTime) {
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "x\n")));
  auto s = stream();
  ASSERT_TRUE(eventually([&] { return stored_packets(s, 3, u) == 1; }));
  ASSERT_EQ(admin({"sensor", "kick", u, "--block-seconds", "3"}), 0);
  EXPECT_TRUE(c.wait_closed(5s));
  expect_sensor_reject(u, "kicked");
  long long before = ip_rejects("temp_blocked");
  SensorConnection again(server().tls_port(), true);
  ASSERT_TRUE(again.send(make_packet(uuid, 3, kTestHmacKey, "y\n")));
  EXPECT_TRUE(again.wait_closed(5s));
  EXPECT_TRUE(eventually([&] { return ip_rejects("temp_blocked") == before + 1; }));
  // After the temporary block (its key expires) the sensor is welcome again.
  ASSERT_TRUE(eventually(
      [&] {
        return s.command({"EXISTS", keys::temp_blocklist_uuid(u)}).integer == 0;
      },
      10s));
  SensorConnection later(server().tls_port(), true);
  ASSERT_TRUE(later.send(make_packet(uuid, 3, kTestHmacKey, "z\n")));
  EXPECT_TRUE(eventually([&] { return stored_packets(s, 3, u) == 2; }));
}

// The reference UI's way: a (dashed) UUID in server:sensor_to_kick.
TEST_F(Rejects, ReferenceKickSetClosesTheSensorAndIsEmptied) {
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "x\n")));
  auto s = stream();
  ASSERT_TRUE(eventually([&] { return stored_packets(s, 3, u) == 1; }));
  s.command({"SADD", "server:sensor_to_kick", uuid.dashed()});
  EXPECT_TRUE(c.wait_closed(5s));
  expect_sensor_reject(u, "kicked");
  EXPECT_TRUE(eventually([&] {
    return s.command({"SISMEMBER", "server:sensor_to_kick", uuid.dashed()}).integer == 0;
  }));
}

TEST_F(Rejects, KickTypeClosesEverySessionOfTheTypeWithoutBlocking) {
  auto s = stream();
  auto a = random_uuid(), b = random_uuid();
  SensorConnection ca(server().tls_port(), true), cb(server().tls_port(), true);
  ASSERT_TRUE(ca.send(make_packet(a, 4, kTestHmacKey, "[dnscap]\n")));
  ASSERT_TRUE(cb.send(make_packet(b, 4, kTestHmacKey, "[dnscap]\n")));
  ASSERT_TRUE(eventually([&] { return s.command({"SCARD", "active_connection:4"}).integer == 2; }));
  ASSERT_EQ(admin({"kick-type", "4"}), 0);
  EXPECT_TRUE(ca.wait_closed(5s));
  EXPECT_TRUE(cb.wait_closed(5s));
  expect_sensor_reject(a.dashless(), "kicked");
  // Sensors of that type may reconnect at once (no temporary block for type kicks).
  SensorConnection cc(server().tls_port(), true);
  ASSERT_TRUE(cc.send(make_packet(a, 4, kTestHmacKey, "[again]\n")));
  EXPECT_FALSE(cc.wait_closed(500ms));
}

TEST_F(Rejects, WorkerFlaggedSessionIsClosedAndItsStreamDropped) {
  auto uuid = random_uuid();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, "not a pcap")));
  auto s = stream();
  std::string key;
  ASSERT_TRUE(eventually([&] {
    for (const auto& k : stream_keys(s, 1))
      if (s.command({"XRANGE", k, "-", "+"}).elements.at(0).elements[1].elements[3].str == uuid.dashless())
        key = k;
    return !key.empty();
  }));
  std::string session = key.substr(key.rfind(':') + 1);
  s.command({"SADD", "Error:IncorrectType", session});
  EXPECT_TRUE(c.wait_closed(5s)) << "closed by the policy poll, without new data";
  expect_sensor_reject(uuid.dashless(), "incorrect_type");
  EXPECT_TRUE(eventually([&] { return s.command({"EXISTS", key}).integer == 0; }));
  EXPECT_EQ(s.command({"SISMEMBER", "Error:IncorrectType", session}).integer, 0);
}

TEST_F(Rejects, TypeRemovedFromAcceptedTypesClosesLiveConnections) {
  auto uuid = random_uuid();
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 6, kTestHmacKey, "{\"a\":1}\n")));
  auto s = stream();
  ASSERT_TRUE(eventually([&] { return stored_packets(s, 6, uuid.dashless()) == 1; }));
  ASSERT_EQ(admin({"types", "remove", "6"}), 0);
  EXPECT_TRUE(c.wait_closed(5s));
  expect_sensor_reject(uuid.dashless(), "type_not_accepted");
  long long before = ip_rejects("type_not_accepted");
  SensorConnection d(server().tls_port(), true);
  ASSERT_TRUE(d.send(make_packet(random_uuid(), 6, kTestHmacKey, "{}\n")));
  EXPECT_TRUE(d.wait_closed(5s));
  EXPECT_TRUE(eventually([&] { return ip_rejects("type_not_accepted") == before + 1; }));
  ASSERT_EQ(admin({"types", "add", "6"}), 0);
}

TEST(RejectsRegistration, OnlyApprovedSensorsInRegistrationMode) {
  RedisServer redis;
  ServerOptions o;
  o.mode = "registration";
  ServerProcess server(redis, o);
  auto meta = server.meta();
  auto uuid = random_uuid();
  std::string u = uuid.dashless();
  {
    SensorConnection c(server.tls_port(), true);
    ASSERT_TRUE(c.send(make_packet(uuid, 3, kTestHmacKey, "x\n")));
    EXPECT_TRUE(c.wait_closed(5s));
    EXPECT_TRUE(eventually([&] {
      return meta.command({"HGET", keys::ip_rejects(kSource), "unregistered"}).str == "1";
    }));
  }
  core::RedisClient stream_c = server.stream();
  core::SensorPolicy policy(meta, stream_c);
  ASSERT_TRUE(policy.register_sensor(uuid.dashed(), "sensor-own-key"));
  ASSERT_TRUE(policy.approve(u));
  ASSERT_TRUE(server.wait_policy_reloads()) << server.log();
  SensorConnection c(server.tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(uuid, 3, "sensor-own-key", "y\n")));
  EXPECT_FALSE(c.wait_closed(500ms));
  auto s = server.stream();
  EXPECT_TRUE(eventually([&] { return stored_packets(s, 3, u) == 1; }));
  ASSERT_TRUE(policy.unregister(u));
  EXPECT_TRUE(c.wait_closed(5s)) << "de-registration applies to the live connection";
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::sensor_rejects(u), "unregistered"}).str == "1";
  }));
}

// One server with a clock-skew bound, a per-address connection limit and a rate limit.
class RejectsOptions : public SharedServerSuite<RejectsOptions> {
 public:
  static ServerOptions options() {
    ServerOptions o;
    o.extra_server_toml =
        "max_clock_skew = 60\nmax_connections_per_ip = 3\nrate_limit = 400000\nrate_limit_burst = 50000\n";
    return o;
  }

 protected:
  long long ip_count(const char* reason) {
    return meta().command({"HGET", keys::ip_rejects(kSource), reason}).as_integer().value_or(0);
  }
};

TEST_F(RejectsOptions, ClockSkewBeyondTheBoundIsRefused) {
  long long before = ip_count("clock_skew");
  SensorConnection c(server().tls_port(), true);
  ASSERT_TRUE(c.send(make_packet(random_uuid(), 3, kTestHmacKey, "old\n", protocol::unix_seconds() - 3600)));
  EXPECT_TRUE(c.wait_closed(5s));
  EXPECT_TRUE(eventually([&] { return ip_count("clock_skew") == before + 1; }));
}

TEST_F(RejectsOptions, ConnectionsPerAddressAreLimitedAndFreedOnClose) {
  std::vector<std::unique_ptr<SensorConnection>> conns;
  for (int i = 0; i < 3; ++i) conns.push_back(std::make_unique<SensorConnection>(server().tls_port(), true));
  EXPECT_FALSE(tls_handshake_ok(server().tls_port())) << "the 4th connection from one address is refused";
  EXPECT_TRUE(eventually([&] { return ip_count("connection_limit_ip") >= 1; }));
  conns.clear();
  EXPECT_TRUE(eventually([&] { return tls_handshake_ok(server().tls_port()); }, 5s, 100ms));
}

// 1 MB at 400 kB/s (50 kB burst) takes at least ~2.3 s to be read; nothing is dropped.
TEST_F(RejectsOptions, RateLimitSlowsReadingAndDropsNothing) {
  auto uuid = random_uuid();
  SensorConnection c(server().tls_port(), true);
  std::string expect;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    std::string p(10000, static_cast<char>('a' + i % 26));
    expect += p;
    ASSERT_TRUE(c.send(make_packet(uuid, 1, kTestHmacKey, p)));
  }
  auto s = server().stream();
  std::string data;
  ASSERT_TRUE(eventually(
      [&] {
        auto ks = stream_keys(s, 1);
        if (ks.size() != 1) return false;
        data = stream_payloads(s, ks[0]);
        return data.size() >= expect.size();
      },
      30s));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 2000ms);
  EXPECT_TRUE(data == expect);
  EXPECT_FALSE(c.wait_closed(100ms));
}
