#include "server/server_config.hpp"

#include <charconv>

namespace d4::server {
namespace {

using core::ConfigError;

constexpr std::string_view kSection = "server";

[[noreturn]] void bad(std::string_view key, const std::string& why) {
  throw ConfigError("option server." + std::string(key) + ": " + why);
}

long long int_in(const toml::table& t, std::string_view key, long long def, long long min, long long max) {
  long long v = core::get_int(t, kSection, key, def);
  if (v < min || v > max) bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return v;
}

std::chrono::seconds seconds_opt(const toml::table& t, std::string_view key, std::chrono::seconds def) {
  return std::chrono::seconds(int_in(t, key, def.count(), 0, 365LL * 24 * 3600));
}

std::vector<std::string> string_array(const toml::table& t, std::string_view key,
                                      std::vector<std::string> def) {
  return core::get_string_list(t, kSection, key, std::move(def));
}

std::vector<int> int_array(const toml::table& t, std::string_view key, std::vector<int> def, int min,
                           int max) {
  std::vector<long long> fallback(def.begin(), def.end());
  std::vector<int> out;
  for (long long v : core::get_int_list(t, kSection, key, fallback)) {
    if (v < min || v > max)
      bad(key, "must be an array of integers between " + std::to_string(min) + " and " + std::to_string(max));
    out.push_back(static_cast<int>(v));
  }
  return out;
}

std::vector<ListenAddress> listen_array(const toml::table& t, std::string_view key,
                                        std::vector<ListenAddress> def) {
  const auto texts = string_array(t, key, {});
  if (!core::has_option(t, kSection, key)) return def;
  std::vector<ListenAddress> out;
  for (const auto& x : texts) {
    try {
      out.push_back(parse_listen_address(x));
    } catch (const ConfigError& e) {
      bad(key, e.what());
    }
  }
  return out;
}

void read_admission_options(const toml::table& root, RuntimeOptions& r) {
  constexpr long long kMaxBytes = 1LL << 50;
  auto bytes = [&](std::string_view key, std::uint64_t def) {
    return static_cast<std::uint64_t>(int_in(root, key, static_cast<long long>(def), 0, kMaxBytes));
  };
  r.max_session_backlog_bytes = bytes("max_session_backlog_bytes", r.max_session_backlog_bytes);
  r.max_sensor_backlog_bytes = bytes("max_sensor_backlog_bytes", r.max_sensor_backlog_bytes);
  r.max_meta_sessions_per_sensor =
      static_cast<std::size_t>(int_in(root, "max_meta_sessions_per_sensor",
                                      static_cast<long long>(r.max_meta_sessions_per_sensor), 0, 100'000));
  r.stream_memory_budget = bytes("stream_memory_budget", r.stream_memory_budget);
  r.stream_memory_share_from =
      core::get_double(root, kSection, "stream_memory_share_from", r.stream_memory_share_from);
  if (r.stream_memory_share_from < 0.0 || r.stream_memory_share_from > 1.0)
    bad("stream_memory_share_from", "must be a number between 0 and 1");
}

core::IpBlocklist network_list(const toml::table& root, std::string_view key) {
  core::IpBlocklist list;
  for (const auto& text : string_array(root, key, {})) {
    std::string why;
    auto net = core::IpNetwork::parse(text, &why);
    if (!net) bad(key, "\"" + text + "\" is not an address or network: " + why);
    list.add(*net);
  }
  return list;
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

}  // namespace

ServerConfig read_server_config(const toml::table& root, const std::filesystem::path& base_dir) {
  ServerConfig c;
  c.common = core::read_common_config(root, base_dir);
  c.run_as = core::read_run_as(root);
  auto path_opt = [&](std::string_view key, const std::filesystem::path& def) {
    std::filesystem::path p = core::get_string(root, kSection, key, def.string());
    if (!p.empty() && p.is_relative() && !base_dir.empty()) p = base_dir / p;
    return p;
  };
  c.listen = listen_array(root, "listen", c.listen);
  c.plain_listen = listen_array(root, "plain_listen", c.plain_listen);
  c.plain_allow_remote = core::get_bool(root, kSection, "plain_allow_remote", c.plain_allow_remote);
  if (!c.plain_allow_remote)
    for (const auto& l : c.plain_listen)
      if (!is_loopback(l.host))
        bad("plain_listen",
            l.to_string() + " is not a loopback address (set plain_allow_remote = true to allow it)");
  if (c.listen.empty() && c.plain_listen.empty()) bad("listen", "no listener configured");
  c.tls_cert = path_opt("tls_cert", c.tls_cert);
  c.tls_key = path_opt("tls_key", c.tls_key);
  c.tls_client_ca = path_opt("tls_client_ca", c.tls_client_ca);
  c.tls_require_client_cert =
      core::get_bool(root, kSection, "tls_require_client_cert", c.tls_require_client_cert);
  if (c.tls_require_client_cert && c.tls_client_ca.empty())
    bad("tls_require_client_cert", "needs tls_client_ca (the CA that signs sensor certificates)");
  c.tls_min_version = core::get_string(root, kSection, "tls_min_version", c.tls_min_version);
  if (c.tls_min_version != "1.2" && c.tls_min_version != "1.3")
    bad("tls_min_version", "must be \"1.2\" or \"1.3\"");
  c.tls_ciphers = core::get_string(root, kSection, "tls_ciphers", c.tls_ciphers);
  if (!valid_tls12_cipher_list(c.tls_ciphers))
    bad("tls_ciphers", "\"" + c.tls_ciphers + "\" names no cipher suite OpenSSL knows");
  c.default_accepted_types = int_array(root, "accepted_types", c.default_accepted_types, 1, 254);
  c.default_accepted_extended_types =
      string_array(root, "accepted_extended_types", c.default_accepted_extended_types);

  auto& r = c.runtime;
  std::string mode = core::get_string(root, kSection, "mode", std::string(core::to_string(r.mode)));
  auto m = core::parse_server_mode(mode);
  if (!m) bad("mode", "must be \"registration\" or \"shared-secret\"");
  r.mode = *m;
  r.default_hmac_key = core::get_secret(root, kSection, "default_hmac_key", r.default_hmac_key);
  if (r.default_hmac_key.empty()) bad("default_hmac_key", "must not be empty");
  r.accept_any_version = core::get_bool(root, kSection, "accept_any_version", r.accept_any_version);
  r.max_payload = static_cast<std::uint32_t>(int_in(root, "max_payload", r.max_payload, 0, 0xFFFFFFFFLL));
  r.default_backlog = int_in(root, "default_backlog", r.default_backlog, 1, 1LL << 40);
  r.handshake_timeout = seconds_opt(root, "handshake_timeout", r.handshake_timeout);
  r.unidentified_timeout = seconds_opt(root, "unidentified_timeout", r.unidentified_timeout);
  r.idle_timeout = seconds_opt(root, "idle_timeout", r.idle_timeout);
  r.header_timeout = seconds_opt(root, "header_timeout", r.header_timeout);
  r.packet_timeout = seconds_opt(root, "packet_timeout", r.packet_timeout);
  r.max_clock_skew = seconds_opt(root, "max_clock_skew", r.max_clock_skew);
  r.rate_limit = static_cast<std::uint64_t>(int_in(root, "rate_limit", 0, 0, 1LL << 50));
  r.rate_limit_burst = static_cast<std::uint64_t>(int_in(root, "rate_limit_burst", 0, 0, 1LL << 50));
  r.max_connections = static_cast<std::size_t>(
      int_in(root, "max_connections", static_cast<long long>(r.max_connections), 1, 10'000'000));
  r.max_connections_per_ip = static_cast<std::size_t>(int_in(
      root, "max_connections_per_ip", static_cast<long long>(r.max_connections_per_ip), 0, 10'000'000));
  r.redis_outage_close_after = seconds_opt(root, "redis_outage_close_after", r.redis_outage_close_after);
  r.error_list_size = static_cast<std::size_t>(
      int_in(root, "error_list_size", static_cast<long long>(r.error_list_size), 1, 10'000));
  r.unauthenticated_bytes_max =
      static_cast<std::size_t>(int_in(root, "unauthenticated_bytes_max",
                                      static_cast<long long>(r.unauthenticated_bytes_max), 65536, 1LL << 40));
  r.unauthenticated_bytes_per_ip = static_cast<std::size_t>(
      int_in(root, "unauthenticated_bytes_per_ip", static_cast<long long>(r.unauthenticated_bytes_per_ip),
             65536, 1LL << 40));
  r.reject_sources_max = static_cast<std::size_t>(
      int_in(root, "reject_sources_max", static_cast<long long>(r.reject_sources_max), 1, 100'000));
  r.auto_blocked_ips_max = static_cast<std::size_t>(
      int_in(root, "auto_blocked_ips_max", static_cast<long long>(r.auto_blocked_ips_max), 0, 10'000'000));
  // A sensor's first packet is unauthenticated until it is complete: the largest one must fit.
  if (r.unauthenticated_bytes_per_ip < std::size_t{r.max_payload} + 62)
    bad("unauthenticated_bytes_per_ip",
        "must hold at least one packet of max_payload bytes plus its 62-byte header (" +
            std::to_string(std::size_t{r.max_payload} + 62) + ")");
  if (r.unauthenticated_bytes_max < r.unauthenticated_bytes_per_ip)
    bad("unauthenticated_bytes_max", "must be at least unauthenticated_bytes_per_ip");
  read_admission_options(root, r);
  r.proxy_protocol_from = network_list(root, "proxy_protocol_from");

  c.read_size = static_cast<std::size_t>(
      int_in(root, "read_size", static_cast<long long>(c.read_size), 1024, 16 << 20));
  c.max_session_pending_bytes = static_cast<std::size_t>(
      int_in(root, "max_session_pending_bytes", static_cast<long long>(c.max_session_pending_bytes),
             64 * 1024, 1LL << 32));
  c.coalesce_max_bytes = static_cast<std::size_t>(
      int_in(root, "coalesce_max_bytes", static_cast<long long>(c.coalesce_max_bytes), 0, 16 << 20));
  c.wait_replicas = static_cast<int>(int_in(root, "wait_replicas", c.wait_replicas, 0, 1000));
  c.wait_timeout =
      std::chrono::milliseconds(int_in(root, "wait_timeout_ms", c.wait_timeout.count(), 1, 600'000));
  c.flush_interval =
      std::chrono::milliseconds(int_in(root, "flush_interval_ms", c.flush_interval.count(), 10, 60'000));
  c.policy_refresh =
      std::chrono::milliseconds(int_in(root, "policy_refresh_ms", c.policy_refresh.count(), 50, 60'000));
  c.sweep_interval =
      std::chrono::milliseconds(int_in(root, "sweep_interval_ms", c.sweep_interval.count(), 10, 10'000));
  c.memory_poll = std::chrono::milliseconds(int_in(root, "memory_poll_ms", c.memory_poll.count(), 0, 60'000));
  c.redis_reply_timeout = std::chrono::milliseconds(
      int_in(root, "redis_reply_timeout_ms", c.redis_reply_timeout.count(), 100, 600'000));
  if (c.wait_replicas > 0 && c.wait_timeout >= c.redis_reply_timeout)
    bad("wait_timeout_ms", "must be shorter than redis_reply_timeout_ms (a WAIT blocks its connection)");
  c.shutdown_timeout = seconds_opt(root, "shutdown_timeout", c.shutdown_timeout);
  c.heartbeat_interval =
      std::chrono::seconds(int_in(root, "heartbeat_interval", c.heartbeat_interval.count(), 1, 3600));
  c.instance_ttl = std::chrono::seconds(int_in(root, "instance_ttl", c.instance_ttl.count(), 2, 86400));
  if (c.instance_ttl <= c.heartbeat_interval) bad("instance_ttl", "must be longer than heartbeat_interval");
  c.metrics_listen = core::get_string(root, kSection, "metrics_listen", c.metrics_listen);
  if (!c.metrics_listen.empty()) {
    try {
      parse_listen_address(c.metrics_listen);
    } catch (const ConfigError& e) {
      bad("metrics_listen", e.what());
    }
  }
  c.threads = static_cast<unsigned>(int_in(root, "threads", 0, 0, 256));
  c.keepalive_idle = static_cast<int>(int_in(root, "keepalive_idle", c.keepalive_idle, 1, 86400));
  c.keepalive_interval = static_cast<int>(int_in(root, "keepalive_interval", c.keepalive_interval, 1, 3600));
  c.keepalive_count = static_cast<int>(int_in(root, "keepalive_count", c.keepalive_count, 1, 100));
  return c;
}

ServerConfig load_server_config(const std::filesystem::path& file) {
  auto root = core::load_config(file);
  auto c = read_server_config(root, file.parent_path());
  c.config_file = file;
  return c;
}

}  // namespace d4::server
