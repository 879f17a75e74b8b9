// The server's statistics/metadata batch against a real redis-server: events aggregate into
// counters, what unauthenticated peers cause is bounded, every Redis call is short, and a call
// re-sent after a reconnect is applied once.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/keys.hpp"
#include "core/redis_client.hpp"
#include "core/redis_cluster.hpp"
#include "server/meta_batch.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

using namespace d4;
using d4::server::MetaBatch;
namespace keys = d4::core::keys;

namespace {

// The arguments of one RESP array request ("*N\r\n$len\r\n...\r\n...").
std::vector<std::string> decode_request(const std::string& resp) {
  std::vector<std::string> args;
  std::size_t pos = resp.find("\r\n") + 2;
  std::size_t n = std::stoul(resp.substr(1));
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t eol = resp.find("\r\n", pos);
    std::size_t len = std::stoul(resp.substr(pos + 1, eol - pos - 1));
    args.push_back(resp.substr(eol + 2, len));
    pos = eol + 2 + len + 2;
  }
  return args;
}

// The operations of a flush call (see scripts::kFlushScript for their arities).
std::vector<std::vector<std::string>> ops_of(const std::vector<std::string>& args) {
  const std::map<std::string, std::size_t> arity = {{"z", 4}, {"h", 4}, {"s", 4}, {"n", 4}, {"d", 3},
                                                    {"l", 4}, {"a", 3}, {"A", 4}, {"e", 3}, {"r", 7}};
  std::vector<std::vector<std::string>> ops;
  for (std::size_t i = 5; i < args.size(); i += arity.at(args[i]))  // EVAL script 1 marker seq
    ops.emplace_back(args.begin() + static_cast<long>(i),
                     args.begin() + static_cast<long>(i + arity.at(args[i])));
  return ops;
}

std::size_t count_ops(const std::vector<std::string>& args) {
  return ops_of(args).size();
}

// Every write of a network's details comes in the same call as that network's ranking op.
bool details_follow_their_ranking(const std::vector<std::string>& args) {
  std::set<std::string> ranked;
  for (const auto& op : ops_of(args)) {
    if (op[0] == "r") ranked.insert(op[2]);
    for (const char* prefix : {"ip:rejects:", "ip:errors:"})
      if (op[1].rfind(prefix, 0) == 0 && !ranked.count(op[1].substr(std::string_view(prefix).size())))
        return false;
  }
  return true;
}

// The keys a request declares (EVAL script numkeys key...).
std::vector<std::string> declared_keys(const std::vector<std::string>& args) {
  const auto n = static_cast<long>(std::stoul(args.at(2)));
  return {args.begin() + 3, args.begin() + 3 + n};
}

// The operations of a call that declares its keys (EVAL script numkeys marker keys... seq ops).
std::vector<std::vector<std::string>> declared_call_ops(const std::vector<std::string>& args) {
  std::vector<std::string> shifted(args);
  const auto extra = static_cast<long>(declared_keys(args).size() - 1);
  shifted.erase(shifted.begin() + 4, shifted.begin() + 4 + extra);  // as if only the marker
  return ops_of(shifted);
}

core::RedisClient client(test::RedisServer& r) {
  return core::RedisClient(*core::RedisEndpoint::parse(r.endpoint(0)));
}

}  // namespace

TEST(MetaBatch, EventsAggregateIntoOneOperationPerKeyAndField) {
  MetaBatch b;
  for (int i = 0; i < 10000; ++i) {
    b.incr(keys::kServerRejects, "tls_handshake");
    b.push_capped("sensor:errors:x", "entry " + std::to_string(i), 50);
    b.set_field("metadata_uuid:x", "Error", "e" + std::to_string(i));
  }
  std::uint64_t seq = 0;
  auto reqs = b.take_requests("server:flush:t:0", seq, "20260101", 1700000000);
  std::size_t ops = 0;
  for (const auto& r : reqs) ops += count_ops(decode_request(r));
  EXPECT_EQ(ops, 1u + 50u + 1u) << "one HINCRBY, the 50 entries the list keeps, one HSET";
  EXPECT_TRUE(b.empty());
}

