// d4-worker against input a misbehaving sensor can send once authenticated: meta headers padded
// with blanks, meta headers whose options make a handler fail, sessions that cannot be processed.
// Real redis-servers and the real d4-worker process.
#include <gtest/gtest.h>

#include <csignal>

#include "core/keys.hpp"
#include "support/text.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::test {
namespace {
namespace keys = core::keys;

// The largest value among the fields of a worker's progress hash.
long long largest_progress_field(core::RedisClient& analyzer, const std::string& type,
                                 const std::string& id) {
  auto h = analyzer.command({"HGETALL", keys::worker_progress(type, id)});
  long long largest = 0;
  for (std::size_t i = 1; i < h.elements.size(); i += 2)
    largest = std::max<long long>(largest, static_cast<long long>(h.elements[i].str.size()));
  return largest;
}

TEST_F(WorkerTest, IncompleteMetaHeaderKeepsTheProgressSmallAndIsReplayedAfterARestart) {
  std::string q = create_queue("maltrail");
  const std::string session = "d1d1d1d1-0000-4000-8000-000000000001";
  // A legitimate 80 KB header (tags with padding) in 160 packets; the last one arrives later.
  std::string header = R"({"type": "maltrail", "pad": ")" + std::string(80'000, 'p') + "\"}";
  auto parts = chunk(header, 500);
  std::string last = parts.back();
  parts.pop_back();
  add_packets(2, session, parts);
  auto w1 = start_worker("read_count = 4\n", {"--types", "2", "--name", "meta-worker"});
  // Every entry is processed (last_id advances to the last one) while the header is incomplete.
  ASSERT_TRUE(eventually([&] {
    auto id = analyzer.command({"HGET", keys::worker_progress("2", session), "last_id:2"});
    return id.is_string() && id.str == std::to_string(next_id_ - 1) + "-0";
  }));
  // The progress holds no copy of the header text; the entries stay in the stream instead.
  EXPECT_LT(largest_progress_field(analyzer, "2", session), 200);
  EXPECT_EQ(stream.command({"XLEN", keys::stream("2", session)}).integer,
            static_cast<long long>(parts.size()));
  ASSERT_EQ(w1.stop(), 0);

  // A restarted worker rebuilds the header from the stream and completes it with the last part.
  add_packets(2, session, {last});
  add_packets(254, session, {"trail-1\ntrail-2\n"});
  end_session(session);
  auto w2 = start_worker("", {"--types", "2", "--name", "meta-worker"});
  ASSERT_TRUE(wait_cleaned(2, session)) << read_text(dir / "worker-2.log");
  EXPECT_EQ(queue_items("maltrail", q), (std::vector<std::string>{"trail-1", "trail-2"}));
  EXPECT_TRUE(meta.command({"HGETALL", keys::sensor_rejects(kSensor)}).elements.empty());
  w2.stop();
}

TEST_F(WorkerTest, MetaHeaderPaddedWithBlanksBeyondTheLimitIsRefusedAndTrimmed) {
  const std::string session = "d1d1d1d1-0000-4000-8000-000000000002";
  // Blanks and newlines before the object used to be skipped without being counted.
  std::vector<std::string> blanks(3, std::string(40'000, ' '));
  blanks[1] = std::string(40'000, '\n');
  blanks.push_back("{\"type\": \"maltrail\"}");
  add_packets(2, session, blanks);
  auto w = start_worker("", {"--types", "2"});
  ASSERT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::sensor_rejects(kSensor), "meta-invalid"}).str == "1";
  }));
  auto errors = meta.command({"LRANGE", keys::sensor_errors(kSensor), "0", "-1"}).as_strings();
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("whitespace"), std::string::npos) << errors[0];
  // Nothing of the refused header is kept: the entries are trimmed once processed.
  EXPECT_TRUE(eventually([&] { return stream.command({"XLEN", keys::stream("2", session)}).integer == 0; }));
  EXPECT_LT(largest_progress_field(analyzer, "2", session), 200);
  end_session(session);
  ASSERT_TRUE(wait_cleaned(2, session));
  w.stop();
}

TEST_F(WorkerTest, FilewatcherOptionOfTheWrongTypeIsReportedAndTheFilesStored) {
  // "compress": "yes" made the handler throw for every record: the session was retried every 5 s
  // forever and its stream never drained.
  std::string q = create_queue("filewatcher");
  const std::string session = "d1d1d1d1-0000-4000-8000-000000000003";
  add_packets(2, session, {R"({"type":"filewatcher","compress":"yes","segregate":"no"})"});
  add_packets(254, session, {"aGVsbG8gZmlsZQ==\n", "c2Vjb25k\n"});  // "hello file", "second"
  end_session(session);
  auto w = start_worker("", {"--types", "2"});
  ASSERT_TRUE(wait_cleaned(2, session)) << read_text(dir / "worker-1.log");
  auto items = queue_items("filewatcher", q);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(read_all(items[0]), "hello file");  // stored uncompressed (the default)
  EXPECT_EQ(read_all(items[1]), "second");
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(kSensor), "filewatcher-invalid-option"}).str, "1");
  EXPECT_EQ(stream.command({"SCARD", keys::kIncorrectTypeSessions}).integer, 0);
  w.stop();
}

// Fault injection: an entry containing the marker makes processing throw, standing for any input
// a handler cannot process (the real ones found are fixed; this proves the safety net).
constexpr const char* kFastRetries = "failure_retry_ms = 200\nmax_session_failures = 3\n";

