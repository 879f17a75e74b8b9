#pragma once
// Token bucket in bytes per second. Sending may overdraw the bucket (a packet is never split for
// the limiter); the caller then waits delay() before sending again.
#include <chrono>
#include <cstdint>

namespace d4::client {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // rate 0 disables limiting. burst: bucket size in bytes (default: 1/10 s of traffic, at least 64 KiB).
  explicit RateLimiter(std::uint64_t bytes_per_second, std::uint64_t burst = 0,
                       Clock::time_point now = Clock::now());

  bool enabled() const { return rate_ > 0; }
  void consume(std::uint64_t bytes, Clock::time_point now = Clock::now());
  // Time to wait before more bytes may be sent (zero when allowed now).
  std::chrono::nanoseconds delay(Clock::time_point now = Clock::now());

 private:
  void refill(Clock::time_point now);
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace d4::client