// Stored packets clear the sensor's last Error (the reference's rule), except packets of a refused
// session confirmed after its reject: they were read before it, and the Error may already be in
// Redis from an earlier flush.
TEST(MetaBatch, StoredDataClearsTheErrorUnlessReadBeforeTheReject) {
  test::RedisServer redis;
  auto r = client(redis);
  const std::string meta = keys::sensor_metadata("s1");
  std::uint64_t seq = 0;
  auto flush = [&](MetaBatch& b) {
    for (const auto& req : b.take_requests("server:flush:t:0", seq, "20260101", 1700000000))
      ASSERT_FALSE(r.command(decode_request(req)).is_error());
  };
  MetaBatch b;
  b.set_field(meta, "Error", "Error: Unexpected type change type=1, new type=3");
  flush(b);
  b.count_stored("s1", "192.0.2.1", 1, 1, 100, /*clears_error=*/false);
  flush(b);
  EXPECT_EQ(r.command({"HGET", meta, "Error"}).str, "Error: Unexpected type change type=1, new type=3");
  EXPECT_EQ(r.command({"HGET", meta, "last_seen"}).str, "1700000000") << "still counted as seen";
  b.count_stored("s1", "192.0.2.1", 1, 1, 100, false);
  b.count_stored("s1", "192.0.2.1", 1, 1, 100);  // another session's packet, read after the reject
  flush(b);
  EXPECT_EQ(r.command({"HEXISTS", meta, "Error"}).integer, 0);
  EXPECT_EQ(r.command({"ZSCORE", keys::daily_uuid("20260101"), "s1"}).str, "3");
}

TEST(MetaBatch, SourceNetworksHeldPerIntervalAreBounded) {
  MetaBatch::Limits l;
  l.max_sources = 3;
  MetaBatch b(l);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(b.count_source_reject("192.0." + std::to_string(i) + ".0/24", "x", "e", 50));
  EXPECT_TRUE(b.count_source_reject("192.0.0.0/24", "y", "e", 50)) << "a network already held";
  EXPECT_FALSE(b.count_source_reject("192.0.9.0/24", "x", "e", 50)) << "the fourth network";
  EXPECT_EQ(b.sources_held(), 3u);
}

TEST(MetaBatch, CallsAreShortTopSourcesBoundedAndAppliedExactlyOnce) {
  test::RedisServer redis;
  auto r = client(redis);
  // Redis's own timing of every call (SLOWLOG with a 0 threshold).
  r.command({"CONFIG", "SET", "slowlog-log-slower-than", "0"});
  r.command({"CONFIG", "SET", "slowlog-max-len", "1000000"});  // the scripts' commands are logged too
  r.command({"SLOWLOG", "RESET"});
  MetaBatch::Limits l;
  l.max_sources = 20000;
  l.reject_sources_kept = 100;
  MetaBatch b(l);
  for (int i = 0; i < 10000; ++i) {
    std::string net = "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24";
    b.count_source_reject(net, "hmac_mismatch", "{\"reason\":\"hmac_mismatch\"}", 50);
    b.incr(keys::kServerRejects, "hmac_mismatch");
  }
  std::uint64_t seq = 0;
  auto reqs = b.take_requests("server:flush:t:0", seq, "20260101", 1700000000);
  ASSERT_GT(reqs.size(), 100u);
  for (const auto& req : reqs) {
    auto args = decode_request(req);
    EXPECT_LE(count_ops(args), l.max_ops_per_call);
    EXPECT_TRUE(details_follow_their_ranking(args));
    auto reply = r.command(args);
    ASSERT_FALSE(reply.is_error()) << reply.str;
  }
  // Median execution time (robust to the machine preempting Redis now and then): each call is
  // short; one call with every operation took 70-107 ms under a flood.
  std::vector<long long> micros;
  for (const auto& e : r.command({"SLOWLOG", "GET", "-1"}).elements)
    if (e.elements.size() > 3 && e.elements[3].elements.size() > 1 && e.elements[3].elements[0].str == "EVAL")
      micros.push_back(e.elements[2].integer);
  ASSERT_EQ(micros.size(), reqs.size());
  std::sort(micros.begin(), micros.end());
  EXPECT_LT(micros[micros.size() / 2], 5000) << "median call " << micros[micros.size() / 2] << " us";
  EXPECT_EQ(r.command({"HGET", std::string(keys::kServerRejects), "hmac_mismatch"}).str, "10000");
  EXPECT_EQ(r.command({"ZCARD", std::string(keys::kRejectSources)}).integer, 100);
  EXPECT_EQ(r.command({"DBSIZE"}).integer, 1 + 1 + 100 + 100 + 1)
      << "rejects, ranking, 2 per network, marker";
  // Every ranked network has its details; the replaced ones have none.
  for (const auto& net : r.command({"ZRANGE", std::string(keys::kRejectSources), "0", "-1"}).as_strings())
    EXPECT_EQ(r.command({"EXISTS", keys::ip_rejects(net), keys::ip_errors(net)}).integer, 2) << net;
  // Re-sent after a reconnect (the replies were lost): nothing is applied twice.
  for (const auto& req : reqs) EXPECT_EQ(r.command(decode_request(req)).integer, -1);
  EXPECT_EQ(r.command({"HGET", std::string(keys::kServerRejects), "hmac_mismatch"}).str, "10000");
}

