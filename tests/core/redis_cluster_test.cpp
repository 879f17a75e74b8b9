// Redis Cluster against real clusters of Debian's redis-server (support/redis_cluster.hpp): the
// slot function against CLUSTER KEYSLOT, the endpoint syntax, routing of both clients over three
// masters, MOVED after a live slot migration and ASK during it, CROSSSLOT refused before sending,
// and a failover (a master killed) followed by both clients.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <memory>
#include <set>

#include "async_loop.hpp"
#include "core/digest.hpp"
#include "core/redis_async.hpp"
#include "core/redis_client.hpp"
#include "core/redis_cluster.hpp"
#include "support/redis_cluster.hpp"
#include "support/test_pki.hpp"

using namespace d4::core;
using namespace std::chrono_literals;

namespace {

std::string cluster_resp(const std::vector<std::vector<std::string>>& commands) {
  std::string s;
  RespWriter w(s);
  for (const auto& c : commands) w.command(c);
  return s;
}

RedisEndpoint cluster_endpoint(const std::string& text) {
  std::string error;
  auto e = RedisEndpoint::parse(text, &error);
  if (!e) throw std::runtime_error(error);
  return *e;
}

// A key of each of `slots` (the slot function is checked against a real server below): one pass
// over candidate names, so that a sanitizer build finds hundreds of slots quickly.
std::map<int, std::string> keys_of_slots(const std::set<int>& slots, const std::string& prefix) {
  std::map<int, std::string> out;
  for (int i = 0; out.size() < slots.size(); ++i) {
    std::string k = prefix + std::to_string(i);
    int slot = cluster_key_slot(k);
    if (slots.count(slot) && !out.count(slot)) out.emplace(slot, std::move(k));
  }
  return out;
}

std::string key_of_slot(int slot, const std::string& prefix) {
  return keys_of_slots({slot}, prefix).at(slot);
}

std::set<int> every_64th_slot(int from) {
  std::set<int> slots;
  for (int slot = from; slot < kClusterSlots; slot += 64) slots.insert(slot);
  return slots;
}

AsyncRedis::Options cluster_async_options() {
  AsyncRedis::Options o;
  o.connect_timeout = 1000ms;
  o.backoff_max = 300ms;
  return o;
}

}  // namespace

TEST(RedisClusterSlots, KeySlotMatchesClusterKeyslotOfARealServer) {
  d4::test::RedisServer node(
      false, {"--cluster-enabled", "yes", "--cluster-port", std::to_string(d4::test::free_port())});
  std::vector<std::string> keys = {"",
                                   "{",
                                   "}",
                                   "{}",
                                   "{}{x}",
                                   "a{}b",
                                   "{a}",
                                   "x{a}",
                                   "{a}y",
                                   "{{a}}",
                                   "foo{}{bar}",
                                   "foo{{bar}}zap",
                                   "foo{bar}{zap}",
                                   "{user1000}.following",
                                   "{user1000}.followers",
                                   "a{b",
                                   "a}b{c}",
                                   "stream:1:{s}",
                                   "\xff\xfe{\x01}",
                                   "123456789"};
  for (int i = 0; i < 2000; ++i)
    keys.push_back("key:" + std::to_string(i * 7919) + (i % 3 ? "" : "{t" + std::to_string(i) + "}"));
  std::vector<std::vector<std::string>> commands;
  for (const auto& k : keys) commands.push_back({"CLUSTER", "KEYSLOT", k});
  RedisClient client(cluster_endpoint(node.endpoint()));
  auto replies = client.pipeline(commands);
  ASSERT_EQ(replies.size(), keys.size());
  std::set<int> seen;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(replies[i].as_integer()) << replies[i].describe();
    EXPECT_EQ(cluster_key_slot(keys[i]), *replies[i].as_integer()) << "key \"" << keys[i] << "\"";
    seen.insert(cluster_key_slot(keys[i]));
  }
  EXPECT_EQ(cluster_key_slot("123456789"), 0x31C3 % 16384) << "CRC16/XMODEM check value";
  EXPECT_GT(seen.size(), 1500u) << "the keys cover many slots";
}

