// The asynchronous pipelined Redis client against a real redis-server, including a server that is
// stopped, killed, restarted and paused under load.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <thread>

#include "async_loop.hpp"
#include "core/redis_async.hpp"
#include "core/redis_client.hpp"
#include "support/redis_server.hpp"

namespace asio = boost::asio;
using namespace d4::core;
using namespace std::chrono_literals;
using d4::test::exec;
using d4::test::Loop;
using d4::test::wait_connected;

namespace {

RedisEndpoint endpoint_of(const d4::test::RedisServer& r, int db = 0) {
  return *RedisEndpoint::parse(r.endpoint(db));
}

std::string cmd(std::initializer_list<std::string_view> args) {
  std::string s;
  RespWriter(s).command(args);
  return s;
}

}  // namespace

TEST(LatencyHistogram, QuantilesInterpolateWithinBuckets) {
  LatencyHistogram h;
  for (int i = 0; i < 99; ++i) h.observe(std::chrono::microseconds(50));  // first bucket (<=100us)
  h.observe(std::chrono::milliseconds(3));                                // (2.5ms, 5ms]
  auto s = h.snapshot();
  EXPECT_EQ(s.count, 100u);
  EXPECT_LE(s.quantile(0.5), 0.0001);
  EXPECT_GT(s.quantile(0.999), 0.0025);
  EXPECT_LE(s.quantile(0.999), 0.005);
}

TEST(AsyncRedis, PipelinesInOrderWithBinaryPayloadsAndErrorReplies) {
  d4::test::RedisServer redis;
  Loop loop;
  AsyncRedis r(loop.ioc, endpoint_of(redis, 3));
  loop.run([&] {
    r.start();
    return 0;
  });
  ASSERT_TRUE(wait_connected(loop, r));

  // 2000 requests submitted in one go: callbacks must come back in submission order.
  constexpr int kN = 2000;
  std::vector<long long> order;
  std::promise<void> all;
  loop.run([&] {
    for (int i = 0; i < kN; ++i) {
      r.submit(cmd({"INCR", "counter"}), 1, false, [&, i](boost::system::error_code ec, RedisReplies&& rs) {
        ASSERT_FALSE(ec);
        ASSERT_EQ(rs.size(), 1u);
        EXPECT_EQ(rs[0].integer, i + 1);
        order.push_back(rs[0].integer);
        if (order.size() == kN) all.set_value();
      });
    }
    return 0;
  });
  ASSERT_EQ(all.get_future().wait_for(20s), std::future_status::ready);
  EXPECT_EQ(order.size(), static_cast<std::size_t>(kN));
  EXPECT_EQ(redis.cli({"GET", "counter"}, 3), "2000\n") << "the endpoint's db is selected";

  // Several commands in one request, with a binary value and an error reply in the middle.
  std::string bin("a\0b\r\nc", 6);
  std::string multi = cmd({"SET", "bin", bin}) + cmd({"INCR", "bin"}) + cmd({"GET", "bin"});
  auto [ec, rs] = exec(loop, r, multi, 3, false);
  ASSERT_FALSE(ec);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].str, "OK");
  EXPECT_TRUE(rs[1].is_error()) << "error replies are values, not failures";
  EXPECT_EQ(rs[2].str, bin);

  // The coroutine API.
  auto fut = asio::co_spawn(
      loop.ioc,
      [&]() -> asio::awaitable<std::string> {
        // Arguments are built outside co_await expressions: GCC 12 miscompiles braced lists there.
        std::vector<std::string> push = {"RPUSH", "list", "x", "y"};
        co_await r.command(push);
        std::vector<std::vector<std::string>> cmds = {{"LLEN", "list"}, {"LRANGE", "list", "0", "-1"}};
        auto replies = co_await r.pipeline(cmds);
        co_return std::to_string(replies[0].integer) + ":" + replies[1].as_strings()[1];
      },
      asio::use_future);
  EXPECT_EQ(fut.get(), "2:y");
  loop.run([&] {
    r.stop();
    return 0;
  });
}

