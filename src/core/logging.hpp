#pragma once
// Logging for every D4 process: spdlog on stderr (never stdout, which may carry data), as text
// or one JSON object per line for log shippers.
#include <cstdint>
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
// True once init_logging() ran: before, spdlog's default logger writes to stdout.
bool logging_initialised();

// Announces a bound listener as "listening on <host:port> (<role>)" at info level and flushes at
// once. A component configured with port 0 gets a free port from the kernel; this line is how
// tests and supervisors learn which one (no port is chosen first and bound later, so no race).
void log_listening(std::string_view role, std::string_view host, std::uint16_t port);

// Escapes a string for inclusion in a JSON log line.
std::string json_escape(std::string_view s);

}  // namespace d4::core
