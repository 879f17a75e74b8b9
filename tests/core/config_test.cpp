#include <gtest/gtest.h>

#include "core/config.hpp"

using namespace d4::core;

TEST(Config, DefaultsFollowTheReferenceLayout) {
  auto root = parse_toml("");
  auto c = read_common_config(root);
  EXPECT_EQ(c.redis.stream.port, 6379);
  EXPECT_EQ(c.redis.meta.port, 6380);
  EXPECT_EQ(c.redis.analyzer.db, 2);
  EXPECT_EQ(c.redis.users.db, 1);
  EXPECT_EQ(c.redis.cache.db, 3);
}

TEST(Config, ReadsSectionsAndResolvesPaths) {
  auto root = parse_toml(R"(
[general]
data_dir = "data"
log_level = "debug"
log_format = "json"
[redis]
stream = "127.0.0.1:7001/0"
meta = "127.0.0.1:7002/5"
[server]
max_payload = 4443
)");
  auto c = read_common_config(root, "/etc/d4");
  EXPECT_EQ(c.data_dir, "/etc/d4/data");
  EXPECT_EQ(c.log.format, LogFormat::Json);
  EXPECT_EQ(c.redis.meta.db, 5);
  EXPECT_EQ(c.redis.analyzer.port, 7002) << "analyzer db follows the meta instance";
  EXPECT_EQ(c.redis.analyzer.db, 2);
  EXPECT_EQ(get_int(root, "server", "max_payload", 1), 4443);
  EXPECT_EQ(get_int(root, "server", "read_size", 7), 7);
}

TEST(Config, ErrorsNameTheOption) {
  try {
    read_common_config(parse_toml("[redis]\nmeta = 5\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("redis.meta"), std::string::npos);
  }
  try {
    parse_toml("[server\nport=1", "d4.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("d4.toml:1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_common_config(parse_toml("[general]\nlog_level = \"loud\"\n")), ConfigError);
}
