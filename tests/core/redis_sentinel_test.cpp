// Sentinel endpoints against real servers: a master, its replica and a Sentinel (redis-server
// --sentinel, short timeouts). Both clients find the master through the sentinels (asked in turn),
// follow a SENTINEL FAILOVER to the promoted replica, and say clearly when no sentinel helps.
#include <gtest/gtest.h>

#include <memory>

#include "async_loop.hpp"
#include "core/redis_async.hpp"
#include "core/redis_client.hpp"
#include "core/redis_handshake.hpp"
#include "support/redis_server.hpp"

using namespace d4::core;
using namespace std::chrono_literals;

namespace {

std::string sentinel_resp(std::initializer_list<std::string_view> args) {
  std::string s;
  RespWriter(s).command(args);
  return s;
}

class SentinelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = std::make_unique<d4::test::RedisServer>();
    d4::test::RedisServerOptions r;
    r.replica_of = master_->port();
    replica_ = std::make_unique<d4::test::RedisServer>(r);
    // The Sentinel learns the replica from the master's INFO when it connects: the replica is
    // attached first so that a failover has somewhere to go without waiting for the next INFO.
    ASSERT_TRUE(d4::test::eventually(
        [&] {
          return replica_->cli({"INFO", "replication"}).find("master_link_status:up") != std::string::npos;
        },
        20s));
    d4::test::RedisServerOptions s;
    s.sentinel_of = master_->port();
    s.sentinel_password = "sentinel-pw";
    sentinel_ = std::make_unique<d4::test::RedisServer>(s);
    ASSERT_TRUE(d4::test::eventually(
        [&] {
          return sentinel_->cli({"SENTINEL", "replicas", "mymaster"})
                     .find(std::to_string(replica_->port())) != std::string::npos;
        },
        20s));
  }

  // Sentinels to ask: one where nothing listens, then the real one.
  std::string endpoint_text(const std::string& query = "sentinel_password=sentinel-pw") {
    return "redis-sentinel://127.0.0.1:" + std::to_string(dead_port_) +
           ",127.0.0.1:" + std::to_string(sentinel_->port()) + "/mymaster/2?" + query;
  }
  RedisEndpoint endpoint(const std::string& query = "sentinel_password=sentinel-pw") {
    std::string error;
    auto e = RedisEndpoint::parse(endpoint_text(query), &error);
    if (!e) throw std::runtime_error(error);
    return *e;
  }
  static std::string blocking_error(const RedisEndpoint& e) {
    try {
      RedisClient c(e, {1000ms, 5000ms});
      auto r = c.command({"PING"});
      return r.str == "PONG" ? "" : "unexpected " + r.describe();
    } catch (const RedisError& err) {
      return err.what();
    }
  }

  int dead_port_ = d4::test::free_port();
  std::unique_ptr<d4::test::RedisServer> master_, replica_, sentinel_;
};

}  // namespace