TEST_F(WorkerTest, SessionThatKeepsFailingIsQuarantinedAfterBoundedRetriesWhileOthersFlow) {
  std::string q = create_queue("8");
  const std::string bad = "d1d1d1d1-0000-4000-8000-000000000004";
  const std::string good = "d1d1d1d1-0000-4000-8000-000000000005";
  const std::string other_sensor = "0a0b0c0d0e0f40008000000000000009";
  add_packets(8, bad, {"first line\n", "POISON line\n", "third line\n"});
  std::vector<std::string> lines;
  for (int i = 0; i < 100; ++i) lines.push_back("good line " + std::to_string(i) + "\n");
  add_packets(8, good, lines, other_sensor);
  end_session(good);
  auto w = start_worker(kFastRetries, {"--types", "8", "--fail-entries-containing", "POISON"});
  ASSERT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::sensor_rejects(kSensor), "session-unprocessable"}).str == "1";
  })) << read_text(dir / "worker-1.log");
  // The sensor is marked, the server is told to close the session, the data is moved aside.
  EXPECT_EQ(meta.command({"HGET", keys::sensor_metadata(kSensor), "Error"})
                .str.rfind("Error: Type=8, session could not be processed", 0),
            0u);
  EXPECT_EQ(stream.command({"SISMEMBER", keys::kIncorrectTypeSessions, bad}).integer, 1);
  EXPECT_EQ(stream.command({"EXISTS", keys::stream("8", bad)}).integer, 0);
  EXPECT_EQ(stream.command({"XLEN", keys::dead_letter_stream("8", bad)}).integer, 3);
  EXPECT_EQ(stream.command({"HGET", keys::dead_letter_info(bad), "sensor"}).str, kSensor);
  EXPECT_FALSE(stream.command({"ZSCORE", keys::kDeadLetters, bad}).is_nil());
  auto errors = meta.command({"LRANGE", keys::sensor_errors(kSensor), "0", "0"}).as_strings();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("failed 3 times"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("dead letters"), std::string::npos) << errors[0];
  // Exactly the configured number of attempts, then no more retries.
  auto log = read_text(dir / "worker-1.log");
  EXPECT_NE(log.find("failure 2 of 3"), std::string::npos);
  EXPECT_EQ(log.find("failure 3 of 3"), std::string::npos);
  // The other sensor's session went through meanwhile.
  ASSERT_TRUE(wait_cleaned(8, good));
  EXPECT_EQ(queue_items("8", q).size(), 100u);
  // What still arrives is drained and counted, and the session ends normally.
  add_packets(8, bad, {"late line\n"});
  end_session(bad);
  ASSERT_TRUE(wait_cleaned(8, bad));
  EXPECT_EQ(meta.command({"HGET", keys::sensor_rejects(kSensor), "session-data-discarded"}).str, "1");
  EXPECT_EQ(analyzer.command({"EXISTS", keys::worker_failures("8")}).integer, 0);
  EXPECT_EQ(queue_items("8", q).size(), 100u) << "nothing of the quarantined session was queued";
  w.stop();
}

TEST_F(WorkerTest, ForeignEntryWithAnInvalidSensorIdIsQuarantinedNotRetriedForever) {
  // Something other than d4-server wrote into a session stream.
  const std::string session = "d1d1d1d1-0000-4000-8000-000000000006";
  add_packets(3, session, {"line\n"}, "not-a-uuid");
  auto w = start_worker(kFastRetries, {"--types", "3"});
  ASSERT_TRUE(eventually([&] {
    return meta.command({"HGET", keys::sensor_rejects("unknown"), "session-unprocessable"}).str == "1";
  })) << read_text(dir / "worker-1.log");
  EXPECT_EQ(stream.command({"XLEN", keys::dead_letter_stream("3", session)}).integer, 1);
  end_session(session);
  ASSERT_TRUE(wait_cleaned(3, session));
  w.stop();
}

TEST_F(WorkerTest, DeadLetterBudgetDropsTheOldestSessionWithACount) {
  const std::string first = "d1d1d1d1-0000-4000-8000-000000000007";
  const std::string second = "d1d1d1d1-0000-4000-8000-000000000008";
  add_packets(8, first, {"POISON 1\n", "more\n"});
  auto w = start_worker(std::string(kFastRetries) + "dead_letter_max_sessions = 1\n",
                        {"--types", "8", "--fail-entries-containing", "POISON"});
  ASSERT_TRUE(eventually([&] {
    return stream.command({"EXISTS", keys::dead_letter_info(first)}).integer == 1;
  }));
  add_packets(8, second, {"POISON 2\n"});
  ASSERT_TRUE(eventually([&] {
    return stream.command({"EXISTS", keys::dead_letter_info(second)}).integer == 1;
  }));
  // The older one made room; what it held is counted, not silently gone.
  EXPECT_EQ(stream.command({"EXISTS", keys::dead_letter_info(first)}).integer, 0);
  EXPECT_EQ(stream.command({"EXISTS", keys::dead_letter_stream("8", first)}).integer, 0);
  EXPECT_EQ(stream.command({"HGET", keys::kDeadLetterStats, "evicted_sessions"}).str, "1");
  EXPECT_EQ(stream.command({"HGET", keys::kDeadLetterStats, "evicted_entries"}).str, "2");
  EXPECT_EQ(stream.command({"HGET", keys::kDeadLetterStats, "held_sessions"}).str, "1");
  EXPECT_EQ(stream.command({"ZCARD", keys::kDeadLetters}).integer, 1);
  // The sensor's error is written after the streams moved (quarantine, then the reject).
  std::vector<std::string> errors;
  EXPECT_TRUE(eventually([&] {
    errors = meta.command({"LRANGE", keys::sensor_errors(kSensor), "0", "0"}).as_strings();
    return !errors.empty() && errors[0].find("older dead-letter session") != std::string::npos;
  })) << (errors.empty() ? std::string("no error recorded") : errors[0]);
  w.stop();
}

}  // namespace
}  // namespace d4::test
