// The analyzer-queue consumer: FIFO order, batches, redelivery after a failed batch or a crash,
// dead-lettering of permanently failing batches, waiting on an empty queue, and stopping.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "analyzers/common/queue_consumer.hpp"
#include "core/logging.hpp"
#include "core/redis_cluster.hpp"
#include "support/json_logs.hpp"
#include "support/process.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

using d4::analyzers::QueueConsumer;
using d4::analyzers::QueueConsumerOptions;
using d4::test::RedisServer;

namespace {

QueueConsumerOptions options(const RedisServer& r, std::string list, std::string name,
                             std::size_t batch = 3) {
  QueueConsumerOptions o;
  o.endpoint = *d4::core::RedisEndpoint::parse(r.endpoint(2));
  o.list_key = std::move(list);
  o.consumer_name = std::move(name);
  o.batch_size = batch;
  o.exit_when_empty = true;
  o.backoff_min = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(50);
  return o;
}

}  // namespace

TEST(QueueConsumer, DeliversInFifoOrderInBatches) {
  RedisServer redis;
  for (int i = 0; i < 10; ++i) redis.cli({"LPUSH", "analyzer:8:q", "item" + std::to_string(i)}, 2);
  QueueConsumer c(options(redis, "analyzer:8:q", "fifo"));
  std::vector<std::string> got;
  std::vector<std::size_t> sizes;
  std::vector<std::uint64_t> counted_before;  // stats().elements while each batch is being handled
  std::atomic<bool> stop{false};
  EXPECT_EQ(c.run(
                [&](const std::vector<std::string>& b) {
                  counted_before.push_back(c.stats().elements);
                  sizes.push_back(b.size());
                  got.insert(got.end(), b.begin(), b.end());
                },
                stop),
            10u);
  ASSERT_EQ(got.size(), 10u);
  // An element is counted once handled, so that a scrape that sees it counted also sees what the
  // handler published for it.
  EXPECT_EQ(counted_before, (std::vector<std::uint64_t>{0, 3, 6, 9}));
  EXPECT_EQ(c.stats().elements, 10u);
  EXPECT_EQ(c.stats().batches, 4u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "item" + std::to_string(i));
  EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 3, 3, 1}));
  EXPECT_EQ(redis.cli({"EXISTS", "d4:analyzer:processing:fifo"}, 2), "0\n");
}

TEST(QueueConsumer, RedisFailureInTheHandlerRedeliversTheSameBatch) {
  RedisServer redis;
  for (int i = 0; i < 4; ++i) redis.cli({"LPUSH", "analyzer:8:q", "x" + std::to_string(i)}, 2);
  QueueConsumer c(options(redis, "analyzer:8:q", "retry", 2));
  std::vector<std::string> seen;
  int failures = 1;
  std::atomic<bool> stop{false};
  c.run(
      [&](const std::vector<std::string>& b) {
        seen.insert(seen.end(), b.begin(), b.end());
        if (failures-- > 0) throw d4::core::RedisError("storage down");
      },
      stop);
  EXPECT_EQ(seen, (std::vector<std::string>{"x0", "x1", "x0", "x1", "x2", "x3"}));
  EXPECT_EQ(c.stats().redeliveries, 2u);
  EXPECT_EQ(c.stats().redis_errors, 1u);
  EXPECT_EQ(c.stats().elements, 6u);  // the failed batch, its re-delivery and the last batch
}

TEST(QueueConsumer, PermanentFailuresAreKeptInTheFailedList) {
  RedisServer redis;
  redis.cli({"LPUSH", "analyzer:1:q", "/no/such/file"}, 2);
  QueueConsumer c(options(redis, "analyzer:1:q", "dead", 1));
  std::atomic<bool> stop{false};
  c.run([&](const std::vector<std::string>&) { throw std::runtime_error("cannot parse"); }, stop);
  EXPECT_EQ(c.stats().failed_batches, 1u);
  EXPECT_EQ(redis.cli({"LRANGE", "d4:analyzer:failed:dead", "0", "-1"}, 2), "/no/such/file\n");
  EXPECT_EQ(redis.cli({"LLEN", "analyzer:1:q"}, 2), "0\n");
}

// With log_format = "json", the dead-lettering line names the queue, the number of elements, where
// they were kept and why, as members a log shipper can filter on.
TEST(QueueConsumer, FailedBatchLogLineCarriesQueueElementsAndReason) {
  RedisServer redis;
  redis.cli({"LPUSH", "analyzer:1:q", "first", "second"}, 2);
  d4::test::TempDir dir;
  const auto log_file = dir.path() / "consumer.log";
  auto previous = spdlog::default_logger();
  d4::core::LogOptions json_log;
  json_log.format = d4::core::LogFormat::Json;
  json_log.file = log_file.string();
  d4::core::init_logging("d4-queue-consumer-test", json_log);
  QueueConsumer c(options(redis, "analyzer:1:q", "dead", 10));
  std::atomic<bool> stop{false};
  c.run([&](const std::vector<std::string>&) { throw std::runtime_error("cannot parse"); }, stop);
  spdlog::default_logger()->flush();
  spdlog::set_default_logger(previous);

  auto failed = d4::test::json_log_line_with(d4::test::json_log_lines(d4::test::read_text(log_file)),
                                             "failed, kept in");
  EXPECT_EQ(failed.value("level", ""), "error") << failed.dump();
  EXPECT_EQ(failed.value("queue", ""), "analyzer:1:q") << failed.dump();
  EXPECT_EQ(failed.value("elements", 0), 2) << failed.dump();
  EXPECT_EQ(failed.value("kept_in", ""), "d4:analyzer:failed:dead") << failed.dump();
  EXPECT_EQ(failed.value("reason", ""), "batch_failed") << failed.dump();
  EXPECT_EQ(failed.value("detail", ""), "cannot parse") << failed.dump();
}

