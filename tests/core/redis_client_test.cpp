#include <gtest/gtest.h>

#include "core/redis_client.hpp"
#include "support/redis_server.hpp"

using namespace d4::core;

TEST(RedisEndpoint, ParsesEveryForm) {
  auto a = RedisEndpoint::parse("localhost:6380/2");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);
  auto b = RedisEndpoint::parse("[::1]:7000");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->to_string(), "[::1]:7000/0");
  auto c = RedisEndpoint::parse("redis://:s3cret@10.0.0.1:6379/3");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->password, "s3cret");
  EXPECT_EQ(c->db, 3);
  auto d = RedisEndpoint::parse("unix:/run/redis/redis.sock/4");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->unix_socket, "/run/redis/redis.sock");
  EXPECT_EQ(d->db, 4);
  std::string err;
  EXPECT_FALSE(RedisEndpoint::parse("host:notaport", &err));
  EXPECT_NE(err.find("port"), std::string::npos);
  EXPECT_FALSE(RedisEndpoint::parse("host:6379/x"));
  EXPECT_FALSE(RedisEndpoint::parse("unix:relative.sock"));
}

TEST(RedisClient, CommandsPipelineAndBinarySafety) {
  d4::test::RedisServer redis;
  RedisClient c(*RedisEndpoint::parse(redis.endpoint(2)));
  std::string binary("a\0b\r\nc", 6);
  EXPECT_EQ(c.command({"SET", "k", binary}).str, "OK");
  EXPECT_EQ(c.command({"GET", "k"}).str, binary);
  EXPECT_EQ(redis.cli({"EXISTS", "k"}, 2), "1\n") << "SELECT of the endpoint's db";
  auto replies =
      c.pipeline({{"INCR", "n"}, {"INCR", "n"}, {"LPUSH", "l", "x", "y"}, {"LRANGE", "l", "0", "-1"}});
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[1].integer, 2);
  EXPECT_EQ(replies[3].as_strings(), (std::vector<std::string>{"y", "x"}));
  auto err = c.command({"INCR", "l"});
  EXPECT_TRUE(err.is_error());
  EXPECT_THROW(c.command_ok({"INCR", "l"}), RedisError);
  EXPECT_TRUE(c.command({"GET", "missing"}).is_nil());
}

TEST(RedisClient, ThrowsWhenDownAndReconnectsAfterRestart) {
  d4::test::RedisServer redis;
  RedisClient c(*RedisEndpoint::parse(redis.endpoint()));
  EXPECT_TRUE(c.ping());
  redis.stop();
  EXPECT_THROW(c.command({"PING"}), RedisError);
  EXPECT_FALSE(c.connected());
  redis.start();
  EXPECT_TRUE(c.ping());
}

// Clients of several databases of one server that share a connection: each command lands in its
// client's database, whatever database the previous command on the socket used.
TEST(RedisClient, SharedConnectionKeepsEachClientInItsDatabase) {
  d4::test::RedisServer redis;
  RedisClient one(*RedisEndpoint::parse(redis.endpoint(1)));
  RedisClient four = one.sharing_connection(4);
  RedisClient zero = one.sharing_connection(0);
  EXPECT_EQ(one.command({"SET", "k", "one"}).str, "OK");
  EXPECT_EQ(four.command({"SET", "k", "four"}).str, "OK");
  auto replies = zero.pipeline({{"SET", "k", "zero"}, {"GET", "k"}});
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].str, "zero");
  EXPECT_EQ(one.command({"GET", "k"}).str, "one");
  EXPECT_EQ(four.pipeline({{"GET", "k"}})[0].str, "four");
  EXPECT_EQ(redis.cli({"GET", "k"}, 0), "zero\n");
  EXPECT_EQ(redis.cli({"GET", "k"}, 1), "one\n");
  EXPECT_EQ(redis.cli({"GET", "k"}, 4), "four\n");
  // One socket: the server sees the same client for all three.
  auto id = one.command({"CLIENT", "ID"}).integer;
  EXPECT_EQ(four.command({"CLIENT", "ID"}).integer, id);
  EXPECT_EQ(zero.command({"CLIENT", "ID"}).integer, id);
}

TEST(RedisClient, SharedConnectionRunsTransactionsInTheClientsDatabase) {
  d4::test::RedisServer redis;
  RedisClient one(*RedisEndpoint::parse(redis.endpoint(1)));
  RedisClient four = one.sharing_connection(4);
  one.command({"PING"});  // the socket is on db 1 when the transaction starts
  auto r = four.pipeline({{"MULTI"}, {"INCR", "n"}, {"INCR", "n"}, {"EXEC"}});
  ASSERT_EQ(r.size(), 4u);
  ASSERT_EQ(r[3].elements.size(), 2u);
  EXPECT_EQ(r[3].elements[1].integer, 2);
  EXPECT_EQ(redis.cli({"GET", "n"}, 4), "2\n");
  EXPECT_EQ(redis.cli({"EXISTS", "n"}, 1), "0\n");
}

// The server closes the shared socket: the next command fails, then any client reconnects and
// each lands in its own database again.
TEST(RedisClient, SharedConnectionReconnectsIntoEachDatabase) {
  d4::test::RedisServer redis;
  RedisClient two(*RedisEndpoint::parse(redis.endpoint(2)));
  RedisClient three = two.sharing_connection(3);
  ASSERT_EQ(two.command({"SET", "x", "two"}).str, "OK");
  ASSERT_EQ(three.command({"SET", "x", "three"}).str, "OK");
  auto id = three.command({"CLIENT", "ID"}).integer;
  ASSERT_EQ(redis.cli({"CLIENT", "KILL", "ID", std::to_string(id)}), "1\n");
  EXPECT_THROW(two.command({"GET", "x"}), RedisError);
  EXPECT_FALSE(three.connected());
  EXPECT_EQ(three.command({"GET", "x"}).str, "three");
  EXPECT_EQ(two.command({"GET", "x"}).str, "two");
  EXPECT_NE(two.command({"CLIENT", "ID"}).integer, id);
}

// With a password, the AUTH of a new connection goes before the SELECT of the first command.
TEST(RedisClient, SharedConnectionAuthenticatesBeforeSelecting) {
  d4::test::RedisServer redis;
  RedisClient setup(*RedisEndpoint::parse(redis.endpoint()));
  ASSERT_EQ(setup.command({"CONFIG", "SET", "requirepass", "s3cret"}).str, "OK");
  RedisClient two(*RedisEndpoint::parse("redis://:s3cret@127.0.0.1:" + std::to_string(redis.port()) + "/2"));
  RedisClient five = two.sharing_connection(5);
  EXPECT_EQ(five.command({"SET", "k", "v"}).str, "OK");
  EXPECT_TRUE(two.command({"GET", "k"}).is_nil());
  EXPECT_EQ(five.pipeline({{"GET", "k"}})[0].str, "v");
  EXPECT_EQ(two.command({"CLIENT", "ID"}).integer, five.command({"CLIENT", "ID"}).integer);
}

TEST(Backoff, GrowsExponentiallyWithinBounds) {
  Backoff b(std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  long long max_seen = 0;
  for (int i = 0; i < 30; ++i) {
    long long d = b.next().count();
    EXPECT_GE(d, 10);
    EXPECT_LE(d, 1000);
    max_seen = std::max(max_seen, d);
  }
  EXPECT_GT(max_seen, 100);
  b.reset();
  EXPECT_EQ(b.attempts(), 0);
}
