#include "server/memory_trim.hpp"

#include <malloc.h>

namespace d4::server {

void MemoryTrimmer::configure_allocator() {
  // Buffers above 256 KB (Redis batches, large packets) get their own mapping, returned on free.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // A heap keeps at most 1 MB free at its top; beyond, it shrinks on the next large free.
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
}

bool MemoryTrimmer::maybe_trim(std::uint64_t closed_connections, Clock::time_point now) {
  if (closed_connections - closed_at_trim_ < min_closed_ || now - last_ < interval_) return false;
  malloc_trim(0);
  closed_at_trim_ = closed_connections;
  last_ = now;
  trims_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace d4::server
