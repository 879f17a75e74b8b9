// d4-worker: rebuilds, archives and queues the data of D4 sessions stored in Redis streams by
// d4-server (every type registered in workers/handlers/registry.cpp: 1, 2+254, 3 to 8). See docs/workers.md.
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "core/config.hpp"
#include "core/keys.hpp"
#include "core/metrics.hpp"
#include "core/stop_signal.hpp"
#include "workers/handlers/registry.hpp"
#include "workers/ipfix/config.hpp"
#include "workers/runner.hpp"
#include "workers/tasks.hpp"
#include "workers/worker_metrics.hpp"

namespace {

std::vector<int> parse_types(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    int t = std::stoi(part);
    if (t == 254) t = 2;  // 254 data is handled by the type-2 worker of the session
    if (t < 0 || t > 255 || !d4::workers::has_session_handler(static_cast<d4::protocol::PacketType>(t)))
      throw std::runtime_error("no worker for type " + part);
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

d4::core::RedisEndpoint endpoint(const std::string& text, const d4::core::RedisEndpoint& def) {
  if (text.empty()) return def;
  std::string err;
  auto e = d4::core::RedisEndpoint::parse(text, &err);
  if (!e) throw std::runtime_error("bad Redis endpoint \"" + text + "\": " + err);
  return *e;
}

d4::workers::RetentionRule read_rule(const toml::table& root, const std::string& section,
                                     const d4::workers::RetentionRule& def) {
  d4::workers::RetentionRule r = def;
  r.max_age_seconds = d4::core::get_int(root, section, "max_age_days", def.max_age_seconds / 86400) * 86400;
  r.max_bytes = static_cast<std::uint64_t>(
      d4::core::get_int(root, section, "max_total_bytes", static_cast<long long>(def.max_bytes)));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"D4 worker: rebuilds session streams per type, archives them and feeds analyzer queues"};
  std::string config_path, types_text, stream_ep, meta_ep, analyzer_ep, archive_dir, name, log_level;
  int threads_per_type = 0;
  long long commit_delay_ms = 0, lease_ms = 0;
  app.add_option("-c,--config", config_path,
                 "D4 configuration file (TOML): [general], [redis], [workers], [queues]");
  app.add_option("-t,--types", types_text, "types to serve, e.g. 1,3,8 (default: [workers] types, else all)");
  app.add_option("--stream", stream_ep, "stream Redis host:port/db (default 127.0.0.1:6379/0)");
  app.add_option("--meta", meta_ep, "metadata Redis (default 127.0.0.1:6380/0)");
  app.add_option("--analyzer", analyzer_ep, "analyzer-queue Redis (default 127.0.0.1:6380/2)");
  app.add_option("--archive-dir", archive_dir, "archive root (default <data_dir>/archive)");
  app.add_option("--name", name,
                 "stable worker name (default host:pid); a restarted worker with the same name resumes its "
                 "sessions at once instead of waiting for their leases to expire");
  app.add_option("--threads-per-type", threads_per_type, "session threads per type");
  app.add_option("--lease-ms", lease_ms, "session lease duration");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  std::string metrics_listen;
  app.add_option("--metrics-listen", metrics_listen,
                 "serve /metrics and /health on host:port (default: [workers] metrics_listen, else none)");
  app.add_option("--commit-delay-ms", commit_delay_ms, "testing: pause after every commit")->group("");
  std::string fail_marker;
  app.add_option("--fail-entries-containing", fail_marker,
                 "testing: processing fails on entries containing this text (fault injection)")
      ->group("");
  CLI11_PARSE(app, argc, argv);

  try {
    toml::table root;
    std::filesystem::path base;
    if (!config_path.empty()) {
      root = d4::core::load_toml_file(config_path);
      base = std::filesystem::path(config_path).parent_path();
    }
    auto common = d4::core::read_common_config(root, base);
    if (!log_level.empty()) common.log.level = log_level;
    d4::core::init_logging("d4-worker", common.log);
    using d4::core::get_bool;
    using d4::core::get_int;
    using d4::core::get_string;

    d4::workers::WorkerSettings settings;
    std::string archive = archive_dir.empty() ? get_string(root, "workers", "archive_dir", "") : archive_dir;
    settings.archive_root = archive.empty() ? common.data_dir / "archive" : std::filesystem::path(archive);
    if (settings.archive_root.is_relative() && !base.empty() && archive_dir.empty() && !archive.empty())
      settings.archive_root = base / settings.archive_root;
    settings.archive_root = std::filesystem::absolute(settings.archive_root);
    settings.utc_paths = get_bool(root, "workers", "utc_paths", false);
    settings.rotation.max_seconds = get_int(root, "workers", "rotate_seconds", 300);
    settings.rotation.max_bytes =
        static_cast<std::uint64_t>(get_int(root, "workers", "rotate_bytes", 256ll << 20));
    std::string comp = get_string(root, "workers", "compression", "gzip");
    if (!d4::workers::parse_compression(comp, settings.compression))
      throw d4::core::ConfigError("option workers.compression must be gzip, zstd or none");
    settings.compression_level =
        static_cast<int>(get_int(root, "workers", "compression_level",
                                 settings.compression == d4::workers::Compression::Zstd ? 3 : 6));
    settings.max_record_bytes =
        static_cast<std::size_t>(get_int(root, "workers", "max_record_bytes", 1 << 20));
    settings.max_file_record_bytes =
        static_cast<std::size_t>(get_int(root, "workers", "max_file_record_bytes", 64 << 20));
    settings.max_pcap_snaplen =
        static_cast<std::uint32_t>(get_int(root, "workers", "max_pcap_snaplen", 1 << 20));
    settings.max_pcapng_block =
        static_cast<std::uint32_t>(get_int(root, "workers", "max_pcapng_block", 16 << 20));
    std::vector<std::string> ipfix_warnings;
    settings.ipfix = d4::workers::ipfix::read_settings(root, ipfix_warnings);
    for (const auto& w : ipfix_warnings) spdlog::warn("{}", w);

    std::vector<int> types;
    if (!types_text.empty())
      types = parse_types(types_text);
    else if (auto* t = d4::core::get_table(root, "workers"); t && t->get("types")) {
      std::string joined;
      if (auto* arr = t->get("types")->as_array())
        for (const auto& v : *arr) joined += std::to_string(v.value<long long>().value_or(0)) + ",";
      types = parse_types(joined);
    } else {
      for (auto type : d4::workers::registered_types()) types.push_back(static_cast<int>(type));
    }
    if (threads_per_type <= 0)
      threads_per_type = static_cast<int>(get_int(root, "workers", "threads_per_type", 1));
    if (name.empty()) name = get_string(root, "workers", "name", "");
    if (name.empty()) {
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      name = std::string(host) + ":" + std::to_string(getpid());
    }

    d4::workers::RedisEndpoints eps{endpoint(stream_ep, common.redis.stream),
                                    endpoint(meta_ep, common.redis.meta),
                                    endpoint(analyzer_ep, common.redis.analyzer)};
    d4::workers::RunnerOptions base_opt;
    base_opt.lease =
        std::chrono::milliseconds(lease_ms > 0 ? lease_ms : get_int(root, "workers", "lease_ms", 30000));
    base_opt.max_sessions = static_cast<std::size_t>(get_int(root, "workers", "max_sessions", 256));
    base_opt.read_count = static_cast<std::size_t>(get_int(root, "workers", "read_count", 256));
    base_opt.block = std::chrono::milliseconds(get_int(root, "workers", "block_ms", 200));
    base_opt.default_queue_max_size = get_int(root, "queues", "default_max_size", 100'000'000);
    base_opt.commit_delay = std::chrono::milliseconds(commit_delay_ms);
    base_opt.fail_marker = fail_marker;
    base_opt.failure_cooldown = std::chrono::milliseconds(get_int(root, "workers", "failure_retry_ms", 5000));
    base_opt.max_session_failures = get_int(root, "workers", "max_session_failures", 3);
    if (base_opt.max_session_failures < 1)
      throw d4::core::ConfigError("option workers.max_session_failures must be at least 1");
    base_opt.dead_letter.max_bytes =
        static_cast<std::uint64_t>(get_int(root, "workers", "dead_letter_max_bytes", 256ll << 20));
    base_opt.dead_letter.max_sessions =
        static_cast<std::size_t>(get_int(root, "workers", "dead_letter_max_sessions", 100));

    d4::workers::RetentionPolicy retention;
    retention.all_types = read_rule(root, "workers.retention", {});
    if (auto* per = d4::core::get_table(root, "workers.retention.types"))
      for (const auto& [k, v] : *per)
        if (v.is_table())
          retention.per_type[std::string(k.str())] =
              read_rule(root, "workers.retention.types." + std::string(k.str()), retention.all_types);
    auto retention_interval =
        std::chrono::seconds(get_int(root, "workers", "retention_interval_seconds", 3600));
    auto monitor_interval = std::chrono::seconds(get_int(root, "workers", "monitor_interval_seconds", 10));

    // One running process per name: two processes sharing a name would share leases and both
    // process the same sessions. The name lock is short-lived so that a restart after a crash
    // waits a few seconds at most (it still resumes its sessions long before their leases expire).
    d4::core::RedisClient name_redis(eps.analyzer);
    const std::string name_key = d4::core::keys::worker_task_lock("name:" + name);
    const auto name_ttl = std::chrono::milliseconds(5000);
    const std::string instance =
        name + "/" + std::to_string(getpid()) + "/" + std::to_string(std::time(nullptr));
    auto take_name = [&] {
      auto r = name_redis.command({"SET", name_key, instance, "NX", "PX", std::to_string(name_ttl.count())});
      return r.is_string() && r.str == "OK";
    };
    for (bool warned = false; !take_name();) {
      if (!warned) spdlog::warn("worker name {} is held by another process; waiting for it to expire", name);
      warned = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }

    d4::workers::Compressor compressor(settings.compression, settings.compression_level,
                                       static_cast<int>(get_int(root, "workers", "compress_threads", 1)));
    d4::core::install_stop_handlers(/*interrupt_blocking_calls=*/false);

    std::vector<std::unique_ptr<d4::workers::RunnerCounters>> counters;
    std::vector<std::thread> threads;
    std::string type_list;
    for (int t : types) {
      type_list += (type_list.empty() ? "" : ",") + std::to_string(t);
      counters.push_back(std::make_unique<d4::workers::RunnerCounters>());
      for (int i = 0; i < threads_per_type; ++i) {
        auto opt = base_opt;
        opt.type = t;
        opt.consumer = name + ":" + std::to_string(t) + ":" + std::to_string(i);
        auto* c = counters.back().get();
        threads.emplace_back([opt, settings, eps, &compressor, c] {
          d4::workers::TypeRunner runner(opt, settings, eps, compressor, *c);
          runner.run(d4::core::stop_flag());
        });
      }
    }
    spdlog::info("d4-worker {} serving types {}; archives under {}", name, type_list,
                 settings.archive_root.string());

    std::atomic<std::int64_t> last_publish_ok{0};
    d4::core::metrics::Registry registry;
    std::unique_ptr<d4::core::metrics::Endpoint> metrics_endpoint;
    if (metrics_listen.empty()) metrics_listen = get_string(root, "workers", "metrics_listen", "");
    if (!metrics_listen.empty()) {
      d4::workers::WorkerMetricsSources sources{
          name, types, &counters, eps.meta, eps.analyzer, base_opt.default_queue_max_size, &last_publish_ok};
      d4::core::metrics::add_process_metrics(registry, "d4-worker", D4_VERSION);
      d4::workers::register_worker_metrics(registry, sources);
      metrics_endpoint = std::make_unique<d4::core::metrics::Endpoint>(
          registry, [sources] { return d4::workers::worker_health(sources); }, metrics_listen);
    }

    d4::core::RedisClient meta(eps.meta), stream(eps.stream);
    auto next_monitor = std::chrono::steady_clock::now();
    auto next_retention = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    auto next_stats = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    auto next_publish = std::chrono::steady_clock::now();
    const std::time_t started = std::time(nullptr);
    auto next_name_renewal = std::chrono::steady_clock::now() + name_ttl / 3;
    while (!d4::core::stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto now = std::chrono::steady_clock::now();
      try {
        if (now >= next_name_renewal) {
          next_name_renewal = now + name_ttl / 3;
          auto r = name_redis.command({"EVAL",
                                       "if redis.call('GET', KEYS[1]) == ARGV[1] then return "
                                       "redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
                                       "return 0",
                                       "1", name_key, instance, std::to_string(name_ttl.count())});
          if (r.integer != 1) {
            // We stalled long enough for another process to take our name: stop rather than
            // share sessions with it.
            spdlog::error("worker name {} was taken over by another process; stopping", name);
            d4::core::request_stop();
          }
        }
        if (monitor_interval.count() > 0 && now >= next_monitor) {
          next_monitor = now + monitor_interval;
          if (d4::workers::try_task_lock(meta, "monitor", name,
                                         monitor_interval - std::chrono::milliseconds(500)))
            d4::workers::check_sensor_monitoring(meta, stream, std::time(nullptr));
        }
        bool any_rule = retention.all_types.active() || !retention.per_type.empty();
        if (any_rule && retention_interval.count() > 0 && now >= next_retention) {
          next_retention = now + retention_interval;
          if (d4::workers::try_task_lock(meta, "retention", name, retention_interval / 2))
            d4::workers::enforce_retention(settings.archive_root, retention, std::time(nullptr));
        }
      } catch (const std::exception& e) {
        spdlog::warn("periodic task: {}", e.what());
      }
      if (now >= next_publish) {
        // Published for the web UI and metrics exporters.
        next_publish = now + std::chrono::seconds(2);
        try {
          std::vector<std::string> hset{
              "HSET",    d4::core::keys::worker_stats(name), "started", std::to_string(started),
              "updated", std::to_string(std::time(nullptr)), "types",   type_list};
          for (std::size_t i = 0; i < types.size(); ++i) {
            const auto& c = *counters[i];
            auto t = std::to_string(types[i]);
            for (auto [field, value] : {std::pair<const char*, std::uint64_t>{"entries", c.entries.load()},
                                        {"bytes", c.bytes.load()},
                                        {"items", c.items.load()},
                                        {"files", c.files.load()},
                                        {"rejects", c.rejects.load()},
                                        {"sessions_done", c.sessions_done.load()},
                                        {"quarantined", c.quarantined.load()},
                                        {"io_errors", c.io_errors.load()}}) {
              hset.push_back(t + ":" + field);
              hset.push_back(std::to_string(value));
            }
          }
          name_redis.pipeline({hset,
                               {"EXPIRE", d4::core::keys::worker_stats(name), "60"},
                               {"SADD", std::string(d4::core::keys::kWorkers), name}});
          last_publish_ok = static_cast<std::int64_t>(std::time(nullptr));
        } catch (const std::exception& e) {
          spdlog::warn("publishing worker statistics: {}", e.what());
        }
      }
      if (now >= next_stats) {
        next_stats = now + std::chrono::seconds(60);
        for (std::size_t i = 0; i < types.size(); ++i) {
          const auto& c = *counters[i];
          if (c.entries.load() == 0) continue;
          spdlog::info(
              "type {}: {} entries, {} bytes, {} queue items, {} files, {} rejects, {} sessions finished",
              types[i], c.entries.load(), c.bytes.load(), c.items.load(), c.files.load(), c.rejects.load(),
              c.sessions_done.load());
        }
      }
    }
    spdlog::info("d4-worker stopping");
    for (auto& t : threads) t.join();
    try {
      name_redis.command(
          {"EVAL",
           "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
           "1", name_key, instance});
      name_redis.pipeline({{"DEL", d4::core::keys::worker_stats(name)},
                           {"SREM", std::string(d4::core::keys::kWorkers), name}});
    } catch (const std::exception&) {
    }
  } catch (const std::exception& e) {
    std::cerr << "d4-worker: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
