// Structured logs ([general] log_format = "json") from the real d4-server and d4-worker: every
// line is one JSON object with time, level, component and message, and the session lines carry
// their fields (session, source, sensor_uuid or claimed_sensor_uuid, type, reason) as members.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/harness.hpp"

using namespace d4;
using namespace d4::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kKey = "d4-test-key";

// Every line of `log` parsed; a line that is not a JSON object fails the test.
std::vector<json> json_lines(const std::string& log) {
  std::vector<json> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << "not a JSON object: " << line;
    if (!j.is_object()) continue;
    for (const char* key : {"time", "level", "component", "message"})
      EXPECT_TRUE(j.contains(key)) << key << " missing: " << line;
    out.push_back(std::move(j));
  }
  return out;
}

// The first line whose message contains `text`, or an empty object.
json line_with(const std::vector<json>& lines, const std::string& text) {
  for (const auto& j : lines)
    if (j.value("message", "").find(text) != std::string::npos) return j;
  return json::object();
}

// The environment override reaches every process the test starts (and the server's harness).
struct JsonLogsForChildren {
  JsonLogsForChildren() { setenv("D4_GENERAL__LOG_FORMAT", "json", 1); }
  ~JsonLogsForChildren() { unsetenv("D4_GENERAL__LOG_FORMAT"); }
};

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

  auto lines = json_lines(server.log());
  json ended = line_with(lines, "ended");
  EXPECT_EQ(ended.value("component", ""), "d4-server") << ended.dump();
  EXPECT_EQ(ended.value("sensor_uuid", ""), uuid.dashless()) << ended.dump();
  EXPECT_EQ(ended.value("type", 0), 3) << ended.dump();
  EXPECT_EQ(ended.value("source", ""), "127.0.0.1") << ended.dump();
  EXPECT_EQ(ended.value("packets", 0), 1) << ended.dump();
  const std::string session = ended.value("session", "");
  EXPECT_FALSE(session.empty()) << ended.dump();
  EXPECT_EQ(line_with(lines, "sensor " + uuid.dashless() + " type 3 from").value("session", ""), session);

  json refused = line_with(lines, "refused");
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
  auto worker_lines = json_lines(read_text(server.dir() / "worker.log"));
  json finished = line_with(worker_lines, "finished");
  EXPECT_EQ(finished.value("component", ""), "d4-worker") << finished.dump();
  EXPECT_EQ(finished.value("session", ""), session) << finished.dump();
  EXPECT_EQ(finished.value("sensor_uuid", ""), uuid.dashless()) << finished.dump();
  EXPECT_EQ(finished.value("type", 0), 3) << finished.dump();
  worker.signal(SIGTERM);
  EXPECT_EQ(worker.wait(30s), 0);
}

}  // namespace
