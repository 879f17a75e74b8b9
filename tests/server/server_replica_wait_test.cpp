// [server] wait_replicas: a batch counts as stored (metrics, the sensor's statistics, the session's
// progress) only once WAIT reports the replicas holding it. With a real replica of the stream Redis
// (redis-server --replicaof) that is stopped and started again: nothing is counted while it is away,
// the shortfall is counted, and everything arrives once it is back.
#include <gtest/gtest.h>

#include "core/redis_endpoint.hpp"
#include "server/harness.hpp"
#include "support/redis_server.hpp"

using namespace d4;
using namespace d4::test;

namespace {

core::RedisClient client_of(const RedisServer& r) {
  return core::RedisClient(*core::RedisEndpoint::parse(r.endpoint(0)));
}

// The primary counts a replica from its first connection, and acknowledges through it only once
// it is online (after the replica's first ACK following the sync).
bool replicating(RedisServer& primary, RedisServer& replica) {
  return primary.cli({"INFO", "replication"}).find("state=online") != std::string::npos &&
         replica.cli({"INFO", "replication"}).find("master_link_status:up") != std::string::npos;
}

// One sensor sending numbered type-1 packets over TLS; every payload sent is kept, in order.
class NumberedSensor {
 public:
  explicit NumberedSensor(int tls_port) : connection_(tls_port, true) {}
  // Packets from..to-1; false once the server closed the connection.
  bool send(int from, int to) {
    for (int i = from; i < to; ++i) {
      std::string payload =
          "packet " + std::to_string(i) + " " + std::string(100, static_cast<char>('a' + i % 26));
      sent_ += payload;
      if (!connection_.send(make_packet(uuid_, 1, kTestHmacKey, payload))) return false;
    }
    return true;
  }
  const std::string& sent() const { return sent_; }

 private:
  protocol::Uuid uuid_ = random_uuid();
  std::string sent_;
  SensorConnection connection_;
};

}  // namespace

TEST(ReplicaWait, BatchesCountAsStoredOnceTheReplicaHoldsThemAndNothingIsLostWhileItIsAway) {
  RedisServer primary;
  auto replica = RedisServer::replica_of(primary);
  ASSERT_TRUE(eventually([&] { return replicating(primary, *replica); }, 20s));
  ServerOptions o;
  // A WAIT the loaded test machine answers late counts as a timeout; 2 s keeps that rare, and no
  // assertion below depends on there being none while the replica is up.
  o.extra_server_toml = "wait_replicas = 1\nwait_timeout_ms = 2000\n";
  ServerProcess server(primary, o);
  auto value = [&](const std::string& sample) { return metric(server.metrics_port(), sample).value_or(-1); };
  auto stored = [&] { return value("d4_server_packets_total{type=\"1\"}"); };
  NumberedSensor sensor(server.tls_port());

  // Replica up: stored, and the replica holds every batch counted as stored.
  ASSERT_TRUE(sensor.send(0, 20));
  ASSERT_TRUE(eventually([&] { return stored() == 20; })) << server.log();
  auto on_primary = server.stream();
  auto keys = stream_keys(on_primary, 1);
  ASSERT_EQ(keys.size(), 1u);
  const std::string key = keys[0];
  auto on_replica = client_of(*replica);
  EXPECT_EQ(on_replica.command({"XLEN", key}).integer, 20) << "counted as stored: on the replica";
  const double timeouts_before = value("d4_server_replica_wait_timeouts_total");

  // Replica away: the next batch reaches the primary but is not counted as stored (the packets
  // behind it wait in the session), and each WAIT that times out is counted.
  replica->stop();
  ASSERT_TRUE(sensor.send(20, 40));
  ASSERT_TRUE(eventually(
      [&] {
        // The timeout is counted, then the batch marked awaiting, then logged.
        return on_primary.command({"XLEN", key}).integer > 20 &&
               value("d4_server_replica_wait_timeouts_total") > timeouts_before &&
               value("d4_server_batches_awaiting_replicas") == 1 &&
               server.log().find("not counted as stored, waiting") != std::string::npos;
      },
      30s))
      << server.log();
  EXPECT_EQ(stored(), 20);
  EXPECT_GT(value("d4_server_pending_bytes"), 0) << "accepted, not confirmed";

  // Replica back: the waiting batch counts, data flows again, nothing lost or doubled.
  replica->start();
  ASSERT_TRUE(eventually([&] { return stored() == 40; }, 30s)) << server.log();
  EXPECT_EQ(value("d4_server_batches_awaiting_replicas"), 0);
  ASSERT_TRUE(sensor.send(40, 50));
  ASSERT_TRUE(eventually([&] { return stored() == 50; })) << server.log();
  on_replica = client_of(*replica);
  std::size_t entries = 0;
  EXPECT_EQ(stream_payloads(on_replica, key, &entries), sensor.sent());
  EXPECT_EQ(entries, 50u);
  EXPECT_EQ(stream_payloads(on_primary, key), sensor.sent());
  // No longer pending once the batch's confirmation is handled, just after it is counted.
  EXPECT_TRUE(eventually([&] { return value("d4_server_pending_bytes") == 0; })) << server.log();
  EXPECT_EQ(value("d4_server_lost_packets_total"), 0);
}

