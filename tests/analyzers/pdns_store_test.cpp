// The passive DNS write path against a real redis-server: many small batches in flight at once,
// observations out of order across them, both write modes; the stored keys must equal a model
// computed here (min first seen, max last seen, summed counts, sets, statistics).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>

#include "analyzers/pdns/store.hpp"
#include "support/redis_server.hpp"
#include "support/text.hpp"

using namespace d4::analyzers::pdns;
using d4::test::RedisServer;

namespace {

struct Expected {
  std::int64_t first = INT64_MAX, last = 0;
  std::uint64_t count = 0;
};

// Reads go through one client connection: a redis-cli process per key made the model checks take
// minutes on a loaded machine.
std::string get(d4::core::RedisClient& redis, const std::string& key) {
  return redis.command({"GET", key}).as_string().value_or("");
}

std::set<std::string> members(d4::core::RedisClient& redis, const std::string& key) {
  auto v = redis.command({"SMEMBERS", key}).as_strings();
  return {v.begin(), v.end()};
}

std::string hget(d4::core::RedisClient& redis, const std::string& key, const std::string& field) {
  return redis.command({"HGET", key, field}).as_string().value_or("");
}

void check_against_model(const std::string& write_mode, std::size_t batch_records, std::size_t inflight,
                         unsigned seed) {
  RedisServer redis;
  d4::core::RedisClient client(*d4::core::RedisEndpoint::parse(redis.endpoint()));
  StoreOptions o;
  o.write_mode = write_mode;
  o.batch_records = batch_records;
  o.inflight_batches = inflight;
  o.expiry_seconds[16] = 5000;
  PdnsStore store(client, o);
  std::mt19937 rng(seed);
  std::map<std::tuple<std::string, std::uint16_t, std::string>, Expected> model;
  std::map<std::string, std::uint64_t> ttl_dist, type_dist;
  const int n = 6000;
  for (int i = 0; i < n; ++i) {
    PdnsRecord r;
    int k = static_cast<int>(rng() % 150);  // few keys: each one seen in many batches
    r.rrname = "n" + std::to_string(k % 60) + ".example.org";
    r.rrtype = k % 3 == 0 ? 16 : 1;
    r.rdata = r.rrtype == 16 ? "txt " + std::to_string(k)
                             : "10.0." + std::to_string(k / 256) + "." + std::to_string(k % 256);
    // Times jump back and forth, so later batches carry older observations than earlier ones.
    r.time_first = 1700000000 + static_cast<std::int64_t>(rng() % 100000);
    r.time_last = r.time_first + static_cast<std::int64_t>(rng() % 50);
    r.count = 1 + rng() % 3;
    r.ttl = static_cast<std::int64_t>(rng() % 4) * 60;
    ASSERT_TRUE(store.add(r));
    auto& e = model[{r.rrname, r.rrtype, r.rdata}];
    e.first = std::min(e.first, r.time_first);
    e.last = std::max(e.last, r.time_last);
    e.count += r.count;
    ++ttl_dist[std::to_string(r.ttl)];
    ++type_dist[std::to_string(r.rrtype)];
  }
  store.flush();
  EXPECT_EQ(store.pending(), 0u);
  EXPECT_EQ(get(client, "stats:processed"), std::to_string(n));
  EXPECT_GT(store.stats().writes, n / batch_records / 2);
  std::map<std::string, std::set<std::string>> forward, reverse;
  for (const auto& [key, e] : model) {
    const auto& [q, t, v] = key;
    std::string triple = q + ":" + v + ":" + std::to_string(t);
    ASSERT_EQ(get(client, "s:" + triple), std::to_string(e.first)) << triple;
    ASSERT_EQ(get(client, "l:" + triple), std::to_string(e.last)) << triple;
    ASSERT_EQ(get(client, "o:" + triple), std::to_string(e.count)) << triple;
    forward["r:" + q + ":" + std::to_string(t)].insert(v);
    reverse["v:" + v + ":" + std::to_string(t)].insert(q);
    if (t == 16) {
      long long ttl = client.command({"TTL", "l:" + triple}).integer;
      EXPECT_GT(ttl, 4000) << triple;
    } else {
      EXPECT_EQ(client.command({"TTL", "l:" + triple}).integer, -1) << triple;
    }
  }
  for (const auto& [key, values] : forward) EXPECT_EQ(members(client, key), values) << key;
  for (const auto& [key, values] : reverse) EXPECT_EQ(members(client, key), values) << key;
  for (const auto& [ttl, c] : ttl_dist) EXPECT_EQ(hget(client, "dist:ttl", ttl), std::to_string(c));
  for (const auto& [t, c] : type_dist) EXPECT_EQ(hget(client, "dist:type", t), std::to_string(c));
  EXPECT_EQ(hget(client, "dist:class", "IN"), std::to_string(n));
}

}  // namespace

