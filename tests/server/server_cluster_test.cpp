// d4-server with the cluster key layout on a real Redis Cluster (support/redis_cluster.hpp) as
// its stream Redis: sensors' sessions spread over the masters, each batch one MULTI in its
// session's slot, its bookkeeping relayed once to the live slot (docs/redis-keys.md, "Key
// layouts"); with replicas and wait_replicas, a master killed mid-stream loses nothing. With the
// meta Redis on the same cluster, the statistics flush writes each slot in calls of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <set>

#include "core/ipnet.hpp"
#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "core/redis_cluster.hpp"
#include "core/redis_endpoint.hpp"
#include "server/harness.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

using namespace d4;
using namespace d4::test;
namespace keys = d4::core::keys;

namespace {

constexpr auto kCluster = keys::KeyLayout::Cluster;

// One sensor sending numbered type-1 packets over TLS; every payload sent is kept, in order.
class ClusterSensor {
 public:
  explicit ClusterSensor(int tls_port) : connection_(std::make_unique<SensorConnection>(tls_port, true)) {}
  bool send(int from, int to) {
    for (int i = from; i < to; ++i) {
      std::string payload = uuid_.dashless() + " packet " + std::to_string(i) + " " +
                            std::string(100, static_cast<char>('a' + i % 26));
      sent_ += payload;
      if (!connection_->send(make_packet(uuid_, 1, kTestHmacKey, payload))) return false;
    }
    return true;
  }
  void close() { connection_->close(); }
  const std::string& sent() const { return sent_; }
  std::string uuid() const { return uuid_.dashless(); }

 private:
  protocol::Uuid uuid_ = random_uuid();
  std::string sent_;
  std::unique_ptr<SensorConnection> connection_;
};

core::RedisClient cluster_client(RedisCluster& cluster) {
  return core::RedisClient(*core::RedisEndpoint::parse("redis-cluster://" + cluster.seeds()));
}

ServerOptions cluster_layout(RedisCluster& cluster, RedisServer& meta, const std::string& extra = {}) {
  ServerOptions o;
  o.meta_redis = &meta;
  o.meta_db = 0;
  o.stream_endpoint = "redis-cluster://" + cluster.seeds();
  o.key_layout = "cluster";
  o.extra_server_toml = extra;
  return o;
}

// The sensor (uuid) of each session announced in the live slot's session_uuid:1, by session.
std::map<std::string, std::string> sessions_by_sensor(core::RedisClient& stream) {
  std::map<std::string, std::string> out;
  for (const auto& session :
       stream.command({"SMEMBERS", keys::live(kCluster, keys::sessions_of_type("1"))}).as_strings()) {
    auto first = stream.command({"XRANGE", keys::stream(kCluster, "1", session), "-", "+", "COUNT", "1"});
    if (first.elements.size() != 1) continue;
    const auto& fields = first.elements[0].elements.at(1).elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
      if (fields[i].str == "uuid") out[fields[i + 1].str] = session;
  }
  return out;
}

// The sessions of `n` sensors: a session is announced in the live slot by its first batch's relay,
// which may be confirmed after the packets were counted stored.
std::map<std::string, std::string> wait_sessions_by_sensor(core::RedisClient& stream, std::size_t n) {
  std::map<std::string, std::string> out;
  eventually([&] {
    out = sessions_by_sensor(stream);
    return out.size() == n;
  });
  return out;
}

double metric_value(const ServerProcess& server, const std::string& sample) {
  return metric(server.metrics_port(), sample).value_or(-1);
}

// Both roles, stream and meta, on the one cluster.
ServerOptions whole_cluster(RedisCluster& cluster, const std::string& extra = {}) {
  ServerOptions o;
  o.stream_endpoint = o.meta_endpoint = "redis-cluster://" + cluster.seeds();
  o.key_layout = "cluster";
  o.extra_server_toml = extra;
  return o;
}

// A member's score summed over the days given (a test that crosses midnight counts on two).
long long score_over(core::RedisClient& meta, const std::set<std::string>& days,
                     std::string (*key_of_day)(std::string_view), const std::string& member) {
  long long total = 0;
  for (const auto& d : days)
    total += meta.command({"ZSCORE", key_of_day(d), member}).as_integer().value_or(0);
  return total;
}

}  // namespace

