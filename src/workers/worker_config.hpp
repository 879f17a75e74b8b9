#pragma once
// d4-worker's configuration: [general], [redis], [workers] (with its IPFIX options,
// [workers.retention] and its per-type tables) and [queues] default_max_size, with the command-line overrides
// on top. Read without connecting anywhere, so --check-config can validate it.
#include <chrono>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/privileges.hpp"
#include "workers/runner.hpp"
#include "workers/session.hpp"
#include "workers/tasks.hpp"

namespace d4::workers {

// The command line: empty strings and zeros leave the configured value.
struct WorkerOverrides {
  std::string config_path, types, stream, meta, analyzer, archive_dir, name, log_level, metrics_listen;
  int threads_per_type = 0;
  long long lease_ms = 0;
  long long commit_delay_ms = 0;  // testing
  std::string fail_marker;        // testing: fault injection
};

struct WorkerConfig {
  core::CommonConfig common;
  core::RunAs run_as;  // [general] user, group, allow_root
  WorkerSettings settings;
  std::vector<int> types;  // 254 is served by the type-2 runner
  int threads_per_type = 1;
  std::string name;  // stable worker name (default host:pid)
  RedisEndpoints endpoints;
  RunnerOptions runner;  // every runner's options but its type and consumer
  int compress_threads = 1;
  RetentionPolicy retention;
  std::chrono::seconds retention_interval{3600};
  std::chrono::seconds monitor_interval{10};
  std::string metrics_listen;         // /metrics and /health; empty: none
  std::vector<std::string> warnings;  // to log once logging is set up (e.g. a missing IPFIX registry)
};

// Throws core::ConfigError for the configuration, core::cli::UsageError for the command line.
WorkerConfig load_worker_config(const WorkerOverrides& o);

}  // namespace d4::workers
