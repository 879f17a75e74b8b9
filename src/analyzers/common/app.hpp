#pragma once
// Start-up plumbing shared by the analyzer executables: the TOML configuration (shared [general]
// and [redis] sections plus the analyzer's own [analyzers.<name>] section), logging, Redis
// endpoints, retry-until-stopped for storage writes, and small helpers.
#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "core/config.hpp"
#include "core/http_server.hpp"
#include "core/privileges.hpp"
#include "core/redis_endpoint.hpp"

namespace d4::analyzers {

// The analyzers' own exit statuses, besides those of every D4 executable (core/exit_codes.hpp:
// 0, 1 runtime, 2 usage, 78 configuration). See docs/analyzers.md.
inline constexpr int kExitResultsNotWritten = 3;  // stopped before pending results could be written
inline constexpr int kExitInputUnreadable = 66;   // some input could not be read (EX_NOINPUT)

struct AppConfig {
  toml::table root;  // empty when no file was given
  bool from_file = false;
  core::CommonConfig common;
  core::RunAs run_as;  // [general] user, group, allow_root (a missing user: ConfigError)
};

// Loads `path` (empty: built-in defaults) with the environment overrides (core::load_config).
// Throws core::ConfigError.
AppConfig load_app_config(const std::string& path);

// Parses "host:port/db" (see core::RedisEndpoint); throws core::ConfigError naming `what`.
core::RedisEndpoint parse_endpoint(const std::string& text, std::string_view what);

// A TOML array of strings; throws core::ConfigError on other element types.
std::vector<std::string> get_string_array(const toml::table& root, std::string_view section,
                                          std::string_view key);
std::vector<long long> get_int_array(const toml::table& root, std::string_view section, std::string_view key);

// Initialises logging from the configuration, with command-line overrides when not empty.
void init_analyzer_logging(std::string_view component, const core::CommonConfig& common,
                           const std::string& level, const std::string& format);

// Calls `fn` until it returns without core::RedisError, backing off between attempts. Returns
// false if a stop was requested first.
bool retry_redis(const std::function<void()>& fn, const std::atomic<bool>& stop, std::string_view what);

// The sensor UUID (dashless, lower case) found in a path written by the D4 server, e.g.
// /data/<uuid>/1/2024/01/01/<uuid>-2024-01-01-101500.cap.gz; nullopt when there is none.
std::optional<std::string> sensor_id_from_path(std::string_view path);

// "<analyzer>:<queue>:<hostname>": names the processing list of a queue consumer.
std::string default_consumer_name(std::string_view analyzer, std::string_view queue);

// "host:port" (IPv6 as [addr]:port) -> (host, port). Throws core::ConfigError.
std::pair<std::string, std::uint16_t> parse_listen(const std::string& text);

// Runs an analyzer's main body with the exit statuses of every D4 executable (core::cli::run): a
// core::ConfigError gives 78, a core::cli::UsageError 2, any other exception 1; otherwise the
// body's own status (docs/analyzers.md: 3 and 66 are the analyzers' own).
int run_tool(std::string_view tool, const std::function<int()>& body);

// Blocks until SIGINT/SIGTERM, then stops `server` (a started query API).
void serve_until_stopped(core::http::Server& server);

}  // namespace d4::analyzers
