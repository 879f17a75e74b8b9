// A worker SIGKILLed in the middle of sessions and restarted: every record reaches the queues
// exactly once, in order, and the archives hold the stream exactly once.
#include <gtest/gtest.h>

#include <csignal>

#include <fmt/format.h>

#include "core/keys.hpp"
#include "support/bytes.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::test {
namespace {
namespace keys = core::keys;

long long queue_length(core::RedisClient& analyzer, const std::string& list) {
  return analyzer.command({"LLEN", list}).integer;
}

TEST_F(WorkerTest, LineWorkerKilledTwiceLosesAndDuplicatesNothing) {
  std::string q = create_queue("8");
  std::string text;
  std::vector<std::string> expected;
  for (int i = 0; i < 15000; ++i) {
    expected.push_back(fmt::format(
        "1700000000.{:06}||192.0.2.1||198.51.100.53||IN||host{}.example.||A||203.0.113.{}||300||1", i, i,
        i % 250));
    text += expected.back() + "\n";
  }
  const std::string session = "c0c0c0c0-0000-4000-8000-000000000001";
  add_packets(8, session, chunk(text, 61));
  end_session(session);
  const std::string slow = "read_count = 8\n";
  auto list = keys::analyzer_list("8", q);
  auto total = static_cast<long long>(expected.size());

  auto w1 = start_worker(slow, {"--types", "8", "--lease-ms", "1000", "--commit-delay-ms", "3"});
  ASSERT_TRUE(eventually([&] { return queue_length(analyzer, list) > 2000; }, std::chrono::seconds(60)));
  w1.signal(SIGKILL);
  w1.wait(std::chrono::seconds(5));
  auto at_first_kill = queue_length(analyzer, list);
  ASSERT_LT(at_first_kill, total);

  // Another worker (another name: it must wait for the lease to expire).
  auto w2 = start_worker(slow, {"--types", "8", "--lease-ms", "1000", "--commit-delay-ms", "3"});
  ASSERT_TRUE(eventually([&] { return queue_length(analyzer, list) > at_first_kill + 2000; },
                         std::chrono::seconds(60)));
  w2.signal(SIGKILL);
  w2.wait(std::chrono::seconds(5));
  ASSERT_LT(queue_length(analyzer, list), total);

  // A worker with a stable name resumes its own sessions at once.
  auto w3 = start_worker("", {"--types", "8", "--name", "stable"});
  ASSERT_TRUE(wait_cleaned(8, session, std::chrono::seconds(60)));
  w3.stop();
  auto items = queue_items("8", q);
  ASSERT_EQ(items.size(), expected.size());
  EXPECT_EQ(items, expected);
  auto files = files_under(archive() / kSensor / "8", ".gz");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(gunzip_file(files[0]), text);
  auto stats = analyzer.command({"HGET", keys::analyzer_queue_stats(q), "pushed"});
  EXPECT_EQ(stats.str, std::to_string(expected.size()));
}

TEST_F(WorkerTest, PcapWorkerKilledMidRotationKeepsEveryPacketExactlyOnce) {
  std::string q = create_queue("1");
  auto v = read_file(vector_path("dns.pcap"));
  std::string pcap(v.begin(), v.end());
  std::string records = pcap.substr(24);
  std::string input = pcap.substr(0, 24);
  for (int i = 0; i < 40; ++i) input += records;
  const std::string session = "c0c0c0c0-0000-4000-8000-000000000002";
  add_packets(1, session, chunk(input, 1000));
  end_session(session);
  auto list = keys::analyzer_list("1", q);
  const std::string cfg = "read_count = 4\nrotate_bytes = 60000\n";
  auto w1 = start_worker(cfg, {"--types", "1", "--name", "pcap-worker", "--commit-delay-ms", "10"});
  ASSERT_TRUE(eventually([&] { return queue_length(analyzer, list) >= 2; }, std::chrono::seconds(60)));
  w1.signal(SIGKILL);
  w1.wait(std::chrono::seconds(5));
  auto w2 = start_worker(cfg, {"--types", "1", "--name", "pcap-worker", "--commit-delay-ms", "10"});
  ASSERT_TRUE(eventually([&] { return queue_length(analyzer, list) >= 5; }, std::chrono::seconds(60)));
  w2.signal(SIGKILL);
  w2.wait(std::chrono::seconds(5));
  auto w3 = start_worker(cfg, {"--types", "1", "--name", "pcap-worker"});
  ASSERT_TRUE(wait_cleaned(1, session, std::chrono::seconds(60)));
  w3.stop();
  // The queue lists every archive once, in stream order; together they hold the input exactly.
  auto items = queue_items("1", q);
  ASSERT_GE(items.size(), 8u);
  std::set<std::string> unique(items.begin(), items.end());
  EXPECT_EQ(unique.size(), items.size());
  std::string rebuilt = pcap.substr(0, 24);
  for (const auto& path : items) {
    std::string content = gunzip_file(path);
    ASSERT_EQ(content.substr(0, 24), pcap.substr(0, 24)) << path;
    rebuilt += content.substr(24);
  }
  EXPECT_EQ(rebuilt.size(), input.size());
  EXPECT_TRUE(rebuilt == input);
  EXPECT_EQ(files_under(archive() / kSensor / "1").size(), items.size());  // no leftovers
}

}  // namespace
}  // namespace d4::test