TEST(ClusterLayout, SessionsSpreadOverThreeMastersStoreEveryPacketOnceInOrderAndCloseCleanly) {
  RedisCluster cluster({.masters = 3});
  ASSERT_TRUE(cluster.wait_ok());
  RedisServer meta;
  ServerProcess server(meta, cluster_layout(cluster, meta));
  auto stream = cluster_client(cluster);

  constexpr int kSensors = 8, kPackets = 150;
  std::vector<std::unique_ptr<ClusterSensor>> sensors;
  for (int s = 0; s < kSensors; ++s) sensors.push_back(std::make_unique<ClusterSensor>(server.tls_port()));
  // Interleaved, so that the sessions' batches are in flight together.
  for (int step = 0; step < kPackets; step += 25)
    for (auto& sensor : sensors) ASSERT_TRUE(sensor->send(step, step + 25));
  ASSERT_TRUE(eventually([&] {
    return metric_value(server, "d4_server_packets_total{type=\"1\"}") == kSensors * kPackets;
  })) << server.log();

  auto sessions = wait_sessions_by_sensor(stream, kSensors);
  ASSERT_EQ(sessions.size(), static_cast<std::size_t>(kSensors)) << server.log();
  std::set<int> masters;
  std::uint64_t total_bytes = 0;
  for (auto& sensor : sensors) {
    const std::string& session = sessions.at(sensor->uuid());
    const std::string key = keys::stream(kCluster, "1", session);
    masters.insert(cluster.owner_of(core::cluster_key_slot(key)));
    std::size_t entries = 0;
    EXPECT_EQ(stream_payloads(stream, key, &entries), sensor->sent()) << "every packet once, in order";
    EXPECT_EQ(entries, static_cast<std::size_t>(kPackets));
    total_bytes += sensor->sent().size();
    // Each batch's bookkeeping reached the live slot (once the relays of the last batches are
    // confirmed): the backlog counts every byte once.
    const auto sent = static_cast<long long>(sensor->sent().size());
    EXPECT_TRUE(eventually([&] {
      return stream.command({"HGET", keys::live(kCluster, keys::kBacklogBytesBySession), session})
                     .as_integer() == sent &&
             stream.command({"HGET", keys::live(kCluster, keys::kBacklogBytesBySensor), sensor->uuid()})
                     .as_integer() == sent;
    })) << session;
  }
  EXPECT_GE(masters.size(), 2u) << "8 sessions hashed to one master of 3";

  // Session close: recorded for the workers, live state released, outboxes emptied.
  for (auto& sensor : sensors) sensor->close();
  const std::string ended = keys::live(kCluster, keys::kEndedSessions);
  ASSERT_TRUE(eventually([&] {
    return stream.command({"SCARD", ended}).integer == kSensors;
  })) << server.log();
  ASSERT_TRUE(eventually([&] {
    return stream.command({"SCARD", keys::live(kCluster, keys::kActiveConnection)}).integer == 0 &&
           stream.command({"HLEN", keys::live(kCluster, keys::kRelayedBatches)}).integer == 0;
  })) << server.log();
  for (const auto& [uuid, session] : sessions) {
    EXPECT_EQ(stream.command({"SISMEMBER", ended, session}).integer, 1);
    EXPECT_EQ(stream.command({"EXISTS", keys::session_outbox(session)}).integer, 0)
        << "outbox relayed and deleted";
  }
  EXPECT_EQ(stream.command({"HLEN", keys::live(kCluster, keys::kBacklogBytesBySession)}).integer, kSensors);
  EXPECT_EQ(metric_value(server, "d4_server_lost_packets_total"), 0);
  EXPECT_EQ(metric_value(server, "d4_server_duplicate_writes_total"), 0);
  EXPECT_EQ(metric_value(server, "d4_server_payload_bytes_total{type=\"1\"}"),
            static_cast<double>(total_bytes));
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// The cluster layout reads the policy sets again only when server:policy_version moves: a
// blocklist change without it is not seen; announced, it applies.
TEST(ClusterLayout, PolicySetsAreReadAgainOnlyWhenThePolicyVersionMoves) {
  RedisCluster cluster({.masters = 3});
  ASSERT_TRUE(cluster.wait_ok());
  RedisServer meta;
  ServerProcess server(meta, cluster_layout(cluster, meta));
  auto meta_client = server.meta();
  const double reads = metric_value(server, "d4_server_policy_set_reads_total");
  ASSERT_TRUE(server.wait_policy_reloads()) << server.log();
  EXPECT_EQ(metric_value(server, "d4_server_policy_set_reads_total"), reads) << "refreshes without a change";

  ClusterSensor blocked(server.tls_port());
  meta_client.command({"SADD", std::string(keys::kBlocklistUuid), blocked.uuid()});
  ASSERT_TRUE(server.wait_policy_reloads());
  EXPECT_EQ(metric_value(server, "d4_server_policy_set_reads_total"), reads) << "unannounced: not read";

  meta_client.command({"INCR", std::string(keys::kPolicyVersion)});
  ASSERT_TRUE(eventually([&] {
    return metric_value(server, "d4_server_policy_set_reads_total") == reads + 1;
  })) << server.log();
  ASSERT_TRUE(server.wait_policy_reloads());
  EXPECT_EQ(metric_value(server, "d4_server_policy_set_reads_total"), reads + 1);
  blocked.send(0, 1);
  EXPECT_TRUE(eventually([&] {
    return metric_value(server, "d4_server_rejects_total{reason=\"blocked_uuid\"}") == 1;
  })) << server.log();
}

// 3 masters + 3 replicas, wait_replicas = 1: the master holding a streaming session's slot is
// killed; its replica is promoted, batches not acknowledged by a replica are sent again (to the
// slot's new owner, with their WAIT) and count as stored only once the old master is back as the
// promoted one's replica; every packet ends up once, in order, with each batch counted once in
// the backlog.
TEST(ClusterLayout, AMasterKilledMidStreamLosesNothingAcknowledged) {
  RedisCluster cluster({.masters = 3, .replicas_per_master = 1});
  ASSERT_TRUE(cluster.wait_ok());
  RedisServer meta;
  ServerProcess server(meta, cluster_layout(cluster, meta, "wait_replicas = 1\nwait_timeout_ms = 2000\n"));
  auto stream = cluster_client(cluster);
  auto stored = [&] { return metric_value(server, "d4_server_packets_total{type=\"1\"}"); };

  constexpr int kSensors = 3;
  std::vector<std::unique_ptr<ClusterSensor>> sensors;
  for (int s = 0; s < kSensors; ++s) sensors.push_back(std::make_unique<ClusterSensor>(server.tls_port()));
  for (auto& sensor : sensors) ASSERT_TRUE(sensor->send(0, 20));
  ASSERT_TRUE(eventually([&] { return stored() == kSensors * 20; })) << server.log();
  auto sessions = wait_sessions_by_sensor(stream, kSensors);
  ASSERT_EQ(sessions.size(), static_cast<std::size_t>(kSensors));

  const std::string first_key = keys::stream(kCluster, "1", sessions.at(sensors[0]->uuid()));
  const auto master = static_cast<std::size_t>(cluster.owner_of(core::cluster_key_slot(first_key)));
  const auto replica = cluster.replica_of(master);
  cluster.node(master).kill_hard();
  for (auto& sensor : sensors) ASSERT_TRUE(sensor->send(20, 40));  // during the election
  ASSERT_TRUE(eventually([&] { return cluster.node(replica).cli({"ROLE"}).starts_with("master"); }, 60s))
      << "the replica was not promoted";
  for (auto& sensor : sensors) ASSERT_TRUE(sensor->send(40, 60));
  // The promoted replica has no replica of its own: the killed shard's batches reach it but none
  // counts as stored (each is sent again with its WAIT until one acknowledges).
  ASSERT_TRUE(
      eventually([&] { return metric_value(server, "d4_server_batches_awaiting_replicas") >= 1; }, 60s))
      << server.log();
  EXPECT_LE(stored(), (kSensors - 1) * 60 + 20) << "counted as stored without a replica";
  // The old master comes back as the replica of the promoted one: everything counts.
  cluster.node(master).start();
  ASSERT_TRUE(eventually([&] { return cluster.node(master).cli({"ROLE"}).starts_with("slave"); }, 60s));
  ASSERT_TRUE(eventually([&] { return stored() == kSensors * 60; }, 90s)) << server.log();
  EXPECT_EQ(metric_value(server, "d4_server_batches_awaiting_replicas"), 0);

  stream = cluster_client(cluster);
  for (auto& sensor : sensors) {
    const std::string& session = sessions.at(sensor->uuid());
    std::size_t entries = 0;
    EXPECT_EQ(stream_payloads(stream, keys::stream(kCluster, "1", session), &entries), sensor->sent());
    EXPECT_EQ(entries, 60u);
  }
  EXPECT_EQ(metric_value(server, "d4_server_lost_packets_total"), 0);
  // Each batch counted once in the live slot, whatever was sent twice (the relay's batch numbers),
  // once the relays of the last batches are confirmed.
  for (auto& sensor : sensors) {
    const std::string& session = sessions.at(sensor->uuid());
    EXPECT_TRUE(eventually([&] {
      return stream.command({"HGET", keys::live(kCluster, keys::kBacklogBytesBySession), session})
                 .as_integer() == static_cast<long long>(sensor->sent().size());
    })) << session;
  }
  for (auto& sensor : sensors) sensor->close();
  EXPECT_TRUE(eventually(
      [&] {
        return stream.command({"SCARD", keys::live(kCluster, keys::kEndedSessions)}).integer == kSensors;
      },
      30s))
      << server.log();
}

// Stream and meta Redis on one 3-master cluster: the statistics of stored packets, the sensor's
// metadata and the rejects of three source networks, ranked in a top 2, reach the cluster (every
// flush call in one slot, none refused); the replaced network's details are gone, and d4-admin
// reads the ranked ones under the cluster layout's names.
TEST(ClusterLayout, StatisticsAndRejectRankingsFlushToAMetaRedisOnTheCluster) {
  RedisCluster cluster({.masters = 3});
  ASSERT_TRUE(cluster.wait_ok());
  ServerProcess server(cluster.node(0), whole_cluster(cluster, "reject_sources_max = 2\n"));
  auto meta = server.meta();
  std::set<std::string> days{local_day()};
  ClusterSensor sensor(server.tls_port());
  ASSERT_TRUE(sensor.send(0, 30));
  const std::vector<std::string> sources = {"127.0.1.1", "127.0.2.1", "127.0.3.1"};
  for (const auto& source : sources) {
    SensorConnection c(server.tls_port(), true, {}, {}, source);
    ASSERT_TRUE(c.send(make_packet(random_uuid(), 1, "not the key", "x")));
    EXPECT_TRUE(c.wait_closed(5s));
  }
  const std::string u = sensor.uuid();
  ASSERT_TRUE(eventually([&] {
    days.insert(local_day());
    return score_over(meta, days, keys::daily_uuid, u) == 30 &&
           meta.command({"HGET", std::string(keys::kServerRejects), "hmac_mismatch"}).str == "3" &&
           meta.command({"ZCARD", std::string(keys::kRejectSources)}).integer == 2;
  })) << server.log();
  // A flush is one call per slot, applied each on its own: the rest of the flush seen in part.
  ASSERT_TRUE(server.wait_meta_flushed()) << server.log();
  EXPECT_EQ(score_over(meta, days, keys::daily_type, "1"), 30);
  EXPECT_EQ(score_over(meta, days, keys::daily_uuid_bytes, u), static_cast<long long>(sensor.sent().size()));
  long long by_type = 0, by_ip = 0;
  for (const auto& d : days) {
    by_type += meta.command({"ZSCORE", keys::stat_uuid_type(d, u), "1"}).as_integer().value_or(0);
    by_ip += meta.command({"ZSCORE", keys::stat_ip_uuid(d, "127.0.0.1"), u}).as_integer().value_or(0);
  }
  EXPECT_EQ(by_type, 30);
  EXPECT_EQ(by_ip, 30);
  EXPECT_FALSE(meta.command({"HGET", keys::sensor_metadata(u), "last_seen"}).str.empty());
  EXPECT_EQ(meta.command({"SISMEMBER", std::string(keys::kSensorIndex), u}).integer, 1);
  EXPECT_EQ(meta.command({"SISMEMBER", keys::sensor_all_types(u), "1"}).integer, 1);
  EXPECT_EQ(meta.command({"LLEN", keys::sensor_last_ips(u)}).integer, 1);
  // Two networks ranked with their details, the replaced one without (its count inherited).
  auto ranked = meta.command({"ZRANGE", std::string(keys::kRejectSources), "0", "-1"}).as_strings();
  int held = 0;
  for (const auto& source : sources) {
    const std::string net = core::source_network_text(source);
    const bool is_ranked = std::find(ranked.begin(), ranked.end(), net) != ranked.end();
    held += is_ranked;
    EXPECT_EQ(
        meta.command({"EXISTS", keys::ip_rejects(kCluster, net), keys::ip_errors(kCluster, net)}).integer,
        is_ranked ? 2 : 0)
        << net;
    if (!is_ranked) continue;
    Process admin(
        {(bin_dir() / "d4-admin").string(), "-c", server.config_path().string(), "rejects", "--ip", source},
        Process::Options{{}, server.dir() / "admin.out", server.dir() / "admin.err", {}, {}});
    ASSERT_EQ(admin.wait(30s), 0) << read_text(server.dir() / "admin.err");
    EXPECT_NE(read_text(server.dir() / "admin.out").find("hmac_mismatch"), std::string::npos) << source;
  }
  EXPECT_EQ(held, 2);
  EXPECT_EQ(metric_value(server, "d4_server_meta_flush_errors_total"), 0) << server.log();
}

// The memory budget of a stream Redis that is a cluster: INFO memory is read from every master and
// the master nearest its own budget decides (admission.hpp). Here the last master has a maxmemory
// and the others none (half of the machine's memory each), so its budget is the one shown; a
// smaller maxmemory on another master takes over.
TEST(ClusterLayout, TheMemoryBudgetIsReadFromEveryMasterAndTheFullestDecides) {
  RedisCluster cluster({.masters = 3});
  ASSERT_TRUE(cluster.wait_ok());
  cluster.node(2).cli({"CONFIG", "SET", "maxmemory", std::to_string(64 << 20)});
  RedisServer meta;
  ServerProcess server(meta, cluster_layout(cluster, meta));
  const auto budget_of = [](long long maxmemory) {
    return static_cast<double>(static_cast<std::uint64_t>(static_cast<double>(maxmemory) * 0.9));
  };
  EXPECT_TRUE(eventually([&] {
    return metric_value(server, "d4_server_stream_memory_budget_bytes") == budget_of(64 << 20);
  })) << metric_value(server, "d4_server_stream_memory_budget_bytes");
  EXPECT_GT(metric_value(server, "d4_server_stream_memory_used_bytes"), 0);

  cluster.node(1).cli({"CONFIG", "SET", "maxmemory", std::to_string(32 << 20)});
  EXPECT_TRUE(eventually([&] {
    return metric_value(server, "d4_server_stream_memory_budget_bytes") == budget_of(32 << 20);
  })) << metric_value(server, "d4_server_stream_memory_budget_bytes");
  EXPECT_EQ(server.stop(), 0) << server.log();
}
