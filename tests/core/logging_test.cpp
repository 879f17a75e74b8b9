#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/log_fields.hpp"
#include "core/logging.hpp"
#include "support/process.hpp"

TEST(Logging, JsonLinesStayValidWithHostileMessages) {
  d4::test::TempDir dir;
  d4::core::LogOptions o;
  o.format = d4::core::LogFormat::Json;
  o.file = (dir / "log.jsonl").string();
  d4::core::init_logging("d4-test", o);
  spdlog::info("sensor said \"hi\"\nnext\\line\t{}", std::string("\x01", 1));
  spdlog::default_logger()->flush();
  std::ifstream f(o.file);
  std::string line;
  int lines = 0;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["component"], "d4-test");
    EXPECT_EQ(j["level"], "info");
    EXPECT_EQ(j["message"], std::string("sensor said \"hi\"\nnext\\line\t\x01"));
    ++lines;
  }
  EXPECT_EQ(lines, 1);
  d4::core::init_logging("d4-test", {});
}

TEST(Logging, ListeningLineIsWrittenEvenWhenInfoIsFilteredOut) {
  d4::test::TempDir dir;
  d4::core::LogOptions o;
  o.level = "warn";
  o.file = (dir / "log.txt").string();
  d4::core::init_logging("d4-test", o);
  spdlog::info("an info line the level filters out");
  d4::core::log_listening("metrics and health, HTTP", "::1", 9100);
  std::string text = d4::test::read_text(o.file);
  EXPECT_NE(text.find("listening on [::1]:9100 (metrics and health, HTTP)"), std::string::npos) << text;
  EXPECT_EQ(text.find("an info line"), std::string::npos) << text;
  d4::core::init_logging("d4-test", {});
}

TEST(Logging, StructuredFieldsAreMembersInJsonAndStayOutOfText) {
  d4::test::TempDir dir;
  d4::core::LogOptions o;
  o.format = d4::core::LogFormat::Json;
  o.file = (dir / "log.jsonl").string();
  d4::core::init_logging("d4-test", o);
  d4::core::log_with(d4::core::LogFields()
                         .add(d4::core::log_key::kSensorUuid, "0123456789abcdef0123456789abcdef")
                         .add(d4::core::log_key::kType, 3)
                         .add(d4::core::log_key::kReason, std::string("bad \"header\"\n")),
                     spdlog::level::warn, "refused {}", 1);
  spdlog::info("no fields");  // the fields of the previous line do not stick
  spdlog::default_logger()->flush();
  std::ifstream f(o.file);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["message"], "refused 1");
  EXPECT_EQ(lines[0]["level"], "warning");
  EXPECT_EQ(lines[0]["sensor_uuid"], "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(lines[0]["type"], 3);
  EXPECT_EQ(lines[0]["reason"], "bad \"header\"\n");
  EXPECT_FALSE(lines[1].contains("reason"));

  o.format = d4::core::LogFormat::Text;
  o.file = (dir / "log.txt").string();
  d4::core::init_logging("d4-test", o);
  d4::core::log_with(d4::core::LogFields().add(d4::core::log_key::kReason, "hidden"), spdlog::level::warn,
                     "refused {}", 2);
  spdlog::default_logger()->flush();
  std::string text = d4::test::read_text(o.file);
  EXPECT_NE(text.find("refused 2"), std::string::npos) << text;
  EXPECT_EQ(text.find("hidden"), std::string::npos) << text;
  d4::core::init_logging("d4-test", {});
}
