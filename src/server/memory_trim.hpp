#pragma once
// Gives freed heap memory back to the system after many connections closed. glibc keeps freed
// memory in its arenas (one per worker thread) for reuse; after a burst of connections (a scan, a
// flood of unauthenticated peers) the process would stay at its peak size. malloc_trim(0) returns
// the free pages of every arena; it costs a walk of the heap, so it runs only after at least
// `min_closed` connections closed since the peak, at most once per `interval`.
#include <chrono>
#include <cstddef>

namespace d4::server {

class MemoryTrimmer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit MemoryTrimmer(std::size_t min_closed = 64, Clock::duration interval = std::chrono::seconds(1))
      : min_closed_(min_closed), interval_(interval) {}

  // Called periodically with the number of open connections; true when it trimmed.
  bool maybe_trim(std::size_t open_connections, Clock::time_point now);
  std::size_t trims() const { return trims_; }

 private:
  std::size_t min_closed_;
  Clock::duration interval_;
  std::size_t peak_ = 0;
  Clock::time_point last_{};
  std::size_t trims_ = 0;
};

}  // namespace d4::server
