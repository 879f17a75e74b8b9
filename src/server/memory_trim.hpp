#pragma once
// Gives freed heap memory back to the system after connections closed. glibc keeps freed memory
// in its arenas (one per worker thread) for reuse; after a burst of connections (a scan, a flood
// of unauthenticated peers) the process would stay at its peak size. malloc_trim(0) returns the
// free pages of every arena; it costs a walk of the heap, so it runs at most once per `interval`:
// during a burst once at least `min_closed` connections closed since the last trim, and once more
// when the closing stopped (a check saw no new close), so that the last connections of a burst,
// and memory freed just after a trim, are returned too.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace d4::server {

class MemoryTrimmer {
 public:
  // Fixes the allocator's thresholds for the whole process (call once, before the threads start).
  // glibc otherwise raises them after the first large buffer is freed, after which freed memory
  // at the top of a worker thread's heap is never returned (malloc_trim does not shrink those).
  static void configure_allocator();

  using Clock = std::chrono::steady_clock;
  explicit MemoryTrimmer(std::size_t min_closed = 64, Clock::duration interval = std::chrono::seconds(1))
      : min_closed_(min_closed), interval_(interval) {}

  // Called about once per `interval` with the number of connections closed so far; true when it
  // decided to trim (and trimmed).
  bool maybe_trim(std::uint64_t closed_connections, Clock::time_point now);
  std::size_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  bool should_trim(std::uint64_t closed_connections, Clock::time_point now);

  std::size_t min_closed_;
  Clock::duration interval_;
  std::uint64_t closed_at_trim_ = 0;     // at the last trim
  std::uint64_t closed_at_settled_ = 0;  // at the last trim made once the closing stopped
  std::uint64_t closed_at_check_ = 0;    // at the previous call
  Clock::time_point last_{};
  std::atomic<std::size_t> trims_{0};  // read by the metrics thread
};

}  // namespace d4::server
