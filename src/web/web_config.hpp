#pragma once
// The [web] section of the configuration file, plus the shared [general]/[redis] sections.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include <toml++/toml.h>

#include "core/config.hpp"
#include "core/keys.hpp"

namespace d4::web {

struct WebConfig {
  core::CommonConfig common;
  std::string listen = "127.0.0.1:7000";
  std::string address = "127.0.0.1";
  std::uint16_t port = 7000;
  std::filesystem::path tls_cert;  // both empty: plain HTTP (warned about)
  std::filesystem::path tls_key;
  std::filesystem::path state_dir;  // holds ADMIN_PASSWORD on first run
  std::string admin_email = "admin@admin.test";
  std::string admin_password;  // empty: random, written to <state_dir>/ADMIN_PASSWORD
  std::chrono::seconds session_ttl{8 * 3600};
  long long login_max_failures = 5;                // per IP and per user
  std::chrono::seconds login_failure_window{300};  // reference: 5 failures / 300 s
  std::size_t handler_threads = 4;
  std::string ingest_metrics_url;  // http://host:port/metrics of d4-server ([server] metrics_listen)
  long long queue_default_max_size = 100000000;  // [queues] default_max_size (reference default)
  std::string server_mode = "registration";      // [server] mode, shown on the server page
  // Where d4-pibs writes its per-victim backscatter results (read-only here). Defaults follow
  // [analyzers.pibs] results_redis / key_prefix, which default to the meta host db 4 and "pibs:".
  core::RedisEndpoint backscatter_redis{"127.0.0.1", 6380, {}, 4, {}};
  std::string backscatter_prefix{core::keys::kPibsDefaultPrefix};
  std::int64_t backscatter_bucket_seconds = 60;  // [analyzers.pibs] bucket_seconds: chart step for 1 bucket

  bool https() const { return !tls_cert.empty() && !tls_key.empty(); }
};

// Reads the whole configuration; relative paths are resolved against base_dir (the config
// file's directory). Throws core::ConfigError on invalid values.
WebConfig read_web_config(const toml::table& root, const std::filesystem::path& base_dir);

// Splits "host:port" / "[v6]:port"; throws core::ConfigError when malformed.
std::pair<std::string, std::uint16_t> split_listen(const std::string& listen);

}  // namespace d4::web
