#include "workers/worker_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "core/cli.hpp"
#include "core/listen_address.hpp"
#include "workers/handlers/registry.hpp"
#include "workers/ipfix/config.hpp"

namespace d4::workers {
namespace {

constexpr std::string_view kSection = "workers";
using core::get_bool;
using core::get_int;
using core::get_string;

// Types to serve; 254 data is handled by the type-2 worker of its session. Throws `Error`.
template <typename Error>
std::vector<int> checked_types(const std::vector<long long>& wanted, std::string_view origin) {
  std::vector<int> out;
  for (long long t : wanted) {
    int type = t == 254 ? 2 : static_cast<int>(t);
    if (t < 1 || t > 254 || !has_session_handler(static_cast<protocol::PacketType>(type)))
      throw Error(std::string(origin) + ": no worker for type " + std::to_string(t));
    if (std::find(out.begin(), out.end(), type) == out.end()) out.push_back(type);
  }
  return out;
}

std::vector<long long> all_registered_types() {
  std::vector<long long> out;
  for (auto type : registered_types()) out.push_back(static_cast<long long>(type));
  return out;
}

std::vector<long long> parse_type_list(const std::string& text) {
  std::vector<long long> out;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    if (part.empty()) continue;
    try {
      out.push_back(std::stoll(part));
    } catch (const std::exception&) {
      throw core::cli::UsageError("--types: \"" + part + "\" is not a type number");
    }
  }
  return out;
}

RetentionRule read_rule(const toml::table& root, const std::string& section, const RetentionRule& def) {
  RetentionRule r = def;
  r.max_age_seconds = get_int(root, section, "max_age_days", def.max_age_seconds / 86400) * 86400;
  r.max_bytes = static_cast<std::uint64_t>(
      get_int(root, section, "max_total_bytes", static_cast<long long>(def.max_bytes)));
  return r;
}

RetentionPolicy read_retention(const toml::table& root) {
  RetentionPolicy retention;
  retention.all_types = read_rule(root, "workers.retention", {});
  if (auto* per = core::get_table(root, "workers.retention.types"))
    for (const auto& [k, v] : *per)
      if (v.is_table())
        retention.per_type[std::string(k.str())] =
            read_rule(root, "workers.retention.types." + std::string(k.str()), retention.all_types);
  return retention;
}

WorkerSettings read_settings(const toml::table& root, const WorkerOverrides& o,
                             const core::CommonConfig& common, const std::filesystem::path& base) {
  WorkerSettings s;
  std::string archive = o.archive_dir.empty() ? get_string(root, kSection, "archive_dir", "") : o.archive_dir;
  s.archive_root = archive.empty() ? common.data_dir / "archive" : std::filesystem::path(archive);
  if (s.archive_root.is_relative() && !base.empty() && o.archive_dir.empty() && !archive.empty())
    s.archive_root = base / s.archive_root;
  s.archive_root = std::filesystem::absolute(s.archive_root);
  s.utc_paths = get_bool(root, kSection, "utc_paths", false);
  s.rotation.max_seconds = get_int(root, kSection, "rotate_seconds", 300);
  s.rotation.max_bytes = static_cast<std::uint64_t>(get_int(root, kSection, "rotate_bytes", 256ll << 20));
  std::string comp = get_string(root, kSection, "compression", "gzip");
  if (!parse_compression(comp, s.compression))
    throw core::ConfigError(core::where_set(root, kSection, "compression") +
                            "option workers.compression must be gzip, zstd or none");
  s.compression_level = static_cast<int>(
      get_int(root, kSection, "compression_level", s.compression == Compression::Zstd ? 3 : 6));
  s.max_record_bytes = static_cast<std::size_t>(get_int(root, kSection, "max_record_bytes", 1 << 20));
  s.max_file_record_bytes =
      static_cast<std::size_t>(get_int(root, kSection, "max_file_record_bytes", 64 << 20));
  s.max_pcap_snaplen = static_cast<std::uint32_t>(get_int(root, kSection, "max_pcap_snaplen", 1 << 20));
  s.max_pcapng_block = static_cast<std::uint32_t>(get_int(root, kSection, "max_pcapng_block", 16 << 20));
  return s;
}

RunnerOptions read_runner_options(const toml::table& root, const WorkerOverrides& o) {
  RunnerOptions r;
  r.lease =
      std::chrono::milliseconds(o.lease_ms > 0 ? o.lease_ms : get_int(root, kSection, "lease_ms", 30000));
  r.max_sessions = static_cast<std::size_t>(get_int(root, kSection, "max_sessions", 256));
  r.read_count = static_cast<std::size_t>(get_int(root, kSection, "read_count", 256));
  r.block = std::chrono::milliseconds(get_int(root, kSection, "block_ms", 200));
  r.default_queue_max_size = get_int(root, "queues", "default_max_size", 100'000'000);
  r.commit_delay = std::chrono::milliseconds(o.commit_delay_ms);
  r.fail_marker = o.fail_marker;
  r.failure_cooldown = std::chrono::milliseconds(get_int(root, kSection, "failure_retry_ms", 5000));
  r.max_session_failures = get_int(root, kSection, "max_session_failures", 3);
  if (r.max_session_failures < 1)
    throw core::ConfigError(core::where_set(root, kSection, "max_session_failures") +
                            "option workers.max_session_failures must be at least 1");
  r.dead_letter.max_bytes =
      static_cast<std::uint64_t>(get_int(root, kSection, "dead_letter_max_bytes", 256ll << 20));
  r.dead_letter.max_sessions =
      static_cast<std::size_t>(get_int(root, kSection, "dead_letter_max_sessions", 100));
  return r;
}

std::string default_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

RedisEndpoints endpoints(const WorkerOverrides& o, const core::RedisConfig& redis) {
  using core::cli::endpoint_argument_or;
  return {endpoint_argument_or(o.stream, redis.stream, "--stream"),
          endpoint_argument_or(o.meta, redis.meta, "--meta"),
          endpoint_argument_or(o.analyzer, redis.analyzer, "--analyzer")};
}

}  // namespace

