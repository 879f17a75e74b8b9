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