// Every slot has a short decimal tag that hashes to it (the statistics flush marks each slot it
// writes with one), and a key carrying "{<tag>}" lies in that slot.
TEST(RedisClusterSlots, EverySlotHasADecimalTagOfItsOwn) {
  for (int slot = 0; slot < d4::core::kClusterSlots; ++slot) {
    const std::string& tag = d4::core::cluster_slot_tag(slot);
    ASSERT_FALSE(tag.empty()) << slot;
    ASSERT_EQ(tag.find_first_not_of("0123456789"), std::string::npos) << tag;
    ASSERT_LE(tag.size(), 6u) << tag;
    ASSERT_EQ(d4::core::cluster_key_slot("server:flush:i:0:{" + tag + "}"), slot) << tag;
  }
}

TEST(RedisEndpointSyntax, ParsesClusterSeedsAndRefusesADatabase) {
  auto e = RedisEndpoint::parse("redis-cluster://ingest:pw@10.0.0.1:7000,[::1]:7001,n3");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->uses_cluster());
  ASSERT_EQ(e->cluster_seeds.size(), 3u);
  EXPECT_EQ(e->cluster_seeds[0], (RedisNode{"10.0.0.1", 7000}));
  EXPECT_EQ(e->cluster_seeds[1], (RedisNode{"::1", 7001}));
  EXPECT_EQ(e->cluster_seeds[2], (RedisNode{"n3", 6379}));
  EXPECT_EQ(e->username, "ingest");
  EXPECT_EQ(e->password, "pw");
  EXPECT_EQ(e->to_string(), "redis-cluster://10.0.0.1:7000,[::1]:7001,n3:6379");
  EXPECT_FALSE(e->at_node({"10.0.0.2", 7002}).uses_cluster());
  auto t = RedisEndpoint::parse("rediss-cluster://a:1,b:2/?ca=/ca.pem&sni=redis");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->tls.enabled);
  EXPECT_EQ(t->tls.server_name, "redis");
  std::string err;
  EXPECT_FALSE(RedisEndpoint::parse("redis-cluster://u:hush@a:1,b:2/3", &err));
  EXPECT_NE(err.find("Redis Cluster has only database 0"), std::string::npos) << err;
  EXPECT_EQ(err.find("hush"), std::string::npos) << err;
  EXPECT_FALSE(RedisEndpoint::parse("redis-cluster://a:1?db=2", &err));
  EXPECT_NE(err.find("only database 0"), std::string::npos) << err;
  EXPECT_FALSE(RedisEndpoint::parse("redis-cluster://a:1?ca=/x", &err));
  EXPECT_NE(err.find("rediss-cluster://"), std::string::npos) << err;
  EXPECT_FALSE(RedisEndpoint::parse("redis-cluster://", &err));
  EXPECT_NE(err.find("no cluster seed"), std::string::npos) << err;
}