TEST(QueueConsumer, WaitsOnAnEmptyQueueAndStopsWhenAsked) {
  RedisServer redis;
  auto o = options(redis, "analyzer:8:w", "wait", 10);
  o.exit_when_empty = false;
  QueueConsumer c(o);
  std::atomic<bool> stop{false};
  std::vector<std::string> got;
  std::thread t([&] {
    c.run([&](const std::vector<std::string>& b) { got.insert(got.end(), b.begin(), b.end()); }, stop);
  });
  // The consumer waits in a blocking pop on the empty queue.
  ASSERT_TRUE(d4::test::eventually([&] {
    return redis.cli({"INFO", "clients"}).find("blocked_clients:1") != std::string::npos;
  }));
  redis.cli({"LPUSH", "analyzer:8:w", "late"}, 2);
  ASSERT_TRUE(d4::test::eventually([&] { return redis.cli({"LLEN", "analyzer:8:w"}, 2) == "0\n"; }));
  auto asked = std::chrono::steady_clock::now();
  stop = true;
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - asked,
            std::chrono::seconds(3));  // bounded by the block timeout
  EXPECT_EQ(got, (std::vector<std::string>{"late"}));
}

TEST(QueueConsumer, KeepsRetryingWhileRedisIsDown) {
  RedisServer redis;
  auto o = options(redis, "analyzer:8:d", "down", 10);
  o.exit_when_empty = false;
  redis.stop();
  QueueConsumer c(o);
  std::atomic<bool> stop{false};
  std::vector<std::string> got;
  std::thread t([&] {
    c.run([&](const std::vector<std::string>& b) { got.insert(got.end(), b.begin(), b.end()); }, stop);
  });
  ASSERT_TRUE(d4::test::eventually([&] { return c.stats().redis_errors >= 2; }));  // tried, and tried again
  redis.start();
  redis.cli({"LPUSH", "analyzer:8:d", "after-restart"}, 2);
  ASSERT_TRUE(d4::test::eventually([&] { return redis.cli({"LLEN", "analyzer:8:d"}, 2) == "0\n"; }));
  stop = true;
  t.join();
  EXPECT_EQ(got, (std::vector<std::string>{"after-restart"}));
  EXPECT_GT(c.stats().redis_errors, 0u);
}

TEST(QueueConsumerCluster, TakesFromAQueueOnAClusterThroughAProcessingListInTheQueuesSlot) {
  d4::test::RedisCluster cluster;
  const std::string list = "analyzer:8:6a2461ce-c29d-44fc-b4fa-947d68826639";
  QueueConsumerOptions o;
  o.endpoint = *d4::core::RedisEndpoint::parse("redis-cluster://" + cluster.seeds());
  o.list_key = list;
  o.consumer_name = "pdns:6a2461ce-c29d-44fc-b4fa-947d68826639:host";
  o.batch_size = 3;
  o.block_timeout = std::chrono::seconds(1);
  o.backoff_min = std::chrono::milliseconds(10);
  o.backoff_max = std::chrono::milliseconds(50);
  o.layout = d4::core::keys::KeyLayout::Cluster;
  const std::string processing = d4::analyzers::processing_list_key(o.consumer_name, list, o.layout);
  EXPECT_EQ(processing, "d4:analyzer:processing:{" + list + "}:" + o.consumer_name);
  EXPECT_EQ(d4::core::cluster_key_slot(processing), d4::core::cluster_key_slot(list));
  EXPECT_NE(d4::core::cluster_key_slot(d4::analyzers::processing_list_key(o.consumer_name)),
            d4::core::cluster_key_slot(list))
      << "the reference name lies in another slot: what the tag is for";

  d4::core::RedisClient client(o.endpoint);
  // A batch an earlier run took and did not acknowledge comes first (newest first in the list).
  client.command_ok({"RPUSH", processing, "left1", "left0"});
  for (int i = 0; i < 7; ++i) client.command_ok({"LPUSH", list, "item" + std::to_string(i)});
  QueueConsumer c(o);
  std::vector<std::string> got;
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    c.run(
        [&](const std::vector<std::string>& b) {
          got.insert(got.end(), b.begin(), b.end());
          if (got.size() >= 10) stop = true;
        },
        stop);
  });
  // The consumer waits on the empty queue (BRPOPLPUSH over the queue and its processing list)
  // until this last element arrives.
  ASSERT_TRUE(d4::test::eventually([&] { return c.stats().elements >= 9; }, std::chrono::seconds(20)));
  client.command_ok({"LPUSH", list, "late"});
  consumer.join();
  EXPECT_EQ(got, (std::vector<std::string>{"left0", "left1", "item0", "item1", "item2", "item3", "item4",
                                           "item5", "item6", "late"}));
  EXPECT_EQ(c.stats().redeliveries, 2u);
  EXPECT_EQ(c.stats().redis_errors, 0u);
  EXPECT_EQ(client.command({"EXISTS", processing}).integer, 0);
  EXPECT_EQ(client.command({"LLEN", list}).integer, 0);
}
