#include "sharing/misp_feed/config.hpp"

#include "analyzers/common/app.hpp"
#include "analyzers/pdns/query.hpp"
#include "analyzers/tls/passivessl.hpp"
#include "core/keys.hpp"
#include "protocol/uuid.hpp"

namespace d4::sharing::misp {
namespace {

constexpr std::string_view kSection = "sharing.misp";

std::string option(std::string_view sub, std::string_view key) {
  std::string s = "[" + std::string(kSection);
  if (!sub.empty()) s += "." + std::string(sub);
  return s + "] " + std::string(key);
}

std::string section(std::string_view sub) {
  return sub.empty() ? std::string(kSection) : std::string(kSection) + "." + std::string(sub);
}

long long bounded(const toml::table& root, std::string_view sub, std::string_view key, long long def,
                  long long lo, long long hi) {
  long long v = core::get_int(root, section(sub), key, def);
  if (v < lo || v > hi)
    throw core::ConfigError(option(sub, key) + " must be " + std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

std::size_t count(const toml::table& root, std::string_view sub, std::string_view key, std::size_t def) {
  return static_cast<std::size_t>(bounded(root, sub, key, static_cast<long long>(def), 1, 100000000));
}

// A result store as its analyzer reads it (its password may come from <key>_password_file).
core::RedisEndpoint endpoint(const toml::table& root, std::string_view analyzer_section, std::string_view key,
                             const core::RedisEndpoint& def) {
  return core::get_endpoint(root, analyzer_section, key, def);
}

void read_organisation(const toml::table& root, FeedConfig& c) {
  c.organisation.name = core::get_string(root, kSection, "org_name", "");
  std::string uuid = core::get_string(root, kSection, "org_uuid", "");
  if (c.organisation.name.empty() || uuid.empty())
    throw core::ConfigError(option("", "org_name") + " and " + option("", "org_uuid") +
                            " are required: the organisation that publishes the feed, as MISP knows it");
  auto parsed = protocol::Uuid::parse(uuid);
  if (!parsed || parsed->is_nil())
    throw core::ConfigError(option("", "org_uuid") + " is not a UUID: " + uuid);
  c.organisation.uuid = parsed->dashed();
}

void read_general(const toml::table& root, FeedConfig& c) {
  std::filesystem::path dir = core::get_string(root, kSection, "feed_dir", "misp-feed");
  c.feed_dir = dir.is_absolute() ? dir : c.common.data_dir / dir;
  c.tags = analyzers::get_string_array(root, kSection, "tags");
  auto kinds = analyzers::get_string_array(root, kSection, "kinds");
  if (core::get_table(root, kSection) && core::get_table(root, kSection)->get("kinds")) {
    c.kinds.clear();
    for (const auto& k : kinds) {
      auto kind = parse_kind(k);
      if (!kind)
        throw core::ConfigError(option("", "kinds") + ": unknown kind \"" + k +
                                "\" (backscatter, passive-dns, passive-ssl)");
      c.kinds.insert(*kind);
    }
  }
  std::string period = core::get_string(root, kSection, "period", "day");
  if (period == "day")
    c.period_seconds = 86400;
  else if (period == "hour")
    c.period_seconds = 3600;
  else
    throw core::ConfigError(option("", "period") + " must be \"day\" or \"hour\"");
  c.lookback_periods = bounded(root, "", "lookback_periods", 2, 1, 10000);
  c.interval = std::chrono::seconds(bounded(root, "", "interval_seconds", 3600, 1, 7 * 86400));
  c.max_attributes_per_event = count(root, "", "max_attributes_per_event", 5000);
  c.threat_level_id = static_cast<int>(bounded(root, "", "threat_level_id", 4, 1, 4));
  c.distribution = static_cast<int>(bounded(root, "", "distribution", 0, 0, 3));
  c.published = core::get_bool(root, kSection, "published", true);
  c.sensor_tags = core::get_bool(root, kSection, "sensor_tags", true);
  c.max_sensors = count(root, "", "max_sensors", 100000);
  c.sensor_scan_max_keys =
      static_cast<std::uint64_t>(bounded(root, "", "sensor_scan_max_keys", 10000000, 0, 1000000000000LL));
  c.max_organisations = count(root, "", "max_organisations", 100);
  c.max_tags_per_event = count(root, "", "max_tags_per_event", 50);
}

void read_sources(const toml::table& root, FeedConfig& c) {
  auto& b = c.backscatter;
  b.redis = endpoint(root, "analyzers.pibs", "results_redis",
                     c.common.redis.meta_database(core::keys::Database::PibsResults));
  b.prefix =
      core::get_string(root, "analyzers.pibs", "key_prefix", std::string(core::keys::kPibsDefaultPrefix));
  b.bucket_seconds = core::get_int(root, "analyzers.pibs", "bucket_seconds", 60);
  if (b.bucket_seconds <= 0) b.bucket_seconds = 60;
  b.min_packets = static_cast<std::uint64_t>(bounded(root, "backscatter", "min_packets", 1, 1, 1LL << 40));
  b.max_ports = count(root, "backscatter", "max_ports", 20);
  b.max_victims_scanned = count(root, "backscatter", "max_victims_scanned", 200000);

  auto& d = c.passive_dns;
  d.redis = endpoint(root, "analyzers.pdns", "backend",
                     *core::RedisEndpoint::parse(analyzers::pdns::kDefaultBackend));
  d.origin = core::get_string(root, "analyzers.pdns", "origin", "");
  d.watch = analyzers::get_string_array(root, section("passive_dns"), "watch");
  d.max_records_per_watch = count(root, "passive_dns", "max_records_per_watch", 1000);

  auto& s = c.passive_ssl;
  s.redis = endpoint(root, "analyzers.tls", "storage",
                     *core::RedisEndpoint::parse(analyzers::tls::keys::kDefaultStorage));
  s.prefix = core::get_string(root, "analyzers.tls", "key_prefix",
                              std::string(analyzers::tls::keys::kDefaultPrefix));
  s.include_raw_certificates =
      core::get_bool(root, section("passive_ssl"), "include_raw_certificates", false);
  s.max_scanned = count(root, "passive_ssl", "max_scanned", 100000);
  s.max_ja3s_per_ja3 = count(root, "passive_ssl", "max_ja3s_per_ja3", 20);
}

}  // namespace

std::string_view to_string(Kind k) {
  switch (k) {
    case Kind::Backscatter:
      return "backscatter";
    case Kind::PassiveDns:
      return "passive-dns";
    case Kind::PassiveSsl:
      return "passive-ssl";
  }
  return "?";
}

std::optional<Kind> parse_kind(std::string_view text) {
  for (Kind k : {Kind::Backscatter, Kind::PassiveDns, Kind::PassiveSsl})
    if (to_string(k) == text) return k;
  return std::nullopt;
}

FeedConfig read_feed_config(const toml::table& root, const core::CommonConfig& common) {
  FeedConfig c;
  c.common = common;
  read_organisation(root, c);
  read_general(root, c);
  read_sources(root, c);
  return c;
}

}  // namespace d4::sharing::misp