TEST(RedisClusterRouting, KeysOfCommandsAndGroupsOfTransactions) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(cluster_command_keys(V{"get", "a"}), (V{"a"}));
  EXPECT_EQ(cluster_command_keys(V{"MSET", "a", "1", "b", "2"}), (V{"a", "b"}));
  EXPECT_EQ(cluster_command_keys(V{"EVALSHA", "sha", "2", "k1", "k2", "arg"}), (V{"k1", "k2"}));
  EXPECT_EQ(
      cluster_command_keys(V{"XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "STREAMS", "s1", "s2", ">", ">"}),
      (V{"s1", "s2"}));
  EXPECT_EQ(cluster_command_keys(V{"BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"}), (V{"src", "dst"}));
  EXPECT_EQ(cluster_command_keys(V{"BRPOP", "q1", "q2", "5"}), (V{"q1", "q2"}));
  EXPECT_TRUE(cluster_command_keys(V{"SCRIPT", "LOAD", "return 1"}).empty());
  EXPECT_TRUE(cluster_command_keys(V{"PING"}).empty());

  std::string err;
  auto g = cluster_groups({V{"SET", "{s}a", "1"}, V{"WATCH", "{s}b"}, V{"MULTI"}, V{"INCR", "{s}b"},
                           V{"EXEC"}, V{"WAIT", "1", "100"}, V{"GET", "other"}, V{"PING"}},
                          &err);
  ASSERT_TRUE(g) << err;
  ASSERT_EQ(g->size(), 4u) << "SET; WATCH+MULTI..EXEC+WAIT; GET; PING";
  EXPECT_EQ((*g)[1].first, 1u);
  EXPECT_EQ((*g)[1].count, 5u);
  EXPECT_EQ((*g)[1].slot, cluster_key_slot("s"));
  EXPECT_EQ((*g)[3].slot, -1);
  EXPECT_FALSE(cluster_groups({V{"MULTI"}, V{"SET", "a", "1"}, V{"SET", "b", "1"}, V{"EXEC"}}, &err));
  EXPECT_NE(err.find("CROSSSLOT"), std::string::npos) << err;
  EXPECT_NE(err.find("transaction"), std::string::npos) << err;
  EXPECT_FALSE(cluster_groups({V{"MGET", "a", "b"}}, &err));
  EXPECT_NE(err.find("\"a\" (slot " + std::to_string(cluster_key_slot("a")) + ")"), std::string::npos) << err;
  EXPECT_TRUE(cluster_groups({V{"MGET", "{t}a", "{t}b"}, V{"SET", "a", "1"}, V{"SET", "b", "1"}}, &err));
  auto moved = cluster_redirect(RedisReply{RedisReply::Type::Error, "MOVED 3999 127.0.0.1:6381", 0, {}});
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->node, (RedisNode{"127.0.0.1", 6381}));
  auto ask = cluster_redirect(RedisReply{RedisReply::Type::Error, "ASK 1 [::1]:7000", 0, {}});
  ASSERT_TRUE(ask);
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->node, (RedisNode{"::1", 7000}));
}

// One cluster for the suite (three masters); every test uses keys of its own, so that each also
// passes alone. One key per 64 slots covers every master's range.
class RedisClusterClients : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = std::make_unique<d4::test::RedisCluster>(); }
  static void TearDownTestSuite() { cluster_.reset(); }

  static d4::test::RedisCluster& cluster() { return *cluster_; }
  static RedisEndpoint endpoint() { return cluster_endpoint("redis-cluster://" + cluster_->seeds()); }
  static d4::test::RedisServer& owner_of(const std::string& key) {
    return cluster_->node(static_cast<std::size_t>(cluster_->owner_of(cluster_key_slot(key))));
  }
  // GETs of the keys "b<n>" of every 64th slot from 0, which hold their slot's number once
  // written_every_64th_slot() ran.
  static std::vector<std::vector<std::string>> gets_of_every_64th_slot() {
    std::vector<std::vector<std::string>> gets;
    for (const auto& [slot, key] : keys_of_slots(every_64th_slot(0), "b")) gets.push_back({"GET", key});
    return gets;
  }
  static void written_every_64th_slot() {
    if (written_) return;
    RedisClient blocking(endpoint());
    std::vector<std::vector<std::string>> sets;
    for (const auto& [slot, key] : keys_of_slots(every_64th_slot(0), "b"))
      sets.push_back({"SET", key, std::to_string(slot)});
    for (const auto& r : blocking.pipeline(sets)) ASSERT_EQ(r.str, "OK") << r.describe();
    written_ = true;
  }

  // An asynchronous client connected to the cluster, for one test.
  struct ConnectedAsync {
    d4::test::Loop loop;
    AsyncRedis async{loop.ioc, endpoint(), cluster_async_options()};
    ConnectedAsync() {
      loop.run([&] { return async.start(), 0; });
    }
    ~ConnectedAsync() {
      loop.run([&] { return async.stop(), 0; });
    }
    bool connected() { return d4::test::wait_connected(loop, async); }
    std::string last_error() {
      return loop.run([&] { return async.last_error(); });
    }
  };

 private:
  static inline std::unique_ptr<d4::test::RedisCluster> cluster_;
  static inline bool written_ = false;
};

