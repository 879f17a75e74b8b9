#pragma once
// [sharing.misp] of the D4 configuration (docs/configuration.md#sharingmisp-d4-misp-feed): what
// the MISP feed exporter publishes, for whom, how often and within which bounds. The result stores
// it reads are the analyzers' own settings ([analyzers.pibs] results_redis / key_prefix /
// bucket_seconds, [analyzers.pdns] backend / origin, [analyzers.tls] storage / key_prefix), so one
// file wires the analyzers and their export.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "core/config.hpp"
#include "core/redis_endpoint.hpp"
#include "sharing/misp_feed/event.hpp"

namespace d4::sharing::misp {

enum class Kind { Backscatter, PassiveDns, PassiveSsl };
std::string_view to_string(Kind k);  // "backscatter", "passive-dns", "passive-ssl"
std::optional<Kind> parse_kind(std::string_view text);

struct BackscatterSource {
  core::RedisEndpoint redis;
  std::string prefix;
  std::int64_t bucket_seconds = 60;  // d4-pibs's series step: first/last seen precision
  std::uint64_t min_packets = 1;     // per victim and period (the ddos object's backscatter-threshold)
  std::size_t max_ports = 20;        // attacked ports listed per victim, most hit first
  std::size_t max_victims_scanned = 200000;
};

struct PassiveDnsSource {
  core::RedisEndpoint redis;
  std::string origin;              // the COF origin URI, when configured
  std::vector<std::string> watch;  // names and addresses whose records are exported
  std::size_t max_records_per_watch = 1000;
};

struct PassiveSslSource {
  core::RedisEndpoint redis;
  std::string prefix;
  bool include_raw_certificates = false;  // the x509 object's raw-base64 (about 1-2 KB each)
  std::size_t max_scanned = 100000;       // certificates and fingerprints read per period and kind
  std::size_t max_ja3s_per_ja3 = 20;
};

struct FeedConfig {
  core::CommonConfig common;       // [redis] meta: sensors' tags and meta headers, export counters
  std::filesystem::path feed_dir;  // one sub-directory per organisation uuid
  Organisation organisation;       // the default organisation (Orgc of the events)
  std::vector<std::string> tags;   // put on every event (e.g. tlp:green)
  std::set<Kind> kinds{Kind::Backscatter, Kind::PassiveDns, Kind::PassiveSsl};
  std::int64_t period_seconds = 86400;  // "day" or "hour", UTC
  std::int64_t lookback_periods = 2;    // periods exported again by each scheduled run
  std::chrono::seconds interval{3600};  // daemon mode
  std::size_t max_attributes_per_event = 5000;
  int threat_level_id = 4;
  int distribution = 0;
  bool published = true;
  bool sensor_tags = true;  // carry the sensors' machine tags (tlp:..., misp-galaxy:...) into events
  std::size_t max_sensors = 100000;
  // The reference layout's scan for sensors missing from the sensor index: keys examined at most
  // (0: the index alone). Unused in the cluster layout, which reads the index alone.
  std::uint64_t sensor_scan_max_keys = 10000000;
  std::size_t max_organisations = 100;
  std::size_t max_tags_per_event = 50;
  BackscatterSource backscatter;
  PassiveDnsSource passive_dns;
  PassiveSslSource passive_ssl;
};

// Reads the configuration; a relative feed_dir is under [general] data_dir.
// Throws core::ConfigError naming the option.
FeedConfig read_feed_config(const toml::table& root, const core::CommonConfig& common);

}  // namespace d4::sharing::misp