// Cluster layout on a real 3-master cluster: every call declares the marker and each key it
// writes, all of one slot (the cluster client refuses anything else before sending); applied,
// the writes are those of the reference layout's names, the source networks' details under the
// ranking's tag; sent again, nothing is applied twice.
TEST(MetaBatch, ClusterLayoutCallsEachStayInOneSlotAndApplyOnce) {
  test::RedisCluster cluster({.masters = 3});
  ASSERT_TRUE(cluster.wait_ok());
  core::RedisClient r(*core::RedisEndpoint::parse("redis-cluster://" + cluster.seeds()));
  MetaBatch::Limits l;
  l.reject_sources_kept = 4;
  l.max_ops_per_call = 5;  // joined groups stay whole; cuts happen within a slot
  MetaBatch b(l);
  b.set_layout(keys::KeyLayout::Cluster);
  for (int s = 0; s < 6; ++s) b.count_stored("sensor" + std::to_string(s), "192.0.2.1", 1, 10, 1000);
  for (int i = 0; i < 10; ++i) {
    b.count_source_reject("10.0." + std::to_string(i) + ".0/24", "hmac_mismatch", "{}", 50);
    b.incr(keys::kServerRejects, "hmac_mismatch");
  }
  std::uint64_t seq = 0;
  auto reqs = b.take_requests("server:flush:t:0", seq, "20260101", 1700000000);
  std::set<int> slots;
  for (const auto& req : reqs) {
    auto args = decode_request(req);
    auto declared = declared_keys(args);
    const int slot = core::cluster_key_slot(declared.at(0));
    EXPECT_TRUE(declared[0].starts_with("server:flush:t:0:{")) << declared[0];
    for (const auto& key : declared) EXPECT_EQ(core::cluster_key_slot(key), slot) << key;
    for (const auto& op : declared_call_ops(args))
      EXPECT_NE(std::find(declared.begin(), declared.end(), op[1]), declared.end()) << op[1] << " undeclared";
    slots.insert(slot);
    auto reply = r.command(args);
    ASSERT_FALSE(reply.is_error()) << reply.str;
  }
  EXPECT_GT(slots.size(), 10u) << "the per-day and per-sensor keys spread over slots";
  EXPECT_EQ(r.command({"ZSCORE", keys::daily_uuid("20260101"), "sensor3"}).str, "10");
  EXPECT_EQ(r.command({"HGET", keys::sensor_metadata("sensor5"), "last_seen"}).str, "1700000000");
  EXPECT_EQ(r.command({"SCARD", std::string(keys::kSensorIndex)}).integer, 6);
  EXPECT_EQ(r.command({"HGET", std::string(keys::kServerRejects), "hmac_mismatch"}).str, "10");
  auto ranked = r.command({"ZRANGE", std::string(keys::kRejectSources), "0", "-1"}).as_strings();
  ASSERT_EQ(ranked.size(), 4u);
  for (int i = 0; i < 10; ++i) {
    const std::string net = "10.0." + std::to_string(i) + ".0/24";
    const long long held = std::find(ranked.begin(), ranked.end(), net) != ranked.end() ? 1 : 0;
    EXPECT_EQ(r.command({"EXISTS", keys::ip_rejects(keys::KeyLayout::Cluster, net)}).integer, held) << net;
    EXPECT_EQ(r.command({"EXISTS", keys::ip_errors(keys::KeyLayout::Cluster, net)}).integer, held) << net;
  }
  for (const auto& req : reqs) EXPECT_EQ(r.command(decode_request(req)).integer, -1);
  EXPECT_EQ(r.command({"HGET", std::string(keys::kServerRejects), "hmac_mismatch"}).str, "10");
  EXPECT_EQ(r.command({"ZSCORE", keys::daily_uuid("20260101"), "sensor3"}).str, "10");
}
