#include "client/rate_limiter.hpp"

#include <algorithm>

namespace d4::client {

RateLimiter::RateLimiter(std::uint64_t bytes_per_second, std::uint64_t burst, Clock::time_point now)
    : rate_(static_cast<double>(bytes_per_second)), last_(now) {
  burst_ = burst ? static_cast<double>(burst) : std::max(rate_ / 10.0, 65536.0);
  tokens_ = burst_;
}

void RateLimiter::refill(Clock::time_point now) {
  if (now <= last_) return;
  double secs = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + secs * rate_);
  last_ = now;
}

void RateLimiter::consume(std::uint64_t bytes, Clock::time_point now) {
  if (!enabled()) return;
  refill(now);
  tokens_ -= static_cast<double>(bytes);
}

std::chrono::nanoseconds RateLimiter::delay(Clock::time_point now) {
  if (!enabled()) return std::chrono::nanoseconds(0);
  refill(now);
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<long long>(-tokens_ / rate_ * 1e9) + 1);
}

}  // namespace d4::client
