// d4-worker in the cluster key layout, its streams, queues and bookkeeping on one real 3-master
// Redis Cluster (the stream and meta Redis both the cluster, the keys as d4-server writes them
// there: stream:<t>:{<session>}, {live}:session_uuid:<t>, {live}:d4:backlog:*). Each commit goes
// to the session's outbox, then is relayed to the queues: workers SIGKILLed between the two steps
// and restarted lose and duplicate nothing. The streams of several sessions are read per slot,
// and the backlog counts every trimmed byte once (its two calls in two slots).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/keys.hpp"
#include "core/redis_cluster.hpp"
#include "queues/queue_store.hpp"
#include "support/process.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"
#include "workers/backlog.hpp"
#include "workers/quarantine.hpp"

namespace d4::test {
namespace {
namespace keys = core::keys;
constexpr auto kCluster = core::keys::KeyLayout::Cluster;

class ClusterWorkerTest : public ::testing::Test {
 protected:
  ClusterWorkerTest()
      : stream(*core::RedisEndpoint::parse("redis-cluster://" + cluster.seeds())),
        meta(*core::RedisEndpoint::parse("redis-cluster://" + cluster.seeds())),
        store(meta, meta, 100'000'000, kCluster) {
    meta.command_ok({"SADD", keys::kAcceptedTypes, "8"});
  }

