#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

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
    EXPECT_EQ(j["msg"], std::string("sensor said \"hi\"\nnext\\line\t\x01"));
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
