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

TEST(Config, ClusterLayoutTurnsDatabasesIntoPrefixes) {
  auto c = read_common_config(parse_toml(R"(
[redis]
key_layout = "cluster"
stream = "redis-cluster://127.0.0.1:7001,127.0.0.1:7002"
meta = "redis-cluster://127.0.0.1:7101"
)"));
  EXPECT_EQ(c.redis.layout, keys::KeyLayout::Cluster);
  for (const auto* e : {&c.redis.users, &c.redis.analyzer, &c.redis.cache}) {
    EXPECT_TRUE(e->uses_cluster()) << "defaults follow the meta endpoint";
    EXPECT_EQ(e->db, 0) << "a cluster has database 0 only";
  }
  EXPECT_EQ(c.redis.meta_database(keys::Database::PibsResults).db, 0);
  EXPECT_EQ(keys::in_database(c.redis.layout, keys::Database::Users, "user:all"), "{d4:users}:user:all");
  EXPECT_EQ(keys::in_database(c.redis.layout, keys::Database::Analyzer, "analyzer:1:q"), "analyzer:1:q")
      << "analyzer queues keep the names existing analyzers pop";
  EXPECT_EQ(keys::stream(c.redis.layout, "1", "s-1"), "stream:1:{s-1}");
  EXPECT_EQ(keys::live(c.redis.layout, "session_uuid:1"), "{live}:session_uuid:1");

  // The cluster layout also runs on one Redis: everything in the meta database.
  auto single =
      read_common_config(parse_toml("[redis]\nkey_layout = \"cluster\"\nmeta = \"127.0.0.1:6380/5\"\n"));
  EXPECT_EQ(single.redis.cache.db, 5);
  EXPECT_EQ(single.redis.cache.port, 6380);
  EXPECT_EQ(single.redis.meta_database(keys::Database::PibsResults).db, 5);

  auto reference = read_common_config(parse_toml(""));
  EXPECT_EQ(reference.redis.layout, keys::KeyLayout::Reference);
  EXPECT_EQ(reference.redis.meta_database(keys::Database::PibsResults).db, keys::kPibsResultsDb);
  EXPECT_EQ(keys::in_database(reference.redis.layout, keys::Database::Users, "user:all"), "user:all");
  EXPECT_EQ(keys::stream(reference.redis.layout, "1", "s-1"), "stream:1:s-1");
  EXPECT_EQ(keys::live(reference.redis.layout, "session_uuid:1"), "session_uuid:1");
}

TEST(Config, ClusterEndpointNeedsTheClusterLayout) {
  try {
    read_common_config(parse_toml("[redis]\nstream = \"redis-cluster://127.0.0.1:7001\"\n", "d4.toml"));
    FAIL() << "a cluster endpoint with the reference layout must be refused";
  } catch (const ConfigError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("redis.stream"), std::string::npos) << m;
    EXPECT_NE(m.find("key_layout = \"cluster\""), std::string::npos) << m;
  }
  // A meta cluster reaches users/analyzer/cache through their defaults: named by the meta option.
  try {
    read_common_config(parse_toml("[redis]\nmeta = \"redis-cluster://127.0.0.1:7001\"\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("redis.meta"), std::string::npos) << e.what();
  }
  try {
    read_common_config(parse_toml("[redis]\nkey_layout = \"sharded\"\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("redis.key_layout"), std::string::npos) << e.what();
  }
}
