#pragma once
// The clocks every D4 program reads, in the units D4 records: the wall clock in Unix seconds and
// milliseconds (packet headers, stream ids, Redis timestamps, dates) and a monotonic clock in
// milliseconds for timeouts and pauses, which must not jump when the wall clock is set.
// Header-only and in the protocol library so the sensor client uses the same ones.
#include <chrono>
#include <cstdint>

namespace d4::clock {

inline std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::int64_t unix_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Unix time with sub-second precision, as Redis sorted-set scores and alert times keep it.
inline double unix_seconds_fractional() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline std::int64_t monotonic_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace d4::clock
