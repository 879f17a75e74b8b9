#pragma once
// A latency histogram with fixed Prometheus-style buckets (0.1 ms to 10 s, then +Inf), updated
// with relaxed atomics on hot paths and read from another thread (the metrics endpoint).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>

namespace d4::core {

class LatencyHistogram {
 public:
  // Upper bounds in seconds, Prometheus style (the last bucket is +Inf).
  static constexpr double kBounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
  static constexpr std::size_t kBuckets = std::size(kBounds) + 1;
  void observe(std::chrono::nanoseconds d, std::uint64_t times = 1);
  struct Snapshot {
    std::uint64_t counts[kBuckets] = {};  // per bucket (not cumulative)
    std::uint64_t count = 0;
    double sum_seconds = 0;
    // Approximate quantile by linear interpolation inside the bucket (like histogram_quantile).
    double quantile(double q) const;
    void merge(const Snapshot& o);
  };
  Snapshot snapshot() const;

 private:
  std::atomic<std::uint64_t> counts_[kBuckets] = {};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace d4::core
