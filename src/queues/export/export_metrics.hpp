#pragma once
// d4-export's Prometheus /metrics and /health (docs/metrics.md, "d4-export"), on the shared
// implementation (core/metrics.hpp). Counters are labelled by sink (the destination's scheme: a
// fixed set) and exist from the start; the queue and processing list lengths are read from Redis
// at scrape time. Health: Redis answered within the last 30 s and the destination is connected.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "core/redis_endpoint.hpp"

namespace d4::queues {

class ExportMetrics {
 public:
  static constexpr long long kStallSeconds = 30;

  // `listen` empty: counted, not served. `destination` as given to --to.
  ExportMetrics(const std::string& listen, const std::string& destination, const std::string& list,
                const std::string& processing, const core::RedisEndpoint& analyzer);
  ~ExportMetrics();
  ExportMetrics(const ExportMetrics&) = delete;
  ExportMetrics& operator=(const ExportMetrics&) = delete;

  // `items` delivered; `sink_bytes`: the sink's running total of bytes sent.
  void delivered(std::uint64_t items, std::uint64_t sink_bytes);
  void retried(std::uint64_t items);  // elements sent again from the processing list
  void dead_letter();                 // an element that can never be sent, kept aside
  void send_failure();                // the destination failed: reconnect and retry
  void redis_error();
  void redis_ok();  // a round trip to the queue's Redis succeeded
  void sink_connected(bool connected);
  std::uint16_t port() const;

 private:
  core::metrics::Registry registry_;
  std::atomic<std::uint64_t>&items_, &bytes_, &retried_, &dead_letters_, &failures_, &redis_errors_;
  std::atomic<std::int64_t>& last_success_;
  std::atomic<bool> redis_ok_{false}, sink_ok_{false};
  std::atomic<long long> last_redis_ok_{0};
  std::unique_ptr<core::metrics::Endpoint> endpoint_;
};

}  // namespace d4::queues