TEST(PdnsStoreWrites, ManyBatchesInFlightOutOfOrderMatchTheModel) {
  check_against_model("pipeline", 7, 4, 1);
}

TEST(PdnsStoreWrites, OneBatchAtATimeMatchesTheModel) {
  check_against_model("pipeline", 50, 1, 2);
}

TEST(PdnsStoreWrites, ScriptModeWithBatchesInFlightMatchesTheModel) {
  check_against_model("script", 9, 3, 3);
}

TEST(PdnsStoreWrites, ErrorReplyKeepsTheBatchUntilTheKeyIsFixed) {
  RedisServer redis;
  d4::core::RedisClient client(*d4::core::RedisEndpoint::parse(redis.endpoint()));
  PdnsStore store(client, {});
  // The forward set's key holds a string (damaged database): SADD fails with WRONGTYPE.
  redis.cli({"SET", "r:bad.example.org:1", "x"});
  PdnsRecord r;
  r.rrname = "bad.example.org";
  r.rrtype = 1;
  r.rdata = "192.0.2.1";
  r.time_first = r.time_last = 1700000000;
  store.add(r);
  try {
    store.flush();
    FAIL() << "flush must report the rejected write";
  } catch (const d4::core::RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("WRONGTYPE"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store.pending(), 1u);
  redis.cli({"DEL", "r:bad.example.org:1"});
  store.flush();
  EXPECT_EQ(store.pending(), 0u);
  EXPECT_EQ(members(client, "r:bad.example.org:1"), std::set<std::string>{"192.0.2.1"});
}

TEST(PdnsStoreWrites, RedisKilledWithBatchesInFlightLosesNothingOnceBack) {
  RedisServer redis(true);  // persistent: what was acknowledged before the restart stays
  d4::core::RedisClient client(*d4::core::RedisEndpoint::parse(redis.endpoint()));
  StoreOptions o;
  o.batch_records = 5;
  o.inflight_batches = 8;
  PdnsStore store(client, o);
  auto record = [](int i) {
    PdnsRecord r;
    r.rrname = "k" + std::to_string(i) + ".example.org";
    r.rrtype = 1;
    r.rdata = "10.1.0." + std::to_string(i % 250);
    r.time_first = r.time_last = 1700000000 + i;
    return r;
  };
  for (int i = 0; i < 100; ++i) store.add(record(i));
  store.flush();
  redis.cli({"SAVE"});
  redis.kill_hard();
  int attempts = 0;
  for (int i = 100; i < 300; ++i) {
    try {
      store.add(record(i));
    } catch (const d4::core::RedisError&) {
      --i;  // not added: add it again, as retry_redis does
      ASSERT_LT(++attempts, 100);
      if (!redis.running()) redis.start();
    }
  }
  for (int attempt = 0;; ++attempt) {
    try {
      store.flush();
      break;
    } catch (const d4::core::RedisError&) {
      ASSERT_LT(attempt, 50);
      if (!redis.running()) redis.start();
    }
  }
  EXPECT_EQ(store.pending(), 0u);
  // Every record exactly once: the 100 saved before the kill, the 200 written after it.
  d4::core::RedisClient reader(*d4::core::RedisEndpoint::parse(redis.endpoint()));
  for (int i = 0; i < 300; ++i)
    ASSERT_EQ(get(reader, "o:" + record(i).rrname + ":" + record(i).rdata + ":1"), "1") << i;
  EXPECT_EQ(get(reader, "stats:processed"), "300");
}
