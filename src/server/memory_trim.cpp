#include "server/memory_trim.hpp"

#include <malloc.h>

#include <algorithm>

namespace d4::server {

bool MemoryTrimmer::maybe_trim(std::size_t open_connections, Clock::time_point now) {
  peak_ = std::max(peak_, open_connections);
  if (peak_ - open_connections < min_closed_ || now - last_ < interval_) return false;
  malloc_trim(0);
  peak_ = open_connections;
  last_ = now;
  ++trims_;
  return true;
}

}  // namespace d4::server