TEST(AsyncRedis, FailFastRequestsFailWhileDownAndRetryableOnesWait) {
  auto port_holder = std::make_unique<d4::test::RedisServer>();
  Loop loop;
  AsyncRedis::Options opt;
  opt.backoff_max = 100ms;
  AsyncRedis r(loop.ioc, endpoint_of(*port_holder), opt);
  loop.run([&] {
    r.start();
    return 0;
  });
  ASSERT_TRUE(wait_connected(loop, r));
  port_holder->stop();
  ASSERT_TRUE(d4::test::eventually([&] { return !loop.run([&] { return r.connected(); }); }, 10s));

  auto [ec, rs] = exec(loop, r, cmd({"PING"}), 1, false);
  EXPECT_EQ(ec, make_error_code(RedisAsyncError::not_connected));

  // A retryable request waits for the server to come back.
  std::promise<std::pair<boost::system::error_code, RedisReplies>> p;
  loop.run([&] {
    r.submit(cmd({"SET", "k", "v"}), 1, true, [&](boost::system::error_code e, RedisReplies&& replies) {
      p.set_value({e, std::move(replies)});
    });
    return 0;
  });
  auto fut = p.get_future();
  EXPECT_EQ(fut.wait_for(300ms), std::future_status::timeout);
  port_holder->start();
  ASSERT_EQ(fut.wait_for(20s), std::future_status::ready);
  auto [ec2, rs2] = fut.get();
  EXPECT_FALSE(ec2);
  EXPECT_EQ(rs2.at(0).str, "OK");
  EXPECT_EQ(port_holder->cli({"GET", "k"}), "v\n");
  EXPECT_GE(loop.run([&] { return r.reconnects(); }), 1u);
  loop.run([&] {
    r.stop();
    return 0;
  });
}

// The central guarantee for the server: a stream of retryable, idempotent writes survives Redis
// being stopped (and killed) in the middle, with every write acknowledged exactly when stored.
TEST(AsyncRedis, RetryableWritesSurviveRestartAndKillWithoutLoss) {
  d4::test::RedisServer redis(/*persistent=*/true);
  Loop loop;
  AsyncRedis::Options opt;
  opt.backoff_min = 10ms;
  opt.backoff_max = 100ms;
  AsyncRedis r(loop.ioc, endpoint_of(redis), opt);
  loop.run([&] {
    r.start();
    return 0;
  });
  ASSERT_TRUE(wait_connected(loop, r));
  std::atomic<int> acked{0}, failed{0};
  constexpr int kBatches = 3000;
  std::atomic<bool> stop_feeding{false};
  // A feeder submits batches of 5 SADDs (idempotent) while the server goes away twice.
  std::thread feeder([&] {
    for (int b = 0; b < kBatches && !stop_feeding; ++b) {
      std::string resp;
      for (int j = 0; j < 5; ++j) RespWriter(resp).command({"SADD", "members", std::to_string(b * 5 + j)});
      asio::post(loop.ioc, [&, resp = std::move(resp)]() mutable {
        r.submit(std::move(resp), 5, true, [&](boost::system::error_code ec, RedisReplies&& rs) {
          if (ec || rs.size() != 5)
            ++failed;
          else
            ++acked;
        });
      });
      if (b % 25 == 0) std::this_thread::sleep_for(5ms);  // ~600 ms of feeding: outages happen mid-stream
    }
  });
  ASSERT_TRUE(d4::test::eventually([&] { return acked > 300; }, 10s));
  redis.stop();
  std::this_thread::sleep_for(200ms);
  redis.start();
  // The second fault hits a live connection again (not the client still in backoff).
  ASSERT_TRUE(d4::test::eventually([&] { return loop.run([&] { return r.reconnects(); }) >= 1; }, 10s));
  std::this_thread::sleep_for(30ms);
  redis.kill_hard();
  std::this_thread::sleep_for(150ms);
  redis.start();
  feeder.join();
  ASSERT_TRUE(d4::test::eventually([&] { return acked + failed == kBatches; }, 30s))
      << acked << " acked, " << failed << " failed";
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(redis.cli({"SCARD", "members"}), std::to_string(kBatches * 5) + "\n");
  EXPECT_TRUE(d4::test::eventually([&] { return loop.run([&] { return r.reconnects(); }) >= 2; }, 10s))
      << "both outages happened while batches were being written";
  loop.run([&] {
    r.stop();
    return 0;
  });
}

TEST(AsyncRedis, InFlightFailFastRequestIsReportedWhenTheConnectionBreaks) {
  d4::test::RedisServer redis;
  Loop loop;
  AsyncRedis r(loop.ioc, endpoint_of(redis));
  loop.run([&] {
    r.start();
    return 0;
  });
  ASSERT_TRUE(wait_connected(loop, r));
  // BLPOP keeps the request in flight until the server dies.
  std::promise<boost::system::error_code> p;
  loop.run([&] {
    r.submit(cmd({"BLPOP", "nothing", "0"}), 1, false,
             [&](boost::system::error_code ec, RedisReplies&&) { p.set_value(ec); });
    return 0;
  });
  ASSERT_TRUE(d4::test::eventually([&] {
    return redis.cli({"INFO", "clients"}).find("blocked_clients:1\r\n") != std::string::npos;
  }));
  redis.kill_hard();
  auto fut = p.get_future();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(fut.get(), make_error_code(RedisAsyncError::connection_lost));
  loop.run([&] {
    r.stop();
    return 0;
  });
}

