#pragma once
// The [web] section of the configuration file, plus the shared [general]/[redis] sections.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "alerts/org_channels.hpp"
#include "core/config.hpp"
#include "core/ipnet.hpp"
#include "core/keys.hpp"
#include "web/auth/security.hpp"

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
  // Login throttling: failures per (user, source) before each further failure costs a delay that
  // doubles from 1 s up to login_delay_max; failures are forgotten after login_failure_window
  // without any. A source (IPv4 address, IPv6 /64) failing for any users gets the same
  // treatment after login_source_max_failures. API token failures: login_max_failures per source
  // in the window (the reference's rule).
  long long login_max_failures = 5;
  std::chrono::seconds login_failure_window{300};
  std::chrono::seconds login_delay_max{300};
  long long login_source_max_failures = 20;
  std::size_t max_concurrent_password_checks = 2;  // Argon2id verifications at once (64 MiB each)
  PasswordHashCost password_hash = PasswordHashCost::Interactive;  // new hashes; others re-hashed at login
  // Reverse proxies whose forwarding header names the client (docs/web.md); empty: the socket peer.
  std::vector<core::IpNetwork> trusted_proxies;
  std::string trusted_proxy_header = "X-Forwarded-For";  // or "Forwarded" (RFC 7239)
  // The widest networks the user role may block; wider ones need an admin, /0 nobody.
  int user_block_min_prefix_v4 = 24;
  int user_block_min_prefix_v6 = 48;
  long long max_pending_registrations = 1000;
  // Self-service registrations pending for one organisation (within the total above).
  long long max_pending_registrations_per_organisation = 100;
  // Queues one organisation grants others (docs/web.md#queue-grants), and the audit trail kept.
  long long max_grants_per_organisation = 100;
  long long grant_audit_max_entries = 10000;
  // Who approves a sensor that an organisation's user registers (docs/web.md#self-service-sensor-
  // registration): "off", "admin-approval" or "org-approval".
  std::string sensor_registration = "admin-approval";
  std::size_t max_description_length = 1000;
  std::size_t max_tokens_per_user = 10;
  // The HTTP server's budgets (core::http::ServerOptions).
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_ip = 32;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t handler_threads = 4;
  std::string ingest_metrics_url;  // http://host:port/metrics of d4-server ([server] metrics_listen)
  long long queue_default_max_size = 100000000;  // [queues] default_max_size (reference default)
  std::string server_mode = "registration";      // [server] mode, shown on the server page
  // Where d4-pibs writes its per-victim backscatter results (read-only here). Defaults follow
  // [analyzers.pibs] results_redis / key_prefix, which default to the meta host db 4 and "pibs:".
  core::RedisEndpoint backscatter_redis{"127.0.0.1", 6380, {}, 4, {}};
  std::string backscatter_prefix{core::keys::kPibsDefaultPrefix};
  std::int64_t backscatter_bucket_seconds = 60;  // [analyzers.pibs] bucket_seconds: chart step for 1 bucket

  // Alert rules ([alerts] max_rules, shared with d4-alerts) and the names of the notification
  // channels configured for d4-alerts ([alerts.webhook.<name>], [alerts.email.<name>]); only the
  // names are read: rules naming another channel are refused when any is configured here.
  std::size_t alert_max_rules = 200;
  // The default organisation, created at the first start ([web] default_organisation_*, else the
  // MISP feed's publishing organisation); an empty UUID: a random one.
  std::string default_org_name = "Default organisation";
  // Where d4-misp-feed writes each organisation's feed ([sharing.misp] feed_dir), served per
  // organisation at /api/v1/misp-feed/.
  std::filesystem::path misp_feed_dir;
  std::string default_org_uuid;
  std::vector<std::string> alert_channels;
  // What organisations' own channels may be ([alerts] org_webhook_allow_http, max_org_channels,
  // [alerts.org_email]): checked when an organisation's administrator sets one.
  alerts::OrgChannelPolicy org_channel_policy;

  bool https() const { return !tls_cert.empty() && !tls_key.empty(); }
};

// Reads the whole configuration; relative paths are resolved against base_dir (the config
// file's directory). Throws core::ConfigError on invalid values.
WebConfig read_web_config(const toml::table& root, const std::filesystem::path& base_dir);

// Splits "host:port" / "[v6]:port"; throws core::ConfigError when malformed.
std::pair<std::string, std::uint16_t> split_listen(const std::string& listen);

}  // namespace d4::web
