#pragma once
// Shutdown state shared by the signal thread, the reader and the destination.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace d4::client {

struct StopState {
  // 0: running; 1: stop requested (SIGINT/SIGTERM): stop reading, flush within the grace time.
  std::atomic<int> level{0};
  std::atomic<std::int64_t> deadline_ns{0};  // steady_clock time by which to give up flushing

  bool requested() const { return level.load() > 0; }
  std::chrono::steady_clock::time_point deadline() const {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline_ns.load()));
  }
};

}  // namespace d4::client
