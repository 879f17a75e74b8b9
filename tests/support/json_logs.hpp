#pragma once
// Structured logs ([general] log_format = "json") as the tests read them: every line of a log
// parsed as one JSON object with time, level, component and message, and the processes a test
// starts switched to JSON through the environment override.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace d4::test {

// D4_GENERAL__LOG_FORMAT=json for every process started while it lives.
struct JsonLogsForChildren {
  JsonLogsForChildren() { setenv("D4_GENERAL__LOG_FORMAT", "json", 1); }
  ~JsonLogsForChildren() { unsetenv("D4_GENERAL__LOG_FORMAT"); }
  JsonLogsForChildren(const JsonLogsForChildren&) = delete;
  JsonLogsForChildren& operator=(const JsonLogsForChildren&) = delete;
};

// Every line of `log` parsed; a line that is not a JSON object with the four common members fails
// the test.
inline std::vector<nlohmann::json> json_log_lines(const std::string& log) {
  std::vector<nlohmann::json> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << "not a JSON object: " << line;
    if (!j.is_object()) continue;
    for (const char* key : {"time", "level", "component", "message"})
      EXPECT_TRUE(j.contains(key)) << key << " missing: " << line;
    out.push_back(std::move(j));
  }
  return out;
}

// The first line whose message contains `text`, or an empty object.
inline nlohmann::json json_log_line_with(const std::vector<nlohmann::json>& lines, const std::string& text) {
  for (const auto& j : lines)
    if (j.value("message", "").find(text) != std::string::npos) return j;
  return nlohmann::json::object();
}

}  // namespace d4::test
