#include <gtest/gtest.h>

#include "core/rate_limiter.hpp"

using d4::core::RateLimiter;
using namespace std::chrono_literals;

TEST(RateLimiter, DisabledNeverWaits) {
  RateLimiter r(0);
  r.consume(1'000'000'000);
  EXPECT_EQ(r.delay().count(), 0);
}

TEST(RateLimiter, TokenBucket) {
  auto t0 = RateLimiter::Clock::now();
  RateLimiter r(1'000'000, 100'000, t0);  // 1 MB/s, 100 kB burst
  r.consume(100'000, t0);
  EXPECT_EQ(r.delay(t0).count(), 0) << "the burst is free";
  r.consume(500'000, t0);
  auto d = r.delay(t0);
  EXPECT_NEAR(std::chrono::duration<double>(d).count(), 0.5, 0.001);
  EXPECT_EQ(r.delay(t0 + 500ms + 1ms).count(), 0);
  // Long idle time refills only up to the burst.
  auto t1 = t0 + 10s;
  r.consume(150'000, t1);
  EXPECT_NEAR(std::chrono::duration<double>(r.delay(t1)).count(), 0.05, 0.001);
}
