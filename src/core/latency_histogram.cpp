#include "core/latency_histogram.hpp"

#include <algorithm>

namespace d4::core {

void LatencyHistogram::observe(std::chrono::nanoseconds d, std::uint64_t times) {
  double s = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < std::size(kBounds) && s > kBounds[i]) ++i;
  counts_[i].fetch_add(times, std::memory_order_relaxed);
  count_.fetch_add(times, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())) * times,
                    std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot s;
  for (std::size_t i = 0; i < kBuckets; ++i) s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  s.count = count_.load(std::memory_order_relaxed);
  s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

void LatencyHistogram::Snapshot::merge(const Snapshot& o) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts[i] += o.counts[i];
  count += o.count;
  sum_seconds += o.sum_seconds;
}

double LatencyHistogram::Snapshot::quantile(double q) const {
  std::uint64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0) return 0;
  double rank = q * static_cast<double>(total);
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    if (counts[i] == 0) continue;
    if (static_cast<double>(cum + counts[i]) >= rank) {
      double lo = i == 0 ? 0.0 : kBounds[i - 1];
      if (i >= std::size(kBounds)) return kBounds[std::size(kBounds) - 1];  // +Inf bucket
      double hi = kBounds[i];
      double frac = (rank - static_cast<double>(cum)) / static_cast<double>(counts[i]);
      return lo + (hi - lo) * std::clamp(frac, 0.0, 1.0);
    }
    cum += counts[i];
  }
  return kBounds[std::size(kBounds) - 1];
}

}  // namespace d4::core
