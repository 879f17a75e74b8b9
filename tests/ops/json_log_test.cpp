// Structured logs ([general] log_format = "json") from the real d4-server and d4-worker: every
// line is one JSON object with time, level, component and message, and the session lines carry
// their fields (session, source, sensor_uuid or claimed_sensor_uuid, type, reason) as members.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/harness.hpp"
#include "support/json_logs.hpp"

using namespace d4;
using namespace d4::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kKey = "d4-test-key";

TEST(JsonLogs, ServerAndWorkerSessionLinesCarryTheirFields) {
  JsonLogsForChildren json_logs;
  RedisServer redis;
  ServerProcess server(redis);
  const auto uuid = random_uuid();

  {  // A session of one packet, stored.
    SensorConnection sensor(server.plain_port(), false);
    ASSERT_TRUE(sensor.send(make_packet(uuid, 3, kKey, std::string_view("hello json logs"))));
    sensor.close();
  }
  {  // A refused connection: the packet's HMAC was made with another key.
    SensorConnection intruder(server.plain_port(), false);
    intruder.send(make_packet(uuid, 3, "not-the-key", std::string_view("x")));
    EXPECT_TRUE(intruder.wait_closed(10s));
  }
  ASSERT_TRUE(eventually([&] {
    return server.log().find("ended") != std::string::npos &&
           server.log().find("refused") != std::string::npos;
  })) << server.log();

  auto lines = json_log_lines(server.log());
  json ended = json_log_line_with(lines, "ended");
  EXPECT_EQ(ended.value("component", ""), "d4-server") << ended.dump();
  EXPECT_EQ(ended.value("sensor_uuid", ""), uuid.dashless()) << ended.dump();
  EXPECT_EQ(ended.value("type", 0), 3) << ended.dump();
  EXPECT_EQ(ended.value("source", ""), "127.0.0.1") << ended.dump();
  EXPECT_EQ(ended.value("packets", 0), 1) << ended.dump();
  const std::string session = ended.value("session", "");
  EXPECT_FALSE(session.empty()) << ended.dump();
  EXPECT_EQ(json_log_line_with(lines, "sensor " + uuid.dashless() + " type 3 from").value("session", ""),
            session);

  json refused = json_log_line_with(lines, "refused");
  EXPECT_EQ(refused.value("level", ""), "info") << refused.dump();
  EXPECT_FALSE(refused.value("reason", "").empty()) << refused.dump();
  EXPECT_EQ(refused.value("claimed_sensor_uuid", ""), uuid.dashless()) << refused.dump();
  EXPECT_FALSE(refused.contains("sensor_uuid")) << "never proved it holds the key: " << refused.dump();
  EXPECT_NE(refused.value("session", ""), session);

  // The worker finishes the stored session: its line names the same session and sensor.
  Process::Options o;
  o.stderr_file = server.dir() / "worker.log";
  Process worker({(bin_dir() / "d4-worker").string(), "--config", server.config_path().string(), "--types",
                  "3", "--archive-dir", (server.dir() / "archive").string(), "--name", "json-logs"},
                 o);
  ASSERT_TRUE(eventually(
      [&] { return read_text(server.dir() / "worker.log").find("finished") != std::string::npos; }, 30s))
      << read_text(server.dir() / "worker.log");
  auto worker_lines = json_log_lines(read_text(server.dir() / "worker.log"));
  json finished = json_log_line_with(worker_lines, "finished");
  EXPECT_EQ(finished.value("component", ""), "d4-worker") << finished.dump();
  EXPECT_EQ(finished.value("session", ""), session) << finished.dump();
  EXPECT_EQ(finished.value("sensor_uuid", ""), uuid.dashless()) << finished.dump();
  EXPECT_EQ(finished.value("type", 0), 3) << finished.dump();
  worker.signal(SIGTERM);
  EXPECT_EQ(worker.wait(30s), 0);
}

}  // namespace