WorkerConfig load_worker_config(const WorkerOverrides& o) {
  std::filesystem::path base =
      o.config_path.empty() ? std::filesystem::path() : std::filesystem::path(o.config_path).parent_path();
  const toml::table root = core::load_config(o.config_path);
  WorkerConfig c;
  c.common = core::read_common_config(root, base);
  c.run_as = core::read_run_as(root);
  if (!o.log_level.empty()) c.common.log.level = o.log_level;
  c.settings = read_settings(root, o, c.common, base);
  c.settings.ipfix = ipfix::read_settings(root, c.warnings);
  if (!o.types.empty())
    c.types = checked_types<core::cli::UsageError>(parse_type_list(o.types), "--types");
  else
    c.types =
        checked_types<core::ConfigError>(core::get_int_list(root, kSection, "types", all_registered_types()),
                                         core::where_set(root, kSection, "types") + "option workers.types");
  c.threads_per_type = o.threads_per_type > 0
                           ? o.threads_per_type
                           : static_cast<int>(get_int(root, kSection, "threads_per_type", 1));
  c.name = !o.name.empty() ? o.name : get_string(root, kSection, "name", "");
  if (c.name.empty()) c.name = default_name();
  c.endpoints = endpoints(o, c.common.redis);
  c.runner = read_runner_options(root, o);
  c.runner.layout = c.common.redis.layout;
  c.compress_threads = static_cast<int>(get_int(root, kSection, "compress_threads", 1));
  c.retention = read_retention(root);
  c.retention_interval = std::chrono::seconds(get_int(root, kSection, "retention_interval_seconds", 3600));
  c.monitor_interval = std::chrono::seconds(get_int(root, kSection, "monitor_interval_seconds", 10));
  c.metrics_listen =
      !o.metrics_listen.empty() ? o.metrics_listen : get_string(root, kSection, "metrics_listen", "");
  if (!c.metrics_listen.empty()) core::parse_listen_address(c.metrics_listen);  // ConfigError naming it
  return c;
}

}  // namespace d4::workers
