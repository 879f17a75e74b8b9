#include "server/memory_trim.hpp"

#include <malloc.h>

namespace d4::server {

void MemoryTrimmer::configure_allocator() {
  // Buffers above 256 KB (Redis batches, large packets) get their own mapping, returned on free.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // A heap keeps at most 1 MB free at its top; beyond, it shrinks on the next large free.
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
}

bool MemoryTrimmer::should_trim(std::uint64_t closed, Clock::time_point now) {
  const bool quiet = closed == closed_at_check_;
  closed_at_check_ = closed;
  const bool burst = closed - closed_at_trim_ >= min_closed_;
  const bool settled = quiet && closed != closed_at_settled_;
  if (!(burst || settled) || now - last_ < interval_) return false;
  closed_at_trim_ = closed;
  if (quiet) closed_at_settled_ = closed;
  last_ = now;
  return true;
}

bool MemoryTrimmer::maybe_trim(std::uint64_t closed_connections, Clock::time_point now) {
  if (!should_trim(closed_connections, now)) return false;
  malloc_trim(0);
  trims_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace d4::server