  std::filesystem::path config(const std::string& workers) {
    auto p = dir / ("d4-" + std::to_string(configs_++) + ".toml");
    std::ofstream f(p);
    f << "[general]\nlog_level = \"warn\"\n\n[redis]\nkey_layout = \"cluster\"\nstream = \"redis-cluster://"
      << cluster.seeds() << "\"\nmeta = \"redis-cluster://" << cluster.seeds()
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
  bool cleaned(const std::string& id) {
    return stream.command({"EXISTS", keys::stream(kCluster, "8", id)}).integer == 0 &&
           stream.command({"SISMEMBER", live_name(keys::sessions_of_type("8")), id}).integer == 0 &&
           meta.command({"EXISTS", keys::worker_progress("8", id, kCluster)}).integer == 0 &&
           meta.command({"EXISTS", keys::worker_lease("8", id, kCluster)}).integer == 0 &&
           meta.command({"LLEN", keys::worker_outbox("8", id)}).integer == 0;
  }
  bool cleaned() { return cleaned(session); }
  static std::string live_name(std::string_view name) { return keys::live(kCluster, name); }
  long long live_hlen(std::string_view name) { return stream.command({"HLEN", live_name(name)}).integer; }
  // As d4-server stores a session in this layout: 61-byte payloads with increasing ids in the
  // session's slot, each batch counted in the live slot's backlog (its relay), the session
  // announced to its worker.
  void store_session(const std::string& id, const std::string& sensor_id, const std::string& text) {
    std::vector<std::vector<std::string>> cmds;
    for (std::size_t off = 0, n = 1000; off < text.size(); off += 61, ++n)
      cmds.push_back({"XADD", keys::stream(kCluster, "8", id), std::to_string(n) + "-0", "message",
                      text.substr(off, 61), "uuid", sensor_id, "timestamp", "1700000000", "version", "1"});
    const std::string bytes = std::to_string(text.size());
    cmds.push_back({"HINCRBY", live_name(keys::kBacklogBytesBySession), id, bytes});
    cmds.push_back({"HINCRBY", live_name(keys::kBacklogBytesBySensor), sensor_id, bytes});
    cmds.push_back({"SADD", live_name(keys::sessions_of_type("8")), id});
    for (const auto& r : stream.pipeline(cmds)) ASSERT_FALSE(r.is_error()) << r.str;
  }

  TempDir dir;
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
  // As d4-server stores a session, then the session ends.
  ASSERT_NO_FATAL_FAILURE(store_session(session, sensor, text));
  stream.command_ok({"SADD", live_name(keys::kEndedSessions), session});

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

// Four sessions of two sensors on three masters: one XREAD per slot; each line reaches the queue
// once and in its session's order; the backlog counts reach exactly 0 while the sessions are live
// (a byte subtracted twice would leave a negative count, one never subtracted a positive one), and
// the trim points are forgotten with the sessions.
TEST_F(ClusterWorkerTest, SessionsOnSeveralMastersAreReadPerSlotAndTheirBacklogCountsEachByteOnce) {
  queues::QueueSpec every;
  every.target = queues::QueueTarget::parse("8");
  const std::string q = store.create(every).id;
  std::map<std::string, std::vector<std::string>> lines;  // session -> its lines, in order
  std::set<int> masters;
  for (int s = 0; s < 4; ++s) {
    const std::string id = fmt::format("c0c0c0c0-0000-4000-8000-00000000010{}", s);
    std::string text;
    for (int i = 0; i < 200; ++i) {
      lines[id].push_back(
          fmt::format("1700000000.{:06}||192.0.2.{}||198.51.100.53||IN||s{}-{}.example.||A||"
                      "203.0.113.1||300||1",
                      i, s, s, i));
      text += lines[id].back() + "\n";
    }
    ASSERT_NO_FATAL_FAILURE(store_session(id, s % 2 ? sensor : "8bd5b2b23c8a4a399a5e1a4f1f2b7c02", text));
    masters.insert(cluster.owner_of(core::cluster_key_slot(keys::stream(kCluster, "8", id))));
  }
  EXPECT_GE(masters.size(), 2u);
  auto w = start_worker({"--types", "8", "--name", "reader"});
  ASSERT_TRUE(eventually([&] { return queue_length(q) == 800; }, std::chrono::seconds(60)));
  ASSERT_TRUE(eventually([&] {
    return live_hlen(keys::kBacklogBytesBySession) == 0 && live_hlen(keys::kBacklogBytesBySensor) == 0 &&
           live_hlen(keys::kBacklogTrimPoints) == 4;
  })) << "sessions: "
      << stream.command({"HGETALL", live_name(keys::kBacklogBytesBySession)}).describe();
  std::map<std::string, std::vector<std::string>> queued;
  for (const auto& item : items(q))
    for (const auto& [id, own] : lines)
      if (std::find(own.begin(), own.end(), item) != own.end()) queued[id].push_back(item);
  EXPECT_EQ(queued, lines);
  for (const auto& [id, own] : lines) stream.command_ok({"SADD", live_name(keys::kEndedSessions), id});
  ASSERT_TRUE(eventually([&] {
    return std::all_of(lines.begin(), lines.end(), [&](const auto& l) { return cleaned(l.first); });
  }));
  EXPECT_EQ(live_hlen(keys::kBacklogTrimPoints), 0);
  EXPECT_EQ(stream.command({"SCARD", live_name(keys::kEndedSessions)}).integer, 0);
  w.stop();
}

// The two calls of a trim in the cluster layout, repeated as a restarted worker repeats them: the
// count of a trim point applies once, in either order with its XTRIM; a count taken before the
// server's relay added the batch stays negative until the relay (never dropped); the release
// subtracts what the session has left from its sensor and forgets its trim points.
TEST_F(ClusterWorkerTest, ATrimPointIsCountedOnceAndANegativeCountWaitsForItsRelay) {
  const std::string key = keys::stream(kCluster, "8", session);
  ASSERT_NO_FATAL_FAILURE(store_session(session, sensor, std::string(61 * 3, 'x')));  // 3 entries
  auto count = [&](const std::string& min_id, std::uint64_t bytes) {
    return stream.command(workers::count_trimmed_command(key, min_id, session, sensor, bytes)).integer;
  };
  auto backlog = [&](std::string_view hash, const std::string& field) {
    return stream.command({"HGET", live_name(hash), field}).as_integer();
  };
  EXPECT_EQ(stream.command({"XTRIM", key, "MINID", "1002-0"}).integer, 2);  // trimmed, then died
  EXPECT_EQ(count("1002-0", 122), 1);
  EXPECT_EQ(count("1002-0", 122), 0) << "repeated by the next owner";
  EXPECT_EQ(count("1001-0", 61), 0) << "an older point";
  EXPECT_EQ(stream.command({"XTRIM", key, "MINID", "1002-0"}).integer, 0);
  EXPECT_EQ(backlog(keys::kBacklogBytesBySession, session), 61);
  EXPECT_EQ(count("1003-0", 61), 1);
  EXPECT_FALSE(backlog(keys::kBacklogBytesBySession, session)) << "deleted at exactly 0";
  EXPECT_FALSE(backlog(keys::kBacklogBytesBySensor, sensor));
  EXPECT_EQ(count("1004-0", 61), 1) << "a batch read before its relay";
  EXPECT_EQ(backlog(keys::kBacklogBytesBySession, session), -61);
  EXPECT_EQ(backlog(keys::kBacklogBytesBySensor, sensor), -61);
  stream.command_ok({"HINCRBY", live_name(keys::kBacklogBytesBySensor), sensor, "100"});  // another session
  auto released = stream.command(workers::release_backlog_command(kCluster, session, sensor, {key}));
  ASSERT_FALSE(released.is_error()) << released.str;
  EXPECT_FALSE(backlog(keys::kBacklogBytesBySession, session));
  EXPECT_EQ(backlog(keys::kBacklogBytesBySensor, sensor), 100) << "the session's -61 left with it";
  EXPECT_EQ(live_hlen(keys::kBacklogTrimPoints), 0);
}

// The quarantine of the single-Redis tests (WorkerTest.SessionThatKeepsFailing...,
// WorkerTest.DeadLetterBudget...) on the cluster, with the poisoned sessions on other masters than
// the live slot: the streams move aside in their session's slot, the index and the counts in the
// live slot, and the budget drops the older session, its keys and figures counted.
TEST_F(ClusterWorkerTest, QuarantinedSessionsMoveAsideInTheirSlotsAndTheBudgetDropsTheOldestCounted) {
  queues::QueueSpec every;
  every.target = queues::QueueTarget::parse("8");
  const std::string q = store.create(every).id;
  const int live_master = cluster.owner_of(core::cluster_key_slot(live_name(keys::kDeadLetters)));
  std::vector<std::string> bad;
  for (int i = 0; bad.size() < 2 && i < 100; ++i) {
    auto id = fmt::format("c0c0c0c0-0000-4000-8000-0000000002{:02}", i);
    if (cluster.owner_of(core::cluster_key_slot(keys::stream(kCluster, "8", id))) != live_master)
      bad.push_back(id);
  }
  ASSERT_EQ(bad.size(), 2u);
  const std::string good = "c0c0c0c0-0000-4000-8000-000000000301";
  const std::string other_sensor = "8bd5b2b23c8a4a399a5e1a4f1f2b7c02";
  auto entry = [](std::string text) {  // one stored entry: 60 characters and a newline
    text.resize(60, '.');
    return text + "\n";
  };
  ASSERT_NO_FATAL_FAILURE(store_session(bad[0], sensor, entry("first") + entry("POISON") + entry("third")));
  std::string good_text;
  for (int i = 0; i < 100; ++i) good_text += "good line " + std::to_string(i) + "\n";
  ASSERT_NO_FATAL_FAILURE(store_session(good, other_sensor, good_text));
  stream.command_ok({"SADD", live_name(keys::kEndedSessions), good});
  auto w = start_worker({"--types", "8", "--fail-entries-containing", "POISON"},
                        "failure_retry_ms = 200\nmax_session_failures = 3\ndead_letter_max_sessions = 1\n");
  const std::string log = (dir / ("worker-" + std::to_string(configs_) + ".log")).string();
  ASSERT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::sensor_rejects(sensor), "session-unprocessable"}).str == "1";
  })) << read_text(log);

  // The sensor is marked and its error says where the data went; the data is held, counted.
  EXPECT_EQ(meta.command({"HGET", keys::sensor_metadata(sensor), "Error"})
                .str.rfind("Error: Type=8, session could not be processed", 0),
            0u);
  auto errors = meta.command({"LRANGE", keys::sensor_errors(sensor), "0", "0"}).as_strings();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("failed 3 times"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find(keys::dead_letter_info(bad[0], kCluster)), std::string::npos) << errors[0];
  EXPECT_EQ(stream.command({"SISMEMBER", live_name(keys::kIncorrectTypeSessions), bad[0]}).integer, 1);
  EXPECT_EQ(stream.command({"EXISTS", keys::stream(kCluster, "8", bad[0])}).integer, 0);
  auto held = stream.command({"XRANGE", keys::dead_letter_stream("8", bad[0], kCluster), "-", "+"});
  ASSERT_EQ(held.elements.size(), 3u) << held.describe();
  const auto& poisoned_fields = held.elements[1].elements.at(1).elements;  // message, <payload>, ...
  ASSERT_GE(poisoned_fields.size(), 2u);
  EXPECT_EQ(poisoned_fields[1].str, entry("POISON"));
  EXPECT_EQ(stream.command({"HGET", keys::dead_letter_info(bad[0], kCluster), "sensor"}).str, sensor);
  EXPECT_EQ(stream.command({"HGET", keys::dead_letter_info(bad[0], kCluster), "entries"}).str, "3");
  EXPECT_FALSE(stream.command({"ZSCORE", live_name(keys::kDeadLetters), bad[0]}).is_nil());
  const std::string stats = live_name(keys::kDeadLetterStats);
  EXPECT_EQ(stream.command({"HGET", stats, "moved_sessions"}).str, "1");
  EXPECT_EQ(stream.command({"HGET", stats, "held_sessions"}).str, "1");
  EXPECT_EQ(stream.command({"HGET", stats, "held_entries"}).str, "3");
  EXPECT_EQ(stream.command({"HEXISTS", live_name(keys::kBacklogBytesBySession), bad[0]}).integer, 0)
      << "the session's unprocessed bytes left with its data";
  EXPECT_EQ(read_text(log).find("failure 3 of 3"), std::string::npos) << "no retry after the last";
  ASSERT_TRUE(eventually([&] { return cleaned(good); })) << read_text(log);
  EXPECT_EQ(items(q).size(), 100u);

  // A second quarantined session: the budget of one session drops the first, counted.
  ASSERT_NO_FATAL_FAILURE(store_session(bad[1], sensor, entry("POISON again")));
  ASSERT_TRUE(eventually([&] {
    errors = meta.command({"LRANGE", keys::sensor_errors(sensor), "0", "0"}).as_strings();
    return !errors.empty() && errors[0].find("older dead-letter session") != std::string::npos;
  })) << read_text(log);
  EXPECT_EQ(stream.command({"XLEN", keys::dead_letter_stream("8", bad[1], kCluster)}).integer, 1);
  EXPECT_EQ(stream.command({"EXISTS", keys::dead_letter_info(bad[0], kCluster)}).integer, 0);
  EXPECT_EQ(stream.command({"EXISTS", keys::dead_letter_stream("8", bad[0], kCluster)}).integer, 0);
  EXPECT_EQ(stream.command({"HGET", stats, "evicted_sessions"}).str, "1");
  EXPECT_EQ(stream.command({"HGET", stats, "evicted_entries"}).str, "3");
  EXPECT_EQ(stream.command({"HGET", stats, "held_sessions"}).str, "1");
  EXPECT_EQ(stream.command({"HGET", stats, "held_entries"}).str, "1");
  EXPECT_EQ(stream.command({"HGET", stats, "moved_sessions"}).str, "2");
  EXPECT_EQ(stream.command({"ZCARD", live_name(keys::kDeadLetters)}).integer, 1);
  EXPECT_EQ(stream.command({"HKEYS", live_name(keys::kDeadLettersHeld)}).as_strings(),
            std::vector<std::string>{bad[1]});

  // What still arrives is drained and counted, never queued, and the sessions end normally.
  ASSERT_NO_FATAL_FAILURE(store_session(bad[1], sensor, entry("late")));
  for (const auto& id : bad) stream.command_ok({"SADD", live_name(keys::kEndedSessions), id});
  ASSERT_TRUE(eventually([&] { return cleaned(bad[0]) && cleaned(bad[1]); })) << read_text(log);
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(sensor), "session-data-discarded"}).str, "1");
  EXPECT_EQ(meta.command({"EXISTS", keys::worker_failures("8")}).integer, 0);
  EXPECT_EQ(items(q).size(), 100u) << "nothing of the quarantined sessions was queued";
  EXPECT_EQ(stream.command({"XLEN", keys::dead_letter_stream("8", bad[1], kCluster)}).integer, 1);
  w.stop();
}