TEST(AsyncRedis, HungServerTriggersReplyTimeoutAndRecovery) {
  d4::test::RedisServer redis;
  Loop loop;
  AsyncRedis::Options opt;
  opt.reply_timeout = 500ms;
  opt.backoff_min = 10ms;
  opt.backoff_max = 50ms;
  AsyncRedis r(loop.ioc, endpoint_of(redis), opt);
  loop.run([&] {
    r.start();
    return 0;
  });
  ASSERT_TRUE(wait_connected(loop, r));
  // Another client pauses every client for 3 s: our command gets no reply.
  RedisClient admin(endpoint_of(redis));
  admin.command_ok({"CLIENT", "PAUSE", "3000"});
  auto t0 = std::chrono::steady_clock::now();
  auto [ec, rs] = exec(loop, r, cmd({"SET", "x", "1"}), 1, false);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(ec, make_error_code(RedisAsyncError::connection_lost));
  EXPECT_LT(waited, 2900ms) << "the reply timeout, not the pause, ended the wait";
  admin.command_ok({"CLIENT", "UNPAUSE"});
  ASSERT_TRUE(wait_connected(loop, r));
  auto [ec2, rs2] = exec(loop, r, cmd({"PING"}), 1, false);
  EXPECT_FALSE(ec2);
  loop.run([&] {
    r.stop();
    return 0;
  });
}

TEST(AsyncRedis, StopFailsPendingRequestsAndStateCallbackFires) {
  d4::test::RedisServer redis;
  Loop loop;
  AsyncRedis r(loop.ioc, endpoint_of(redis));
  std::atomic<int> ups{0}, downs{0};
  loop.run([&] {
    r.on_state_change([&](bool up) { (up ? ups : downs)++; });
    r.start();
    return 0;
  });
  ASSERT_TRUE(wait_connected(loop, r));
  EXPECT_EQ(ups, 1);
  std::promise<boost::system::error_code> p;
  loop.run([&] {
    r.submit(cmd({"BLPOP", "nothing", "0"}), 1, true,
             [&](boost::system::error_code ec, RedisReplies&&) { p.set_value(ec); });
    return 0;
  });
  ASSERT_TRUE(d4::test::eventually([&] {
    return redis.cli({"INFO", "clients"}).find("blocked_clients:1\r\n") != std::string::npos;
  }));
  loop.run([&] {
    r.stop();
    return 0;
  });
  auto fut = p.get_future();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fut.get(), make_error_code(RedisAsyncError::stopped));
  EXPECT_EQ(downs, 1);
  auto [ec, rs] = exec(loop, r, cmd({"PING"}), 1, true);
  EXPECT_EQ(ec, make_error_code(RedisAsyncError::stopped));
}

TEST(AsyncRedis, WrongPasswordKeepsRetryingWithoutCrashing) {
  d4::test::RedisServer redis;
  redis.cli({"CONFIG", "SET", "requirepass", "sesame"});
  Loop loop;
  auto ep = endpoint_of(redis);
  ep.password = "wrong";
  AsyncRedis::Options opt;
  opt.backoff_max = 50ms;
  AsyncRedis bad(loop.ioc, ep, opt);
  ep.password = "sesame";
  AsyncRedis good(loop.ioc, ep, opt);
  loop.run([&] {
    bad.start();
    good.start();
    return 0;
  });
  ASSERT_TRUE(wait_connected(loop, good));
  // The server refused the wrong password twice: the client tried again, and is still not connected.
  d4::core::RedisClient admin(ep);  // with the right password
  ASSERT_TRUE(d4::test::eventually([&] {
    auto stats = admin.command({"INFO", "errorstats"}).str;
    auto at = stats.find("errorstat_WRONGPASS:count=");
    return at != std::string::npos && std::stoi(stats.substr(at + 26)) >= 2;
  }));
  EXPECT_FALSE(loop.run([&] { return bad.connected(); }));
  auto [ec, rs] = exec(loop, good, cmd({"PING"}), 1, false);
  EXPECT_FALSE(ec);
  EXPECT_EQ(rs.at(0).str, "PONG");
  loop.run([&] {
    bad.stop();
    good.stop();
    return 0;
  });
}
