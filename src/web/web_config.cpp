#include "web/web_config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "alerts/channel_names.hpp"
#include "core/listen_address.hpp"
#include "core/organisations.hpp"
#include "core/sensors.hpp"
#include "protocol/text.hpp"

namespace d4::web {

std::pair<std::string, std::uint16_t> split_listen(const std::string& listen) {
  core::ListenAddress a;
  try {
    a = core::parse_listen_address(listen);
  } catch (const core::ConfigError& e) {
    throw core::ConfigError(std::string("[web] listen: ") + e.what());
  }
  if (listen.starts_with(':')) a.host = "127.0.0.1";  // without a host: loopback, as before
  return {a.host, a.port};
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
  // Built from the meta endpoint itself (not its text) so that a meta password carries over.
  c.backscatter_redis =
      core::get_endpoint(root, "web", "backscatter_redis",
                         core::get_endpoint(root, kPibs, "results_redis",
                                            c.common.redis.meta_database(core::keys::Database::PibsResults)));
  c.backscatter_prefix = core::get_string(root, "web", "backscatter_key_prefix",
                                          core::get_string(root, kPibs, "key_prefix", c.backscatter_prefix));
  c.backscatter_bucket_seconds = core::get_int(root, kPibs, "bucket_seconds", c.backscatter_bucket_seconds);
  if (c.backscatter_bucket_seconds <= 0) c.backscatter_bucket_seconds = 60;
}
std::size_t positive_size(const toml::table& root, std::string_view key, std::size_t def) {
  return static_cast<std::size_t>(positive(root, key, static_cast<long long>(def)));
}
std::chrono::milliseconds positive_seconds(const toml::table& root, std::string_view key,
                                           std::chrono::milliseconds def) {
  return std::chrono::seconds(positive(root, key, def.count() / 1000));
}
int prefix_in(const toml::table& root, std::string_view key, int def, int max) {
  long long v = core::get_int(root, "web", key, def);
  if (v < 1 || v > max)
    throw core::ConfigError("[web] " + std::string(key) + " must be 1.." + std::to_string(max));
  return static_cast<int>(v);
}
void read_trusted_proxies(const toml::table& root, WebConfig& c) {
  for (const auto& text : core::get_string_list(root, "web", "trusted_proxies", {})) {
    std::string error;
    auto net = core::IpNetwork::parse(text, &error);
    if (!net) throw core::ConfigError("[web] trusted_proxies: \"" + text + "\": " + error);
    c.trusted_proxies.push_back(*net);
  }
  c.trusted_proxy_header = core::get_string(root, "web", "trusted_proxy_header", c.trusted_proxy_header);
  const std::string h = text::ascii_lower(c.trusted_proxy_header);
  if (h != "x-forwarded-for" && h != "forwarded")
    throw core::ConfigError("[web] trusted_proxy_header must be \"X-Forwarded-For\" or \"Forwarded\"");
}
// Budgets against abuse of the login, the registration endpoint, tokens and connections.
void read_budgets(const toml::table& root, WebConfig& c) {
  c.login_delay_max = std::chrono::seconds(positive(root, "login_delay_max", c.login_delay_max.count()));
  c.login_source_max_failures = positive(root, "login_source_max_failures", c.login_source_max_failures);
  c.max_concurrent_password_checks =
      positive_size(root, "max_concurrent_password_checks", c.max_concurrent_password_checks);
  const auto cost_name = core::get_string(root, "web", "password_hash", "interactive");
  const auto cost = parse_password_hash_cost(cost_name);
  if (!cost)
    throw core::ConfigError(
        "[web] password_hash must be \"interactive\", \"moderate\", \"sensitive\" or "
        "\"minimum\" (test instances only), not \"" +
        cost_name + "\"");
  c.password_hash = *cost;
  read_trusted_proxies(root, c);
  c.user_block_min_prefix_v4 = prefix_in(root, "user_block_min_prefix_v4", c.user_block_min_prefix_v4, 32);
  c.user_block_min_prefix_v6 = prefix_in(root, "user_block_min_prefix_v6", c.user_block_min_prefix_v6, 128);
  c.max_pending_registrations = positive(root, "max_pending_registrations", c.max_pending_registrations);
  c.max_pending_registrations_per_organisation = positive(root, "max_pending_registrations_per_organisation",
                                                          c.max_pending_registrations_per_organisation);
  c.max_grants_per_organisation =
      positive(root, "max_grants_per_organisation", c.max_grants_per_organisation);
  c.grant_audit_max_entries = positive(root, "grant_audit_max_entries", c.grant_audit_max_entries);
  c.max_description_length = positive_size(root, "max_description_length", c.max_description_length);
  c.sensor_registration = core::get_string(root, "web", "sensor_registration", c.sensor_registration);
  if (c.sensor_registration != "off" && c.sensor_registration != "admin-approval" &&
      c.sensor_registration != "org-approval")
    throw core::ConfigError(
        "[web] sensor_registration must be \"off\", \"admin-approval\" or \"org-approval\"");
  c.max_tokens_per_user = positive_size(root, "max_tokens_per_user", c.max_tokens_per_user);
  c.max_connections = positive_size(root, "max_connections", c.max_connections);
  c.max_connections_per_ip = static_cast<std::size_t>(
      std::max<long long>(0, core::get_int(root, "web", "max_connections_per_ip",
                                           static_cast<long long>(c.max_connections_per_ip))));
  c.header_timeout = positive_seconds(root, "header_timeout", c.header_timeout);
  c.body_timeout = positive_seconds(root, "body_timeout", c.body_timeout);
  c.idle_timeout = positive_seconds(root, "idle_timeout", c.idle_timeout);
}
// The default organisation: [web] default_organisation_*, else the organisation that publishes
// the MISP feed ([sharing.misp] org_name, org_uuid), so that both name the same organisation.
void read_default_organisation(const toml::table& root, WebConfig& c) {
  auto name = core::get_string(root, "web", "default_organisation_name", "");
  auto uuid = core::get_string(root, "web", "default_organisation_uuid", "");
  if (name.empty()) name = core::get_string(root, "sharing.misp", "org_name", "");
  if (uuid.empty()) uuid = core::get_string(root, "sharing.misp", "org_uuid", "");
  if (!name.empty()) c.default_org_name = name;
  if (auto why = core::organisation_name_violation(c.default_org_name))
    throw core::ConfigError("[web] default_organisation_name: " + *why);
  if (!uuid.empty() && !core::normalize_sensor_uuid(uuid))
    throw core::ConfigError("[web] default_organisation_uuid is not a UUID: " + uuid);
  c.default_org_uuid = uuid;
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
  c.admin_password = core::get_secret(root, "web", "admin_password", "");
  c.session_ttl = std::chrono::seconds(positive(root, "session_ttl", c.session_ttl.count()));
  c.login_max_failures = positive(root, "login_max_failures", c.login_max_failures);
  c.login_failure_window =
      std::chrono::seconds(positive(root, "login_failure_window", c.login_failure_window.count()));
  read_budgets(root, c);
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
  long long max_rules = core::get_int(root, "alerts", "max_rules", static_cast<long long>(c.alert_max_rules));
  if (max_rules < 1) throw core::ConfigError("option alerts.max_rules must be at least 1");
  c.alert_max_rules = static_cast<std::size_t>(max_rules);
  c.alert_channels = alerts::all_channel_names(root);
  c.org_channel_policy = alerts::read_org_channel_policy(root);
  read_default_organisation(root, c);
  std::filesystem::path feed = core::get_string(root, "sharing.misp", "feed_dir", "misp-feed");
  c.misp_feed_dir = feed.is_absolute() ? feed : c.common.data_dir / feed;
  return c;
}

}  // namespace d4::web