// The stream Redis behind a Sentinel, wait_replicas = 1, and a SENTINEL FAILOVER while a sensor
// streams: a batch the old master takes after the promotion is never confirmed by a replica, so it
// never counts as stored and is sent again to the promoted replica once the old master is demoted
// (docs/configuration.md, "Sentinel"). Every packet ends up on the new master once, in order.
TEST(ReplicaWait, ASentinelFailoverWhileASensorStreamsLosesNothingCountedAsStored) {
  RedisServer master;
  auto replica = RedisServer::replica_of(master);
  ASSERT_TRUE(eventually([&] { return replicating(master, *replica); }, 20s));
  RedisServerOptions watch;
  watch.sentinel_of = master.port();
  RedisServer sentinel(watch);
  const std::string replica_port = std::to_string(replica->port());
  ASSERT_TRUE(eventually(
      [&] {
        return sentinel.cli({"SENTINEL", "replicas", "mymaster"}).find(replica_port) != std::string::npos;
      },
      20s));
  RedisServer meta;
  ServerOptions o;
  o.meta_redis = &meta;
  o.stream_endpoint = "redis-sentinel://127.0.0.1:" + std::to_string(sentinel.port()) + "/mymaster/0";
  o.extra_server_toml = "wait_replicas = 1\nwait_timeout_ms = 2000\n";
  ServerProcess server(master, o);
  auto value = [&](const std::string& sample) { return metric(server.metrics_port(), sample).value_or(-1); };
  auto stored = [&] { return value("d4_server_packets_total{type=\"1\"}"); };
  NumberedSensor sensor(server.tls_port());

  ASSERT_TRUE(sensor.send(0, 20));
  ASSERT_TRUE(eventually([&] { return stored() == 20; })) << server.log();
  // Refused (NOGOODSLAVE) until the Sentinel has had an INFO reply from the replica itself.
  ASSERT_TRUE(eventually(
      [&] {
        return sentinel.cli({"SENTINEL", "FAILOVER", "mymaster"}) == "OK\n";
      },
      30s, 100ms));
  ASSERT_TRUE(sensor.send(20, 40));  // while the Sentinel promotes the replica and demotes the old master
  ASSERT_TRUE(eventually(
      [&] {
        return sentinel.cli({"SENTINEL", "get-master-addr-by-name", "mymaster"}) ==
               "127.0.0.1\n" + replica_port + "\n";
      },
      30s, 50ms));
  ASSERT_TRUE(sensor.send(40, 60));
  ASSERT_TRUE(eventually([&] { return stored() == 60; }, 60s)) << server.log();

  auto on_new_master = client_of(*replica);
  auto keys = stream_keys(on_new_master, 1);
  ASSERT_EQ(keys.size(), 1u);
  std::size_t entries = 0;
  EXPECT_EQ(stream_payloads(on_new_master, keys[0], &entries), sensor.sent());
  EXPECT_EQ(entries, 60u) << "none lost, none twice";
  EXPECT_NE(master.cli({"ROLE"}).find("slave"), std::string::npos) << "the old master is a replica now";
  EXPECT_EQ(value("d4_server_lost_packets_total"), 0);
  EXPECT_TRUE(eventually([&] { return value("d4_server_pending_bytes") == 0; })) << server.log();
}