TEST_F(RedisClusterClients, TheBlockingClientReadsAndWritesKeysOfEverySlotRange) {
  ASSERT_NO_FATAL_FAILURE(written_every_64th_slot());
  RedisClient blocking(endpoint());
  auto values = blocking.pipeline(gets_of_every_64th_slot());
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(values[i].str, std::to_string(i * 64));
  for (std::size_t n = 0; n < 3; ++n)
    EXPECT_GT(std::stoi(cluster().node(n).cli({"DBSIZE"})), 60) << "master " << n << " holds its share";
  EXPECT_EQ(blocking.command({"SET", "single", "1"}).str, "OK");
  EXPECT_EQ(owner_of("single").cli({"GET", "single"}), "1\n");
}

// A transaction, a multi-key command and a script within one slot ({session} tags).
TEST_F(RedisClusterClients, TheBlockingClientRunsTransactionsMultiKeyCommandsAndScriptsInOneSlot) {
  RedisClient blocking(endpoint());
  auto tx = blocking.pipeline({{"MULTI"}, {"SET", "{s1}a", "1"}, {"INCR", "{s1}b"}, {"EXEC"}});
  ASSERT_EQ(tx.back().elements.size(), 2u) << tx.back().describe();
  EXPECT_EQ(blocking.command({"MGET", "{s1}a", "{s1}b"}).as_strings(), (std::vector<std::string>{"1", "1"}));
  auto sha = blocking.command({"SCRIPT", "LOAD", "return redis.call('INCRBY', KEYS[1], ARGV[1])"}).str;
  // A script is loaded per node: EVAL carries it where EVALSHA would find none.
  auto r = blocking.command({"EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", "{s1}b", "5"});
  EXPECT_EQ(r.integer, 6) << r.describe() << " sha " << sha;
}

TEST_F(RedisClusterClients, TheBlockingClientRefusesKeysOfSeveralSlotsBeforeSending) {
  RedisClient blocking(endpoint());
  try {
    blocking.pipeline({{"MULTI"}, {"SET", "a", "1"}, {"SET", "b", "2"}, {"EXEC"}});
    ADD_FAILURE() << "a cross-slot transaction was sent";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("CROSSSLOT refused before sending"), std::string::npos) << e.what();
  }
  EXPECT_EQ(owner_of("a").cli({"EXISTS", "a"}), "0\n");
}

TEST_F(RedisClusterClients, AClusterEndpointWithAnotherDatabaseThanZeroIsRefused) {
  RedisClient in_db2(endpoint().with_db(2));
  try {
    in_db2.command({"PING"});
    ADD_FAILURE() << "db 2 on a cluster";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("only database 0"), std::string::npos) << e.what();
  }
}

