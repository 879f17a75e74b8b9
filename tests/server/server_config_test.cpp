// The [server] configuration: the shipped example parses and matches the built-in defaults,
// and mistakes are reported with the option's name.
#include <gtest/gtest.h>

#include "server/server_config.hpp"

using namespace d4::server;

namespace {

ServerConfig parse(const std::string& text) {
  return read_server_config(d4::core::parse_toml(text));
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const d4::core::ConfigError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST(ServerConfig, ExampleFileMatchesTheDefaults) {
  auto root = d4::core::load_toml_file(std::string(D4_SOURCE_DIR) + "/config/d4.example.toml");
  auto example = read_server_config(root);
  auto defaults = parse("");
  EXPECT_EQ(example.listen.size(), 1u);
  EXPECT_EQ(example.listen[0].host, "::");
  EXPECT_EQ(example.listen[0].port, 4443);
  EXPECT_EQ(example.runtime.mode, defaults.runtime.mode);
  EXPECT_EQ(example.runtime.default_hmac_key, defaults.runtime.default_hmac_key);
  EXPECT_EQ(example.runtime.max_payload, defaults.runtime.max_payload);
  EXPECT_EQ(example.runtime.default_backlog, defaults.runtime.default_backlog);
  EXPECT_EQ(example.runtime.idle_timeout, defaults.runtime.idle_timeout);
  EXPECT_EQ(example.runtime.unidentified_timeout, defaults.runtime.unidentified_timeout);
  EXPECT_EQ(example.runtime.header_timeout, defaults.runtime.header_timeout);
  EXPECT_EQ(example.runtime.packet_timeout, defaults.runtime.packet_timeout);
  EXPECT_EQ(example.runtime.max_connections_per_ip, defaults.runtime.max_connections_per_ip);
  EXPECT_EQ(example.runtime.unauthenticated_bytes_max, defaults.runtime.unauthenticated_bytes_max);
  EXPECT_EQ(example.runtime.reject_sources_max, defaults.runtime.reject_sources_max);
  EXPECT_EQ(example.runtime.auto_blocked_ips_max, defaults.runtime.auto_blocked_ips_max);
  EXPECT_EQ(example.tls_ciphers, defaults.tls_ciphers);
  EXPECT_EQ(example.runtime.unauthenticated_bytes_per_ip, defaults.runtime.unauthenticated_bytes_per_ip);
  EXPECT_EQ(example.default_accepted_types, defaults.default_accepted_types);
  EXPECT_EQ(example.default_accepted_extended_types, defaults.default_accepted_extended_types);
  EXPECT_EQ(example.max_session_pending_bytes, defaults.max_session_pending_bytes);
  EXPECT_EQ(example.runtime.max_session_backlog_bytes, defaults.runtime.max_session_backlog_bytes);
  EXPECT_EQ(example.runtime.max_sensor_backlog_bytes, defaults.runtime.max_sensor_backlog_bytes);
  EXPECT_EQ(example.runtime.max_meta_sessions_per_sensor, defaults.runtime.max_meta_sessions_per_sensor);
  EXPECT_EQ(example.runtime.stream_memory_budget, defaults.runtime.stream_memory_budget);
  EXPECT_EQ(example.runtime.stream_memory_share_from, defaults.runtime.stream_memory_share_from);
  EXPECT_EQ(example.memory_poll, defaults.memory_poll);
  EXPECT_EQ(example.metrics_listen, defaults.metrics_listen);
  EXPECT_TRUE(example.runtime.proxy_protocol_from.empty());
  EXPECT_EQ(example.wait_replicas, defaults.wait_replicas);
  EXPECT_EQ(example.wait_timeout, defaults.wait_timeout);
  EXPECT_EQ(example.common.redis.stream.port, 6379);
  EXPECT_EQ(example.common.redis.meta.port, 6380);
}

TEST(ServerConfig, ListenAddressesIncludingIpv6) {
  auto a = parse_listen_address("[::1]:4443");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 4443);
  EXPECT_EQ(a.to_string(), "[::1]:4443");
  auto b = parse_listen_address(":4443");
  EXPECT_EQ(b.host, "::");
  auto c = parse_listen_address("0.0.0.0:1");
  EXPECT_EQ(c.to_string(), "0.0.0.0:1");
  EXPECT_THROW(parse_listen_address("::1:4443"), d4::core::ConfigError);
  EXPECT_THROW(parse_listen_address("host"), d4::core::ConfigError);
  EXPECT_THROW(parse_listen_address("host:70000"), d4::core::ConfigError);
}

TEST(ServerConfig, MistakesNameTheOption) {
  EXPECT_NE(error_of("[server]\nmode = \"open\"\n").find("server.mode"), std::string::npos);
  EXPECT_NE(error_of("[server]\naccepted_types = [1, 300]\n").find("server.accepted_types"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nplain_listen = [\"0.0.0.0:4444\"]\n").find("loopback"), std::string::npos);
  EXPECT_TRUE(error_of("[server]\nplain_listen = [\"0.0.0.0:4444\"]\nplain_allow_remote = true\n").empty());
  EXPECT_NE(error_of("[server]\ntls_require_client_cert = true\n").find("tls_client_ca"), std::string::npos);
  EXPECT_NE(error_of("[server]\nidle_timeout = \"1h\"\n").find("server.idle_timeout"), std::string::npos);
  EXPECT_NE(error_of("[server]\nheartbeat_interval = 20\ninstance_ttl = 10\n").find("instance_ttl"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\ndefault_hmac_key = \"\"\n").find("default_hmac_key"), std::string::npos);
  EXPECT_NE(error_of("[server]\ntls_ciphers = \"NO-SUCH-CIPHER\"\n").find("server.tls_ciphers"),
            std::string::npos);
  // The largest first packet must fit in the per-address budget of unauthenticated bytes.
  EXPECT_NE(
      error_of("[server]\nunauthenticated_bytes_per_ip = 100000\n").find("unauthenticated_bytes_per_ip"),
      std::string::npos);
  EXPECT_TRUE(error_of("[server]\nmax_payload = 50000\nunauthenticated_bytes_per_ip = 100000\n").empty());
  EXPECT_NE(error_of("[server]\nunauthenticated_bytes_max = 2000000\n").find("unauthenticated_bytes_max"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nstream_memory_share_from = 1.5\n").find("server.stream_memory_share_from"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nmax_sensor_backlog_bytes = -1\n").find("server.max_sensor_backlog_bytes"),
            std::string::npos);
  EXPECT_NE(
      error_of("[server]\nproxy_protocol_from = [\"10.0.0.0/33\"]\n").find("server.proxy_protocol_from"),
      std::string::npos);
  // A WAIT blocks its Redis connection: it must end before that connection is deemed hung.
  EXPECT_NE(error_of("[server]\nwait_replicas = 1\nwait_timeout_ms = 30000\n").find("server.wait_timeout_ms"),
            std::string::npos);
  EXPECT_TRUE(
      error_of("[server]\nwait_replicas = 1\nwait_timeout_ms = 30000\nredis_reply_timeout_ms = 60000\n")
          .empty());
}

TEST(ServerConfig, ProxyProtocolSourcesAreNetworks) {
  auto c = parse("[server]\nproxy_protocol_from = [\"10.0.0.0/8\", \"127.0.0.1\", \"2001:db8::/32\"]\n");
  const auto& from = c.runtime.proxy_protocol_from;
  EXPECT_TRUE(from.contains(*d4::core::IpAddress::parse("10.20.30.40")));
  EXPECT_TRUE(from.contains(*d4::core::IpAddress::parse("127.0.0.1")));
  EXPECT_TRUE(from.contains(*d4::core::IpAddress::parse("::ffff:127.0.0.1")));
  EXPECT_TRUE(from.contains(*d4::core::IpAddress::parse("2001:db8:1::1")));
  EXPECT_FALSE(from.contains(*d4::core::IpAddress::parse("127.0.0.2")));
  EXPECT_FALSE(from.contains(*d4::core::IpAddress::parse("11.0.0.1")));
}
