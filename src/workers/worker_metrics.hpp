#pragma once
// d4-worker's Prometheus metrics and health (docs/operations.md, "Metrics"): the runners' counters
// per type, and every analyzer queue's length, pushes, drops and consumer activity read from
// Redis at scrape time (each worker exports the queues; dashboards take max by queue).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "core/redis_endpoint.hpp"
#include "workers/runner.hpp"

namespace d4::workers {

struct WorkerMetricsSources {
  std::string name;  // the worker's name (label `worker`)
  std::vector<int> types;
  const std::vector<std::unique_ptr<RunnerCounters>>* counters = nullptr;  // one per type, same order
  core::RedisEndpoint meta, analyzer;                                      // for the queue collector
  long long default_queue_max_size = 0;
  core::keys::KeyLayout layout = core::keys::KeyLayout::Reference;  // [redis] key_layout
  // Wall-clock seconds of the last successful statistics publication (Redis reachable); health
  // turns degraded when it is older than 10 s.
  const std::atomic<std::int64_t>* last_publish_ok = nullptr;
};

void register_worker_metrics(core::metrics::Registry& registry, const WorkerMetricsSources& sources);
core::metrics::Health worker_health(const WorkerMetricsSources& sources);

}  // namespace d4::workers
