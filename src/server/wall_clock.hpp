#pragma once
// The wall clock as the server records it (stream ids, kick times, dates): epoch milliseconds
// and seconds. Timeouts and pauses use std::chrono::steady_clock instead.
#include <chrono>

namespace d4::server {

inline long long wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline long long wall_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace d4::server
