#include "web/web_config.hpp"

#include <charconv>

namespace d4::web {

std::pair<std::string, std::uint16_t> split_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    throw core::ConfigError("[web] listen: expected host:port, got \"" + listen + "\"");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto tail = std::string_view(listen).substr(colon + 1);
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), port);
  if (ec != std::errc() || p != tail.data() + tail.size() || port > 65535)
    throw core::ConfigError("[web] listen: invalid port in \"" + listen + "\"");
  if (host.empty()) host = "127.0.0.1";
  return {host, static_cast<std::uint16_t>(port)};
}

namespace {
std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
  if (p.empty()) return {};
  std::filesystem::path path(p);
  return path.is_absolute() || base.empty() ? path : base / path;
}
long long positive(const toml::table& root, std::string_view key, long long def) {
  long long v = core::get_int(root, "web", key, def);
  if (v <= 0) throw core::ConfigError("[web] " + std::string(key) + " must be positive");
  return v;
}
// The backscatter results: [web] settings win, else the ones d4-pibs itself reads, so that one
// configuration file wires both ends.
void read_backscatter_settings(const toml::table& root, WebConfig& c) {
  constexpr const char* kPibs = "analyzers.pibs";
  std::string endpoint = core::get_string(root, "web", "backscatter_redis", "");
  const char* origin = "[web] backscatter_redis";
  if (endpoint.empty()) {
    endpoint = core::get_string(root, kPibs, "results_redis", "");
    origin = "[analyzers.pibs] results_redis";
  }
  // Built from the endpoint itself (not its text) so that a meta password carries over.
  c.backscatter_redis = c.common.redis.meta.with_db(core::keys::kPibsResultsDb);
  if (!endpoint.empty()) {
    std::string error;
    auto parsed = core::RedisEndpoint::parse(endpoint, &error);
    if (!parsed) throw core::ConfigError(std::string(origin) + ": " + error);
    c.backscatter_redis = *parsed;
  }
  c.backscatter_prefix = core::get_string(root, "web", "backscatter_key_prefix",
                                          core::get_string(root, kPibs, "key_prefix", c.backscatter_prefix));
  c.backscatter_bucket_seconds = core::get_int(root, kPibs, "bucket_seconds", c.backscatter_bucket_seconds);
  if (c.backscatter_bucket_seconds <= 0) c.backscatter_bucket_seconds = 60;
}
}  // namespace

WebConfig read_web_config(const toml::table& root, const std::filesystem::path& base_dir) {
  WebConfig c;
  c.common = core::read_common_config(root, base_dir);
  c.listen = core::get_string(root, "web", "listen", c.listen);
  std::tie(c.address, c.port) = split_listen(c.listen);
  c.tls_cert = resolve(base_dir, core::get_string(root, "web", "tls_cert", ""));
  c.tls_key = resolve(base_dir, core::get_string(root, "web", "tls_key", ""));
  if (c.tls_cert.empty() != c.tls_key.empty())
    throw core::ConfigError(
        "[web] tls_cert and tls_key must both be set (HTTPS) or both be empty (plain HTTP)");
  c.state_dir = resolve(base_dir, core::get_string(root, "web", "state_dir", "web"));
  c.admin_email = core::get_string(root, "web", "admin_email", c.admin_email);
  c.admin_password = core::get_string(root, "web", "admin_password", "");
  c.session_ttl = std::chrono::seconds(positive(root, "session_ttl", c.session_ttl.count()));
  c.login_max_failures = positive(root, "login_max_failures", c.login_max_failures);
  c.login_failure_window =
      std::chrono::seconds(positive(root, "login_failure_window", c.login_failure_window.count()));
  c.handler_threads =
      static_cast<std::size_t>(positive(root, "threads", static_cast<long long>(c.handler_threads)));
  c.ingest_metrics_url = core::get_string(root, "web", "ingest_metrics_url", "");
  if (c.ingest_metrics_url.empty()) {
    auto m = core::get_string(root, "server", "metrics_listen", "");
    if (!m.empty()) c.ingest_metrics_url = "http://" + m + "/metrics";
  }
  c.queue_default_max_size = core::get_int(root, "queues", "default_max_size", c.queue_default_max_size);
  c.server_mode = core::get_string(root, "server", "mode", c.server_mode);
  read_backscatter_settings(root, c);
  return c;
}

}  // namespace d4::web
