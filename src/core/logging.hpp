#pragma once
// Logging for every D4 process: spdlog on stderr (never stdout, which may carry data), as text
// or one JSON object per line for log shippers.
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace d4::core {

enum class LogFormat { Text, Json };

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::Text;
  std::string file;  // optional: also append to this file
};

// Installs the default logger named after the component (e.g. "d4-server").
void init_logging(std::string_view component, const LogOptions& options);
bool parse_log_format(std::string_view text, LogFormat& out);

// Escapes a string for inclusion in a JSON log line.
std::string json_escape(std::string_view s);

}  // namespace d4::core
