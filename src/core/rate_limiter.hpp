#pragma once
// Token bucket in bytes per second, shared by the sensor client (sending) and d4-server (reading
// a sensor's connection). Taking bytes may overdraw the bucket (a packet is never split for the
// limiter); the caller then waits delay() before going on. Header-only: the client links only
// d4::protocol.
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace d4::core {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // rate 0 disables limiting. burst: bucket size in bytes (default: 1/10 s of traffic, at least
  // 64 KiB). The bucket starts full.
  explicit RateLimiter(std::uint64_t bytes_per_second, std::uint64_t burst = 0,
                       Clock::time_point now = Clock::now())
      : rate_(static_cast<double>(bytes_per_second)), last_(now) {
    burst_ = burst ? static_cast<double>(burst) : std::max(rate_ / 10.0, 65536.0);
    tokens_ = burst_;
  }

  bool enabled() const { return rate_ > 0; }

  void consume(std::uint64_t bytes, Clock::time_point now = Clock::now()) {
    if (!enabled()) return;
    refill(now);
    tokens_ -= static_cast<double>(bytes);
  }

  // Time to wait before more bytes may be taken (zero when allowed now).
  std::chrono::nanoseconds delay(Clock::time_point now = Clock::now()) {
    if (!enabled()) return std::chrono::nanoseconds(0);
    refill(now);
    if (tokens_ >= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<long long>(-tokens_ / rate_ * 1e9) + 1);
  }

 private:
  void refill(Clock::time_point now) {
    if (now <= last_) return;
    double secs = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + secs * rate_);
    last_ = now;
  }

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace d4::core
