// When the server gives freed memory back: during a burst of closing connections at most once per
// interval, and once more when the closing stopped, so that the last connections of a burst (and
// memory freed just after a trim) are returned too. The process-wide effect on a real d4-server's
// RSS is in server_unauth_test.cpp.
#include <gtest/gtest.h>

#include "server/memory_trim.hpp"

using d4::server::MemoryTrimmer;
using namespace std::chrono_literals;

TEST(MemoryTrimmer, TrimsDuringABurstAtMostOncePerIntervalAndOnceMoreWhenTheClosingStopped) {
  MemoryTrimmer trimmer(64, 1s);
  const auto t0 = MemoryTrimmer::Clock::time_point{} + 1h;
  EXPECT_FALSE(trimmer.maybe_trim(0, t0)) << "nothing closed";
  EXPECT_TRUE(trimmer.maybe_trim(100, t0 + 1s)) << "a burst: 100 closed";
  EXPECT_FALSE(trimmer.maybe_trim(180, t0 + 1500ms)) << "within the interval";
  EXPECT_TRUE(trimmer.maybe_trim(200, t0 + 2s)) << "100 more closed";
  EXPECT_FALSE(trimmer.maybe_trim(230, t0 + 3s)) << "30 closed: the burst goes on";
  EXPECT_TRUE(trimmer.maybe_trim(230, t0 + 4s)) << "no close since the last check: the burst ended";
  EXPECT_FALSE(trimmer.maybe_trim(230, t0 + 5s)) << "nothing new";
  EXPECT_FALSE(trimmer.maybe_trim(230, t0 + 60s)) << "nothing new";
  EXPECT_EQ(trimmer.trims(), 3u);
}

TEST(MemoryTrimmer, TrimsAgainWhenTheClosingStoppedRightAfterABurstTrim) {
  MemoryTrimmer trimmer(64, 1s);
  const auto t0 = MemoryTrimmer::Clock::time_point{} + 1h;
  EXPECT_TRUE(trimmer.maybe_trim(64, t0));
  // The last sessions were counted closed but their memory may have been freed after the trim.
  EXPECT_TRUE(trimmer.maybe_trim(64, t0 + 1s));
  EXPECT_FALSE(trimmer.maybe_trim(64, t0 + 2s));
  // A few connections closing later are returned once they stopped, not one trim per close.
  EXPECT_FALSE(trimmer.maybe_trim(65, t0 + 3s));
  EXPECT_FALSE(trimmer.maybe_trim(70, t0 + 4s));
  EXPECT_TRUE(trimmer.maybe_trim(70, t0 + 5s));
  EXPECT_EQ(trimmer.trims(), 3u);
}
