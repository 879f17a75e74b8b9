#pragma once
// Prometheus /metrics and /health of the analyzer processes (docs/metrics.md, "Analyzers"), on the
// shared implementation (core/metrics.hpp). Every queue consumer exports the same families,
// labelled by analyzer (the executable) and queue (its list key, one per process):
//   d4_analyzer_queue_length, d4_analyzer_processing_length   read from Redis at each scrape
//   d4_analyzer_elements_total, _batches_total, _redeliveries_total, _failed_batches_total,
//   d4_analyzer_redis_errors_total, d4_analyzer_last_progress_timestamp_seconds
// and each analyzer adds its own d4_<analyzer>_... counters through set_counter(). Health: the
// consumer reached Redis within the last kStallSeconds and is not in a Redis outage (queue or
// storage); a query API's health is its storage answering PING.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/common/frame_source.hpp"
#include "analyzers/common/queue_consumer.hpp"
#include "core/metrics.hpp"
#include "core/redis_endpoint.hpp"

namespace d4::analyzers {

// Counts by reason (rejects, decode errors), as the analyzers' stores keep them.
using CountsByReason = std::map<std::string, std::uint64_t, std::less<>>;

// Adds to `total` what every reason of `now` gained since `before` (a reason absent from `before`
// counts from zero): the rejects of the batches written since the last read, so that a batch
// delivered again after a failed write counts once.
void add_counts_since(CountsByReason& total, const CountsByReason& now, const CountsByReason& before);

class AnalyzerMetrics {
 public:
  // A consumer that made no round trip to Redis for this long is stalled (a batch of one huge
  // capture file may take a while; an idle consumer still returns every second).
  static constexpr long long kStallSeconds = 120;

  // `tool` ("d4-pdns") labels the samples; an empty `listen` disables everything below (cheap).
  AnalyzerMetrics(std::string tool, std::string listen);
  ~AnalyzerMetrics();
  AnalyzerMetrics(const AnalyzerMetrics&) = delete;
  AnalyzerMetrics& operator=(const AnalyzerMetrics&) = delete;

  bool enabled() const { return !listen_.empty(); }
  core::metrics::Registry& registry() { return registry_; }

  // Shared: scrapes may read the consumer until this object is destroyed.
  void watch_consumer(std::shared_ptr<const QueueConsumer> consumer);
  // Health requires `endpoint` to answer PING (checked at each /health request).
  void watch_redis(const core::RedisEndpoint& endpoint, std::string name);
  // Another condition of health (called at each /health request, from the endpoint's thread).
  void add_health_check(std::function<void(core::metrics::Health&)> check);
  // Serves /metrics and /health; call after the watch_*() calls. Nothing when disabled.
  void start();

  // Sets counter `name`{<labels>} to `value` (a running total kept by the analyzer's
  // ingest thread, published after each batch).
  void set_counter(const std::string& name, const std::string& help, std::uint64_t value,
                   const core::metrics::Labels& labels = {});
  void set_gauge(const std::string& name, const std::string& help, std::int64_t value,
                 const core::metrics::Labels& labels = {});
  // Serves the family before its first sample (counters labelled by reason appear lazily).
  void declare_counter(const std::string& name, const std::string& help);
  // set_counter() once per reason of a {reason -> count} table; reasons past the first
  // `max_reasons` are summed under "other" so that the label stays bounded.
  void set_counters_by_reason(const std::string& name, const std::string& help,
                              const CountsByReason& by_reason, std::size_t max_reasons = 32);
  // <prefix>_capture_files_total, <prefix>_frames_total and
  // <prefix>_capture_file_errors_total{reason="unreadable|corrupt|truncated"}.
  void set_capture_counters(const std::string& prefix, const CaptureStats& stats);

 private:
  std::string tool_, listen_;
  core::metrics::Registry registry_;
  std::vector<std::function<void(core::metrics::Health&)>> checks_;
  std::unique_ptr<core::metrics::Endpoint> endpoint_;
};

}  // namespace d4::analyzers
