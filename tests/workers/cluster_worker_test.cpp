// d4-worker in the cluster key layout, its queues and bookkeeping on a real 3-master Redis Cluster
// (the stream Redis a single node): each commit goes to the session's outbox, then is relayed to
// the queues. Workers SIGKILLed between the two steps and restarted: every record reaches every
// queue exactly once, in order, and the session is cleaned up.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include <fmt/format.h>

#include "core/keys.hpp"
#include "queues/queue_store.hpp"
#include "support/process.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

namespace d4::test {
namespace {
namespace keys = core::keys;
constexpr auto kCluster = core::keys::KeyLayout::Cluster;

class ClusterWorkerTest : public ::testing::Test {
 protected:
  ClusterWorkerTest()
      : stream(core::RedisEndpoint{"127.0.0.1", stream_redis.port(), {}, 0, {}}),
        meta(*core::RedisEndpoint::parse("redis-cluster://" + cluster.seeds())),
        store(meta, meta, 100'000'000, kCluster) {
    meta.command_ok({"SADD", keys::kAcceptedTypes, "8"});
  }

  std::filesystem::path config(const std::string& workers) {
    auto p = dir / ("d4-" + std::to_string(configs_++) + ".toml");
    std::ofstream f(p);
    f << "[general]\nlog_level = \"warn\"\n\n[redis]\nkey_layout = \"cluster\"\nstream = \""
      << stream_redis.endpoint(0) << "\"\nmeta = \"redis-cluster://" << cluster.seeds()
      << "\"\n\n[workers]\narchive_dir = \"" << (dir / "archive").string()
      << "\"\nmonitor_interval_seconds = 0\n"
      << workers << "\n";
    return p;
  }
  Process start_worker(const std::vector<std::string>& args, const std::string& workers = "") {
    std::vector<std::string> argv{(bin_dir() / "d4-worker").string(), "-c", config(workers).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    Process::Options o;
    o.stderr_file = dir / ("worker-" + std::to_string(configs_) + ".log");
    return Process(argv, o);
  }
  std::vector<std::string> items(const std::string& queue) {  // oldest first
    auto v = meta.command({"LRANGE", keys::analyzer_list("8", queue), "0", "-1"}).as_strings();
    std::reverse(v.begin(), v.end());
    return v;
  }
  long long outbox_length() { return meta.command({"LLEN", keys::worker_outbox("8", session)}).integer; }
  long long queue_length(const std::string& queue) {
    return meta.command({"LLEN", keys::analyzer_list("8", queue)}).integer;
  }
  bool cleaned() {
    return stream.command({"EXISTS", keys::stream("8", session)}).integer == 0 &&
           stream.command({"SISMEMBER", keys::sessions_of_type("8"), session}).integer == 0 &&
           meta.command({"EXISTS", keys::worker_progress("8", session, kCluster)}).integer == 0 &&
           meta.command({"EXISTS", keys::worker_lease("8", session, kCluster)}).integer == 0 &&
           outbox_length() == 0;
  }

  TempDir dir;
  RedisServer stream_redis;
  RedisCluster cluster;
  core::RedisClient stream, meta;
  queues::QueueStore store;
  const std::string session = "c0c0c0c0-0000-4000-8000-000000000001";
  const std::string sensor = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";
  int configs_ = 0;
};

TEST_F(ClusterWorkerTest, KilledBetweenCommitAndRelayTwiceLosesAndDuplicatesNothing) {
  queues::QueueSpec every;
  every.target = queues::QueueTarget::parse("8");
  const std::string q1 = store.create(every).id;
  queues::QueueSpec group = every;
  group.sensors = {sensor};
  const std::string q2 = store.create(group).id;

  std::vector<std::string> expected;
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    expected.push_back(fmt::format(
        "1700000000.{:06}||192.0.2.1||198.51.100.53||IN||host{}.example.||A||203.0.113.{}||300||1", i, i,
        i % 250));
    text += expected.back() + "\n";
  }
  // As d4-server stores a session: 61-byte payloads, increasing ids, then the session ends.
  std::vector<std::vector<std::string>> cmds;
  for (std::size_t off = 0, id = 1000; off < text.size(); off += 61, ++id)
    cmds.push_back({"XADD", keys::stream("8", session), std::to_string(id) + "-0", "message",
                    text.substr(off, 61), "uuid", sensor, "timestamp", "1700000000", "version", "1"});
  for (const auto& r : stream.pipeline(cmds)) ASSERT_FALSE(r.is_error()) << r.str;
  stream.command_ok({"SADD", keys::sessions_of_type("8"), session});
  stream.command_ok({"SADD", keys::kEndedSessions, session});

  // These workers sleep 4 s between a commit and its relay: killed there, the commit is in the
  // outbox only. The second one, on taking the session over, first relays what the first left.
  const std::vector<std::string> slow{"--types", "8", "--lease-ms", "1000", "--commit-delay-ms", "4000"};
  long long in_queues = 0;
  long long committed = 0;  // the number of the next outbox entry, in the committed progress
  auto next_entry = [&] {
    auto r = meta.command({"HGET", keys::worker_progress("8", session, kCluster), "outbox_seq"});
    return r.is_nil() ? 0LL : std::stoll(r.str);
  };
  for (int kill = 0; kill < 2; ++kill) {
    auto w = start_worker(slow, "read_count = 64\n");
    // A commit of this worker's own: the progress numbers more entries (the second worker relays
    // the first one's before it commits anything) and they wait in the outbox.
    ASSERT_TRUE(
        eventually([&] { return next_entry() > committed && outbox_length() > 0; }, std::chrono::seconds(30)))
        << "kill " << kill;
    w.signal(SIGKILL);
    w.wait(std::chrono::seconds(5));
    EXPECT_GT(outbox_length(), 0) << "kill " << kill << ": the last commit is in the outbox only";
    committed = next_entry();
    EXPECT_GE(queue_length(q1), in_queues);
    in_queues = queue_length(q1);
    EXPECT_EQ(queue_length(q2), in_queues);
    EXPECT_LT(in_queues, static_cast<long long>(expected.size()));
  }
  // A worker with a stable name: relays the outbox, then finishes the session.
  auto w = start_worker({"--types", "8", "--name", "stable"});
  ASSERT_TRUE(eventually([&] { return cleaned(); }, std::chrono::seconds(60)));
  w.stop();
  EXPECT_EQ(items(q1), expected);
  EXPECT_EQ(items(q2), expected);
  EXPECT_EQ(store.stats(q1).pushed, static_cast<long long>(expected.size()));
}

}  // namespace
}  // namespace d4::test
