#include "workers/worker_process.hpp"

#include <unistd.h>

#include <atomic>
#include <thread>

#include <spdlog/spdlog.h>
#include "core/exit_codes.hpp"
#include "core/keys.hpp"
#include "core/lease.hpp"
#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "core/stop_signal.hpp"
#include "core/version.hpp"
#include "workers/compressor.hpp"
#include "workers/runner.hpp"
#include "workers/tasks.hpp"
#include "workers/worker_metrics.hpp"

namespace d4::workers {

void add_worker_options(d4::core::cli::App& app, WorkerOverrides& o) {
  app.add_option("-c,--config", o.config_path,
                 "D4 configuration file (TOML): [general], [redis], [workers], [queues]");
  app.add_option("-t,--types", o.types, "types to serve, e.g. 1,3,8 (default: [workers] types, else all)");
  app.add_option("--stream", o.stream, "stream Redis host:port/db (default 127.0.0.1:6379/0)");
  app.add_option("--meta", o.meta, "metadata Redis (default 127.0.0.1:6380/0)");
  app.add_option("--analyzer", o.analyzer, "analyzer-queue Redis (default 127.0.0.1:6380/2)");
  app.add_option("--archive-dir", o.archive_dir, "archive root (default <data_dir>/archive)");
  app.add_option("--name", o.name,
                 "stable worker name (default host:pid); a restarted worker with the same name resumes its "
                 "sessions at once instead of waiting for their leases to expire");
  app.add_option("--threads-per-type", o.threads_per_type, "session threads per type");
  app.add_option("--lease-ms", o.lease_ms, "session lease duration");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error");
  app.add_option("--metrics-listen", o.metrics_listen,
                 "serve /metrics and /health on host:port (default: [workers] metrics_listen, else none)");
  app.add_option("--commit-delay-ms", o.commit_delay_ms, "testing: pause after every commit")->group("");
  app.add_option("--fail-entries-containing", o.fail_marker,
                 "testing: processing fails on entries containing this text (fault injection)")
      ->group("");
}

namespace {

using Counters = std::vector<std::unique_ptr<RunnerCounters>>;

// One running process per name: two processes sharing a name would share leases and both process
// the same sessions. The name lock is short-lived so that a restart after a crash waits a few
// seconds at most (it still resumes its sessions long before their leases expire).
class NameLock {
 public:
  static constexpr std::chrono::milliseconds kTtl{5000};
  NameLock(core::RedisClient& redis, const std::string& name)
      : redis_(redis),
        name_(name),
        key_(core::keys::worker_task_lock("name:" + name)),
        instance_(name + "/" + std::to_string(getpid()) + "/" + std::to_string(std::time(nullptr))) {}

