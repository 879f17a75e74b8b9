#pragma once
// Wall-clock seconds as UTC text in a strftime format: one place for the gmtime_r/strftime dance
// that RFC 3339, RFC 5322 and MISP timestamps all need.
#include <time.h>

#include <ctime>
#include <string>

namespace d4::core {

inline std::string format_utc(std::time_t t, const char* format) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

}  // namespace d4::core