TEST_F(SentinelTest, BothClientsFindTheMasterAndFollowAFailoverToThePromotedReplica) {
  RedisClient blocking(endpoint());
  EXPECT_EQ(blocking.command({"SET", "before", "blocking"}).str, "OK");
  EXPECT_EQ(master_->cli({"GET", "before"}, 2), "blocking\n") << "the master, db 2";
  d4::test::Loop loop;
  AsyncRedis::Options o;
  o.connect_timeout = 1000ms;
  o.backoff_max = 200ms;
  AsyncRedis async(loop.ioc, endpoint(), o);
  loop.run([&] { return async.start(), 0; });
  ASSERT_TRUE(d4::test::wait_connected(loop, async)) << loop.run([&] { return async.last_error(); });
  auto [ec, replies] = d4::test::exec(loop, async, sentinel_resp({"SET", "before-async", "1"}), 1, true);
  ASSERT_FALSE(ec);
  EXPECT_EQ(master_->cli({"GET", "before-async"}, 2), "1\n");

  // Refused (NOGOODSLAVE) until the Sentinel has had an INFO reply from the replica itself.
  ASSERT_TRUE(d4::test::eventually(
      [&] {
        return sentinel_->cli({"SENTINEL", "FAILOVER", "mymaster"}) == "OK\n";
      },
      30s, 100ms));
  ASSERT_TRUE(d4::test::eventually(
      [&] {
        return sentinel_->cli({"SENTINEL", "get-master-addr-by-name", "mymaster"}) ==
               "127.0.0.1\n" + std::to_string(replica_->port()) + "\n";
      },
      30s, 50ms));
  // The Sentinel then turns the old master into a replica and closes its clients; each client's
  // next connection asks the sentinels again and lands on the promoted replica. Writes keep going
  // (an error reply or a failed command is retried) until one is on the new master.
  int attempt = 0;
  bool blocking_moved = d4::test::eventually(
      [&] {
        std::string value = "b" + std::to_string(++attempt);
        try {
          blocking.command({"SET", "after", value});
        } catch (const RedisError&) {
        }
        return replica_->cli({"GET", "after"}, 2) == value + "\n";
      },
      40s, 100ms);
  EXPECT_TRUE(blocking_moved) << "blocking client never wrote to the promoted replica";
  bool async_moved = d4::test::eventually(
      [&] {
        std::string value = "a" + std::to_string(++attempt);
        d4::test::exec(loop, async, sentinel_resp({"SET", "after-async", value}), 1, true);
        return replica_->cli({"GET", "after-async"}, 2) == value + "\n";
      },
      40s, 100ms);
  EXPECT_TRUE(async_moved) << "async client never wrote to the promoted replica";
  EXPECT_NE(master_->cli({"ROLE"}).find("slave"), std::string::npos) << "the old master is a replica now";
  EXPECT_GE(loop.run([&] { return async.reconnects(); }), 1u);
  loop.run([&] { return async.stop(), 0; });
}

TEST_F(SentinelTest, ClearErrorsWhenNoSentinelHelps) {
  std::string wrong_password = blocking_error(endpoint("sentinel_password=not-it"));
  EXPECT_NE(wrong_password.find("no Sentinel gave a reachable master \"mymaster\""), std::string::npos)
      << wrong_password;
  EXPECT_NE(wrong_password.find("127.0.0.1:" + std::to_string(dead_port_)), std::string::npos)
      << "each sentinel's failure is listed: " << wrong_password;
  EXPECT_NE(wrong_password.find("AUTH"), std::string::npos) << wrong_password;
  EXPECT_EQ(wrong_password.find("not-it"), std::string::npos) << wrong_password;
  auto unknown = endpoint();
  unknown.sentinel_master = "nosuchmaster";
  std::string error = blocking_error(unknown);
  EXPECT_NE(error.find("does not know master \"nosuchmaster\""), std::string::npos) << error;
  d4::test::Loop loop;
  AsyncRedis async(loop.ioc, unknown);
  loop.run([&] { return async.start(), 0; });
  std::string async_error;
  EXPECT_TRUE(d4::test::eventually([&] {
    async_error = loop.run([&] { return async.last_error(); });
    return !async_error.empty();
  }));
  EXPECT_NE(async_error.find("does not know master \"nosuchmaster\""), std::string::npos) << async_error;
  loop.run([&] { return async.stop(), 0; });
}

// A Sentinel's answer may be stale: the address it names must answer ROLE as master.
TEST(SentinelHandshake, ANodeThatIsNotTheMasterIsRefused) {
  RedisEndpoint e = *RedisEndpoint::parse("redis://app:pw@127.0.0.1:6379/3");
  RedisHandshake h = node_handshake(e, true, true);
  ASSERT_EQ(h.names, (std::vector<std::string>{"AUTH", "SELECT", "ROLE", "PING"}));
  RedisReply ok;
  ok.type = RedisReply::Type::Status;
  ok.str = "OK";
  RedisReply role;
  role.type = RedisReply::Type::Array;
  role.elements.resize(1);
  role.elements[0].type = RedisReply::Type::String;
  role.elements[0].str = "slave";
  auto bad = check_node_handshake(h, {ok, ok, role, ok});
  ASSERT_TRUE(bad);
  EXPECT_EQ(*bad, "ROLE: the node is a slave, not the master");
  role.elements[0].str = "master";
  EXPECT_FALSE(check_node_handshake(h, {ok, ok, role, ok}));
}