TEST_F(RedisClusterClients, TheAsyncClientWritesEverySlotRangeAndAnswersInRequestOrder) {
  ASSERT_NO_FATAL_FAILURE(written_every_64th_slot());
  ConnectedAsync c;
  ASSERT_TRUE(c.connected()) << c.last_error();
  std::vector<std::vector<std::string>> async_sets;
  for (const auto& [slot, key] : keys_of_slots(every_64th_slot(32), "a"))
    async_sets.push_back({"SET", key, "x"});
  auto [ec, replies] = d4::test::exec(c.loop, c.async, cluster_resp(async_sets),
                                      static_cast<std::uint32_t>(async_sets.size()), true);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(replies.size(), async_sets.size());
  for (const auto& rep : replies) EXPECT_EQ(rep.str, "OK") << rep.describe();
  const auto gets = gets_of_every_64th_slot();
  auto [ec2, values] =
      d4::test::exec(c.loop, c.async, cluster_resp(gets), static_cast<std::uint32_t>(gets.size()), false);
  ASSERT_FALSE(ec2);
  for (std::size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(values[i].str, std::to_string(i * 64)) << "in request order";
}

TEST_F(RedisClusterClients, TheAsyncClientRunsATransactionInOneSlot) {
  ConnectedAsync c;
  ASSERT_TRUE(c.connected()) << c.last_error();
  auto [ec, txr] = d4::test::exec(
      c.loop, c.async,
      cluster_resp(
          {{"WATCH", "{s2}x"}, {"MULTI"}, {"SET", "{s2}x", "1"}, {"SADD", "{s2}set", "m"}, {"EXEC"}}),
      5, false);
  ASSERT_FALSE(ec);
  EXPECT_EQ(txr.back().elements.size(), 2u) << txr.back().describe();
}

TEST_F(RedisClusterClients, TheAsyncClientRefusesARequestWithKeysOfSeveralSlotsWhole) {
  ConnectedAsync c;
  ASSERT_TRUE(c.connected()) << c.last_error();
  auto [ec, refused] =
      d4::test::exec(c.loop, c.async, cluster_resp({{"SET", "a", "1"}, {"MGET", "a", "b"}}), 2, true);
  ASSERT_FALSE(ec);
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_TRUE(refused[1].is_error());
  EXPECT_NE(refused[1].str.find("CROSSSLOT"), std::string::npos) << refused[1].str;
  EXPECT_TRUE(refused[0].is_error()) << "nothing of the request is sent";
  EXPECT_EQ(RedisClient(endpoint()).command({"EXISTS", "a"}).integer, 0);
}

// The asynchronous client sends SCRIPT LOAD to every master (a script cache is per node), so one
// request that loads a script and runs it with EVALSHA on keys of every master works, as d4-pdns's
// script mode sends it; SCRIPT FLUSH empties every master's cache.
TEST_F(RedisClusterClients, TheAsyncClientLoadsScriptsOnEveryMasterSoEvalshaRunsOnAnyOfThem) {
  ConnectedAsync c;
  ASSERT_TRUE(c.connected()) << c.last_error();
  const std::string script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  const std::string sha = d4::core::sha1_hex(script);
  std::vector<std::vector<std::string>> cmds{{"SCRIPT", "LOAD", script}};
  const auto keys = keys_of_slots(every_64th_slot(11), "async-script-");
  for (const auto& [slot, key] : keys) cmds.push_back({"EVALSHA", sha, "1", key, "3"});
  auto [ec, replies] =
      d4::test::exec(c.loop, c.async, cluster_resp(cmds), static_cast<std::uint32_t>(cmds.size()), true);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(replies.size(), cmds.size());
  EXPECT_EQ(replies.front().str, sha);
  for (std::size_t i = 1; i < replies.size(); ++i) EXPECT_EQ(replies[i].integer, 3) << replies[i].describe();
  // Every 64th slot from 11: the first, a middle and the last lie on the three masters' ranges.
  EXPECT_EQ(
      (std::set<int>{cluster().owner_of(keys.begin()->first),
                     cluster().owner_of(std::next(keys.begin(), static_cast<long>(keys.size() / 2))->first),
                     cluster().owner_of(keys.rbegin()->first)})
          .size(),
      3u)
      << "the keys lie on every master";
  for (std::size_t n = 0; n < 3; ++n)
    EXPECT_EQ(cluster().node(n).cli({"SCRIPT", "EXISTS", sha}), "1\n") << "master " << n;

  auto [flush_ec, flushed] = d4::test::exec(c.loop, c.async, cluster_resp({{"SCRIPT", "FLUSH"}}), 1, false);
  ASSERT_FALSE(flush_ec) << flush_ec.message();
  EXPECT_EQ(flushed.at(0).str, "OK");
  for (std::size_t n = 0; n < 3; ++n)
    EXPECT_EQ(cluster().node(n).cli({"SCRIPT", "EXISTS", sha}), "0\n") << "master " << n;
}

// What describes the whole cluster (INFO memory for d4-server's memory budget) is read from every
// master: one reply list per master, each from another node.
TEST_F(RedisClusterClients, TheAsyncClientSendsInfoToEveryMaster) {
  ConnectedAsync c;
  ASSERT_TRUE(c.connected()) << c.last_error();
  std::promise<std::pair<boost::system::error_code, std::vector<RedisReplies>>> done;
  auto got = done.get_future();
  c.loop.run([&] {
    c.async.submit_to_every_master(cluster_resp({{"INFO", "server"}, {"INFO", "memory"}}), 2,
                                   [&done](boost::system::error_code ec, std::vector<RedisReplies>&& each) {
                                     done.set_value({ec, std::move(each)});
                                   });
    return 0;
  });
  auto [ec, each] = got.get();
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(each.size(), 3u);
  std::set<std::string> ports, expected;
  for (const auto& replies : each) {
    ASSERT_EQ(replies.size(), 2u);
    const std::string& server = replies[0].str;
    auto at = server.find("tcp_port:");
    ASSERT_NE(at, std::string::npos) << server;
    ports.insert(server.substr(at + 9, server.find_first_of("\r\n", at) - at - 9));
    EXPECT_NE(replies[1].str.find("used_memory:"), std::string::npos) << replies[1].str;
  }
  for (std::size_t n = 0; n < 3; ++n) expected.insert(std::to_string(cluster().node(n).port()));
  EXPECT_EQ(ports, expected);
}

class RedisClusterTest : public ::testing::Test {
 protected:
  RedisEndpoint endpoint() { return cluster_endpoint("redis-cluster://" + cluster_.seeds()); }
  d4::test::RedisCluster cluster_;
};

TEST_F(RedisClusterTest, ScriptLoadAndFlushReachEveryMasterSoEvalshaRunsOnAnyOfThem) {
  RedisClient blocking(endpoint());
  const std::string script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  auto sha = blocking.command({"SCRIPT", "LOAD", script});
  ASSERT_TRUE(sha.is_string()) << sha.describe();
  for (std::size_t n = 0; n < 3; ++n)
    EXPECT_EQ(cluster_.node(n).cli({"SCRIPT", "EXISTS", sha.str}), "1\n") << "master " << n;
  // One request: the script loaded, then run on keys of every master (in order on each node).
  const std::string other = "return redis.call('SET', KEYS[1], ARGV[1])";
  std::vector<std::vector<std::string>> cmds{{"SCRIPT", "LOAD", other}};
  auto keys = keys_of_slots(every_64th_slot(7), "e");
  for (const auto& [slot, key] : keys) {
    cmds.push_back({"EVALSHA", sha.str, "1", key, "2"});
    cmds.push_back({"EVALSHA", d4::core::sha1_hex(other), "1", key + "s", "v"});
  }
  auto replies = blocking.pipeline(cmds);
  EXPECT_EQ(replies.front().str, d4::core::sha1_hex(other));
  for (std::size_t i = 1; i < replies.size(); ++i) EXPECT_FALSE(replies[i].is_error()) << replies[i].str;
  EXPECT_EQ(replies[1].integer, 2);
  // SCRIPT FLUSH empties every master's cache: EVALSHA then fails everywhere, as on one node.
  EXPECT_EQ(blocking.command({"SCRIPT", "FLUSH"}).str, "OK");
  for (std::size_t n = 0; n < 3; ++n)
    EXPECT_EQ(cluster_.node(n).cli({"SCRIPT", "EXISTS", sha.str}), "0\n") << "master " << n;
  auto gone = blocking.command({"EVALSHA", sha.str, "1", keys.begin()->second, "1"});
  ASSERT_TRUE(gone.is_error());
  EXPECT_TRUE(gone.str.starts_with("NOSCRIPT")) << gone.str;
}

TEST_F(RedisClusterTest, MovedAfterAMigrationAndAskDuringIt) {
  RedisClient blocking(endpoint());
  d4::test::Loop loop;
  AsyncRedis async(loop.ioc, endpoint(), cluster_async_options());
  loop.run([&] { return async.start(), 0; });
  ASSERT_TRUE(d4::test::wait_connected(loop, async)) << loop.run([&] { return async.last_error(); });
  const int slot = cluster_key_slot("migrating");
  const auto from = static_cast<std::size_t>(cluster_.owner_of(slot));
  const auto to = (from + 1) % 3;
  ASSERT_EQ(blocking.command({"SET", "migrating", "old"}).str, "OK");
  const std::string fresh = key_of_slot(slot, "fresh");  // same slot, created during the migration

  cluster_.begin_migration(slot, from, to);
  ASSERT_EQ(cluster_.migrate_keys(slot, from, to), 1);
  // The source answers ASK for keys it no longer has: both clients follow it (ASKING) to the target.
  EXPECT_EQ(blocking.command({"GET", "migrating"}).str, "old");
  EXPECT_EQ(blocking.command({"SET", fresh, "from-blocking"}).str, "OK");
  // Both keys are on the importing node now (which answers MOVED to a GET without ASKING).
  EXPECT_EQ(cluster_.node(to).cli({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), "2\n");
  auto [ec, got] = d4::test::exec(
      loop, async, cluster_resp({{"GET", "migrating"}, {"APPEND", fresh, "+async"}}), 2, false);
  ASSERT_FALSE(ec);
  EXPECT_EQ(got[0].str, "old");
  EXPECT_EQ(got[1].integer, static_cast<long long>(std::string("from-blocking+async").size()))
      << got[1].describe();
  EXPECT_EQ(cluster_.owner_of(slot), static_cast<int>(from)) << "ASK leaves the map as it is";

  cluster_.finish_migration(slot, to);
  // Now the old owner answers MOVED: both clients update their map and go to the new owner.
  EXPECT_EQ(blocking.command({"SET", "migrating", "new"}).str, "OK");
  EXPECT_EQ(cluster_.node(to).cli({"GET", "migrating"}), "new\n");
  auto [ec2, got2] =
      d4::test::exec(loop, async, cluster_resp({{"GET", "migrating"}, {"GET", fresh}}), 2, true);
  ASSERT_FALSE(ec2);
  EXPECT_EQ(got2[0].str, "new");
  EXPECT_EQ(got2[1].str, "from-blocking+async");
  EXPECT_EQ(cluster_.node(from).cli({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), "0\n");
  loop.run([&] { return async.stop(), 0; });
}

TEST(RedisClusterFailover, BothClientsContinueOnThePromotedReplica) {
  d4::test::RedisCluster cluster({.masters = 3, .replicas_per_master = 1});
  auto endpoint = cluster_endpoint("redis-cluster://" + cluster.seeds());
  RedisClient blocking(endpoint);
  d4::test::Loop loop;
  AsyncRedis async(loop.ioc, endpoint, cluster_async_options());
  loop.run([&] { return async.start(), 0; });
  ASSERT_TRUE(d4::test::wait_connected(loop, async)) << loop.run([&] { return async.last_error(); });
  const int slot = cluster_key_slot("failover");
  const auto master = static_cast<std::size_t>(cluster.owner_of(slot));
  const auto replica = cluster.replica_of(master);
  ASSERT_EQ(blocking.command({"SET", "failover", "before"}).str, "OK");
  // The replica has the key (it redirects a GET to its master; DBSIZE it answers itself).
  ASSERT_TRUE(d4::test::eventually([&] { return cluster.node(replica).cli({"DBSIZE"}) == "1\n"; }, 20s));

  cluster.node(master).kill_hard();
  // A retry request submitted while the master is gone waits and lands on the promoted replica.
  std::promise<std::pair<boost::system::error_code, RedisReplies>> pending;
  auto pending_result = pending.get_future();
  loop.run([&] {
    async.submit(cluster_resp({{"INCR", "{failover}n"}}), 1, true,
                 [&](boost::system::error_code e, RedisReplies&& rs) {
                   pending.set_value({e, std::move(rs)});
                 });
    return 0;
  });
  ASSERT_TRUE(
      d4::test::eventually([&] { return cluster.node(replica).cli({"ROLE"}).starts_with("master"); }, 40s))
      << "the replica was not promoted";
  ASSERT_EQ(pending_result.wait_for(40s), std::future_status::ready)
      << loop.run([&] { return async.last_error(); });
  auto [ec, rs] = pending_result.get();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(rs.at(0).integer, 1) << rs.at(0).describe();
  EXPECT_EQ(cluster.node(replica).cli({"GET", "{failover}n"}), "1\n");
  EXPECT_EQ(cluster.node(replica).cli({"GET", "failover"}), "before\n");

  // The blocking client reads the map again when its node cannot be reached (bounded attempts;
  // a call during the election may still fail, the next one finds the new master).
  bool blocking_moved = d4::test::eventually(
      [&] {
        try {
          return blocking.command({"SET", "failover", "after"}).str == "OK";
        } catch (const RedisError&) {
          return false;
        }
      },
      40s, 100ms);
  EXPECT_TRUE(blocking_moved);
  EXPECT_EQ(cluster.node(replica).cli({"GET", "failover"}), "after\n");
  ASSERT_TRUE(d4::test::wait_connected(loop, async, 30s)) << loop.run([&] { return async.last_error(); });
  auto [ec2, rs2] = d4::test::exec(loop, async, cluster_resp({{"GET", "failover"}}), 1, false);
  ASSERT_FALSE(ec2) << ec2.message();
  EXPECT_EQ(rs2.at(0).str, "after");
  loop.run([&] { return async.stop(), 0; });
}

// rediss-cluster:// with an ACL user: CLUSTER SLOTS names the nodes' TLS ports (tls-cluster yes),
// and both clients verify every node against the CA and authenticate as the user on each.
TEST(RedisClusterTls, BothClientsRouteOverTlsAsAnAclUser) {
  d4::test::TempDir dir;
  d4::test::TestPki pki(dir.path().string());
  d4::test::RedisClusterOptions options;
  options.node.tls_cert = pki.server_crt;
  options.node.tls_key = pki.server_key;
  options.node.tls_ca = pki.ca_crt;
  options.node.acl_users = {{"app", "on", ">app-pw", "~*", "+@all"}};
  // The cluster bus runs over TLS too, and a node presents its client certificate to its peers,
  // which check it whatever tls-auth-clients says (a serverAuth-only certificate is refused).
  options.node.extra_args = {"--tls-cluster",         "yes",         "--tls-client-cert-file", pki.client_crt,
                             "--tls-client-key-file", pki.client_key};
  d4::test::RedisCluster cluster(options);
  auto endpoint =
      cluster_endpoint("rediss-cluster://app:app-pw@" + cluster.seeds(true) + "?ca=" + pki.ca_crt);
  RedisClient blocking(endpoint);
  std::vector<std::vector<std::string>> sets;
  for (const auto& [slot, key] : keys_of_slots(every_64th_slot(7), "t")) sets.push_back({"SET", key, "v"});
  for (const auto& r : blocking.pipeline(sets)) ASSERT_EQ(r.str, "OK") << r.describe();
  for (std::size_t n = 0; n < 3; ++n)
    EXPECT_GT(std::stoi(cluster.node(n).cli({"DBSIZE"})), 60) << "master " << n;
  EXPECT_EQ(blocking.command({"ACL", "WHOAMI"}).str, "app");

  d4::test::Loop loop;
  AsyncRedis async(loop.ioc, endpoint, cluster_async_options());
  loop.run([&] { return async.start(), 0; });
  ASSERT_TRUE(d4::test::wait_connected(loop, async)) << loop.run([&] { return async.last_error(); });
  std::vector<std::vector<std::string>> gets;
  for (const auto& c : sets) gets.push_back({"GET", c[1]});
  auto [ec, values] =
      d4::test::exec(loop, async, cluster_resp(gets), static_cast<std::uint32_t>(gets.size()), false);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(values.size(), gets.size());
  for (const auto& v : values) EXPECT_EQ(v.str, "v") << v.describe();
  loop.run([&] { return async.stop(), 0; });

  auto wrong_ca =
      cluster_endpoint("rediss-cluster://app:app-pw@" + cluster.seeds(true) + "?ca=" + pki.other_ca_crt);
  try {
    RedisClient(wrong_ca, {1000ms, 2000ms}).command({"PING"});
    ADD_FAILURE() << "a node was trusted without its CA";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("no cluster node gave a slot map"), std::string::npos) << e.what();
  }
}
