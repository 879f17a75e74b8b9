#include "analyzers/common/app.hpp"

#include <unistd.h>

#include <charconv>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/cli.hpp"
#include "core/listen_address.hpp"
#include "core/logging.hpp"
#include "core/redis_client.hpp"
#include "core/redis_reply.hpp"
#include "core/stop_signal.hpp"
#include "protocol/text.hpp"

namespace d4::analyzers {

AppConfig load_app_config(const std::string& path) {
  AppConfig c;
  c.root = core::load_config(path);
  c.from_file = !path.empty();
  c.common = core::read_common_config(
      c.root, path.empty() ? std::filesystem::path() : std::filesystem::absolute(path).parent_path());
  c.run_as = core::read_run_as(c.root);
  return c;
}

core::RedisEndpoint parse_endpoint(const std::string& text, std::string_view what) {
  return core::parse_endpoint(text, what);
}

std::vector<std::string> get_string_array(const toml::table& root, std::string_view section,
                                          std::string_view key) {
  return core::get_string_list(root, section, key, {});
}

std::vector<long long> get_int_array(const toml::table& root, std::string_view section,
                                     std::string_view key) {
  return core::get_int_list(root, section, key, {});
}

void init_analyzer_logging(std::string_view component, const core::CommonConfig& common,
                           const std::string& level, const std::string& format) {
  core::LogOptions o = common.log;
  if (!level.empty()) o.level = level;
  if (!format.empty() && !core::parse_log_format(format, o.format))
    throw core::ConfigError("log format must be text or json");
  core::init_logging(component, o);
}

bool retry_redis(const std::function<void()>& fn, const std::atomic<bool>& stop, std::string_view what) {
  core::Backoff backoff;
  bool warned = false;
  for (;;) {
    try {
      fn();
      if (warned) spdlog::info("{}: Redis available again", what);
      return true;
    } catch (const core::RedisError& e) {
      if (!warned) spdlog::warn("{}: {}; retrying with backoff", what, e.what());
      warned = true;
    }
    auto deadline = std::chrono::steady_clock::now() + backoff.next();
    while (std::chrono::steady_clock::now() < deadline) {
      if (stop.load(std::memory_order_relaxed)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

std::optional<std::string> sensor_id_from_path(std::string_view path) {
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t slash = path.find('/', pos);
    std::string_view part =
        path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    std::string id;
    for (char c : part) {
      if (c == '-') continue;
      if (!text::is_hex_digit(c)) break;
      id += text::ascii_lower(c);
    }
    if (id.size() == 32 && (part.size() == 32 || part.size() == 36)) return id;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return std::nullopt;
}

std::string default_consumer_name(std::string_view analyzer, std::string_view queue) {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(analyzer) + ":" + std::string(queue) + ":" + host;
}

std::pair<std::string, std::uint16_t> parse_listen(const std::string& text) {
  auto a = core::parse_listen_address(text);
  // A query API without a host listens on loopback only (it answers without authentication).
  if (text.starts_with(':')) a.host = "127.0.0.1";
  return {a.host, a.port};
}

int run_tool(std::string_view tool, const std::function<int()>& body) {
  return core::cli::run(tool, body);
}

void serve_until_stopped(core::http::Server& server) {
  while (core::sleep_unless_stopped(std::chrono::milliseconds(100))) {
  }
  server.stop();
}

}  // namespace d4::analyzers
