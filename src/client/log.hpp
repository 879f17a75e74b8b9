#pragma once
// Diagnostics of the client: one line per message on stderr (never stdout, which may carry the D4
// stream). Each line is written with a single write() so lines of different threads do not mix.
#include <string_view>

namespace d4::client {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool log_enabled(LogLevel level);
void log(LogLevel level, std::string_view message);

inline void log_error(std::string_view m) {
  log(LogLevel::Error, m);
}
inline void log_warn(std::string_view m) {
  log(LogLevel::Warn, m);
}
inline void log_info(std::string_view m) {
  log(LogLevel::Info, m);
}
inline void log_debug(std::string_view m) {
  if (log_enabled(LogLevel::Debug)) log(LogLevel::Debug, m);
}

}  // namespace d4::client