// A worker stopped after the move of a quarantine (the session's slot) but before its live-slot
// steps and its mark: the next owner finds the failures and the dead-letter record and finishes
// the quarantine with the recorded figures; repeating the move then changes nothing.
TEST_F(ClusterWorkerTest, AQuarantineStoppedAfterItsMoveIsFinishedByTheNextOwnerAndCountedOnce) {
  ASSERT_NO_FATAL_FAILURE(store_session(session, sensor, std::string(61 * 3, 'x')));  // 3 entries
  const std::string info = keys::dead_letter_info(session, kCluster);
  const std::string held = keys::dead_letter_stream("8", session, kCluster);
  // What the move script leaves, written as it writes it.
  stream.command_ok({"RENAME", keys::stream(kCluster, "8", session), held});
  stream.command_ok({"HSET", info, "sensor", sensor, "type", "8", "reason", "an injected failure", "time",
                     "1700000000", "entries", "3", "bytes", "500", "keys", held});
  meta.command_ok({"HSET", keys::worker_failures("8"), session, "3"});
  auto w = start_worker({"--types", "8"}, "max_session_failures = 3\n");
  const std::string log = (dir / ("worker-" + std::to_string(configs_) + ".log")).string();
  ASSERT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::worker_progress("8", session, kCluster), "quarantined"}).str == "1";
  })) << read_text(log);
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(sensor), "session-unprocessable"}).str, "1");
  auto errors = meta.command({"LRANGE", keys::sensor_errors(sensor), "0", "0"}).as_strings();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("failed 3 times (an injected failure)"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("3 unprocessed entries moved"), std::string::npos) << errors[0];
  const std::string stats = live_name(keys::kDeadLetterStats);
  auto counts = [&] {
    return stream.command({"HMGET", stats, "moved_sessions", "held_sessions", "held_entries", "held_bytes"})
        .as_strings();
  };
  EXPECT_EQ(counts(), (std::vector<std::string>{"1", "1", "3", "500"}));
  EXPECT_EQ(stream.command({"ZCARD", live_name(keys::kDeadLetters)}).integer, 1);
  EXPECT_EQ(stream.command({"XLEN", held}).integer, 3);
  // Cleared by the same pipeline as the mark, but a cluster may hold the two on different masters.
  EXPECT_TRUE(eventually([&] {
    return meta.command({"HEXISTS", keys::worker_failures("8"), session}).integer == 0;
  }));
  ASSERT_EQ(w.stop(), 0);

  // The whole move repeated, as a worker stopped before its mark repeats it: the same figures,
  // nothing moved or counted again.
  auto again = workers::move_to_dead_letter(stream, session, {8}, "8", sensor, "again", {}, kCluster);
  EXPECT_EQ(again.entries, 3);
  EXPECT_EQ(again.bytes, 500);
  EXPECT_TRUE(again.kept);
  EXPECT_EQ(counts(), (std::vector<std::string>{"1", "1", "3", "500"}));
  EXPECT_EQ(stream.command({"HGET", info, "reason"}).str, "an injected failure");
}

}  // namespace
}  // namespace d4::test