  void acquire() {
    for (bool warned = false; !core::lease::acquire(redis_, key_, instance_, kTtl); warned = true) {
      if (!warned) spdlog::warn("worker name {} is held by another process; waiting for it to expire", name_);
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
  // False when another process took the name over (we stalled longer than its lifetime).
  bool renew() { return core::lease::renew(redis_, key_, instance_, kTtl); }
  void release() { core::lease::release(redis_, key_, instance_); }

 private:
  core::RedisClient& redis_;
  std::string name_, key_, instance_;
};

std::string type_list(const std::vector<int>& types) {
  std::string s;
  for (int t : types) s += (s.empty() ? "" : ",") + std::to_string(t);
  return s;
}

// Published for the web UI and metrics exporters.
void publish_stats(core::RedisClient& redis, const WorkerConfig& c, const Counters& counters,
                   std::time_t started, std::atomic<std::int64_t>& last_publish_ok) {
  std::vector<std::string> hset{
      "HSET",    core::keys::worker_stats(c.name),   "started", std::to_string(started),
      "updated", std::to_string(std::time(nullptr)), "types",   type_list(c.types)};
  for (std::size_t i = 0; i < c.types.size(); ++i) {
    const auto& n = *counters[i];
    auto t = std::to_string(c.types[i]);
    for (auto [field, value] : {std::pair<const char*, std::uint64_t>{"entries", n.entries.load()},
                                {"bytes", n.bytes.load()},
                                {"items", n.items.load()},
                                {"files", n.files.load()},
                                {"rejects", n.rejects.load()},
                                {"sessions_done", n.sessions_done.load()},
                                {"quarantined", n.quarantined.load()},
                                {"io_errors", n.io_errors.load()}}) {
      hset.push_back(t + ":" + field);
      hset.push_back(std::to_string(value));
    }
  }
  redis.pipeline({hset,
                  {"EXPIRE", core::keys::worker_stats(c.name), "60"},
                  {"SADD", std::string(core::keys::kWorkers), c.name}});
  last_publish_ok = static_cast<std::int64_t>(std::time(nullptr));
}

void log_stats(const WorkerConfig& c, const Counters& counters) {
  for (std::size_t i = 0; i < c.types.size(); ++i) {
    const auto& n = *counters[i];
    if (n.entries.load() == 0) continue;
    spdlog::info("type {}: {} entries, {} bytes, {} queue items, {} files, {} rejects, {} sessions finished",
                 c.types[i], n.entries.load(), n.bytes.load(), n.items.load(), n.files.load(),
                 n.rejects.load(), n.sessions_done.load());
  }
}

// Sensor monitoring and archive retention, each run by one worker at a time (task locks).
class PeriodicTasks {
 public:
  explicit PeriodicTasks(const WorkerConfig& c)
      : c_(c), meta_(c.endpoints.meta), stream_(c.endpoints.stream) {}
  void run(std::chrono::steady_clock::time_point now) {
    if (c_.monitor_interval.count() > 0 && now >= next_monitor_) {
      next_monitor_ = now + c_.monitor_interval;
      if (try_task_lock(meta_, "monitor", c_.name, c_.monitor_interval - std::chrono::milliseconds(500)))
        check_sensor_monitoring(meta_, stream_, std::time(nullptr), c_.common.redis.layout);
    }
    bool any_rule = c_.retention.all_types.active() || !c_.retention.per_type.empty();
    if (any_rule && c_.retention_interval.count() > 0 && now >= next_retention_) {
      next_retention_ = now + c_.retention_interval;
      if (try_task_lock(meta_, "retention", c_.name, c_.retention_interval / 2))
        enforce_retention(c_.settings.archive_root, c_.retention, std::time(nullptr));
    }
  }

 private:
  const WorkerConfig& c_;
  core::RedisClient meta_, stream_;
  std::chrono::steady_clock::time_point next_monitor_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point next_retention_ =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
};

// Until a stop is requested: keeps the name, runs the periodic tasks, publishes statistics.
void supervise(const WorkerConfig& c, NameLock& name, core::RedisClient& redis, const Counters& counters,
               std::atomic<std::int64_t>& last_publish_ok) {
  PeriodicTasks tasks(c);
  const std::time_t started = std::time(nullptr);
  auto next_renewal = std::chrono::steady_clock::now() + NameLock::kTtl / 3;
  auto next_publish = std::chrono::steady_clock::now();
  auto next_stats = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (core::sleep_unless_stopped(std::chrono::milliseconds(200))) {
    auto now = std::chrono::steady_clock::now();
    try {
      if (now >= next_renewal) {
        next_renewal = now + NameLock::kTtl / 3;
        if (!name.renew()) {
          // Another process took our name: stop rather than share sessions with it.
          spdlog::error("worker name {} was taken over by another process; stopping", c.name);
          core::request_stop();
        }
      }
      tasks.run(now);
    } catch (const std::exception& e) {
      spdlog::warn("periodic task: {}", e.what());
    }
    if (now >= next_publish) {
      next_publish = now + std::chrono::seconds(2);
      try {
        publish_stats(redis, c, counters, started, last_publish_ok);
      } catch (const std::exception& e) {
        spdlog::warn("publishing worker statistics: {}", e.what());
      }
    }
    if (now >= next_stats) {
      next_stats = now + std::chrono::seconds(60);
      log_stats(c, counters);
    }
  }
}

}  // namespace

int run_worker(const WorkerConfig& c, const WorkerOverrides& o) {
  core::RedisClient redis(c.endpoints.analyzer);
  NameLock name(redis, c.name);
  name.acquire();
  Compressor compressor(c.settings.compression, c.settings.compression_level, c.compress_threads);
  core::install_stop_handlers(/*interrupt_blocking_calls=*/false);
  core::enable_config_reload("d4-worker", o.config_path, o.log_level);

  Counters counters;
  for (std::size_t i = 0; i < c.types.size(); ++i) counters.push_back(std::make_unique<RunnerCounters>());
  std::atomic<std::int64_t> last_publish_ok{0};
  core::metrics::Registry registry;
  std::unique_ptr<core::metrics::Endpoint> metrics_endpoint;
  if (!c.metrics_listen.empty()) {
    WorkerMetricsSources sources{c.name,
                                 c.types,
                                 &counters,
                                 c.endpoints.meta,
                                 c.endpoints.analyzer,
                                 c.runner.default_queue_max_size,
                                 c.common.redis.layout,
                                 &last_publish_ok};
    core::metrics::add_process_metrics(registry, "d4-worker", std::string(kProjectVersion));
    register_worker_metrics(registry, sources);
    metrics_endpoint = std::make_unique<core::metrics::Endpoint>(
        registry, [sources] { return worker_health(sources); }, c.metrics_listen);
  }
  // The metrics listener is bound: become the configured user before any archive file is written.
  core::drop_privileges("d4-worker", c.run_as);
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < c.types.size(); ++k) {
    for (int i = 0; i < c.threads_per_type; ++i) {
      auto opt = c.runner;
      opt.type = c.types[k];
      opt.consumer = c.name + ":" + std::to_string(c.types[k]) + ":" + std::to_string(i);
      threads.emplace_back([opt, &c, &compressor, n = counters[k].get()] {
        TypeRunner runner(opt, c.settings, c.endpoints, compressor, *n);
        runner.run(core::stop_flag());
      });
    }
  }
  spdlog::info("d4-worker {} serving types {}; archives under {}", c.name, type_list(c.types),
               c.settings.archive_root.string());
  supervise(c, name, redis, counters, last_publish_ok);
  spdlog::info("d4-worker stopping");
  for (auto& t : threads) t.join();
  try {
    name.release();
    redis.pipeline(
        {{"DEL", core::keys::worker_stats(c.name)}, {"SREM", std::string(core::keys::kWorkers), c.name}});
  } catch (const std::exception&) {
  }
  return core::exit_status::kOk;
}

}  // namespace d4::workers
