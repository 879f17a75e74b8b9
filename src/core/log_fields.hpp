#pragma once
// Structured fields of a log line. With [general] log_format = "json" they become keys of the
// line's object next to time, level, component and message (`"sensor_uuid":"…","session":12`),
// so that a log shipper can filter on them; in text they are not repeated (the message already
// names them, journald and terminals keep one readable line).
//
//   core::log_with(core::LogFields().add("session", id).add("reason", "hmac_fail"),
//                  spdlog::level::warn, "session {}: ...", id);
#include <concepts>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

namespace d4::core {

// Well-known keys, one spelling everywhere.
namespace log_key {
inline constexpr std::string_view kSensorUuid = "sensor_uuid";
inline constexpr std::string_view kSession = "session";
inline constexpr std::string_view kSource = "source";  // the peer's address
inline constexpr std::string_view kSourcePort = "source_port";
inline constexpr std::string_view kType = "type";  // the D4 packet type
inline constexpr std::string_view kReason = "reason";
inline constexpr std::string_view kDetail = "detail";
inline constexpr std::string_view kUser = "user";    // a web interface account
inline constexpr std::string_view kQueue = "queue";  // an analyzer queue (Redis list)
inline constexpr std::string_view kRule = "rule";    // an alert rule's id
}  // namespace log_key

class LogFields {
 public:
  LogFields& add(std::string_view key, std::string_view value);
  LogFields& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  LogFields& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) LogFields& add(std::string_view key, T value) {
    return add_raw(key, std::to_string(value));
  }
  // `,"key":value` for every field, ready to append to a JSON object.
  const std::string& json_members() const { return json_; }

 private:
  LogFields& add_raw(std::string_view key, std::string_view json_value);
  std::string json_;
};

namespace detail {
// The fields of the line being logged on this thread (sinks format in the logging thread).
class ScopedLogFields {
 public:
  explicit ScopedLogFields(const LogFields& fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  const LogFields* previous_;
};
// The fields of the current line, or nullptr (logging.cpp's JSON formatter).
const LogFields* current_log_fields();
}  // namespace detail

template <typename... Args>
void log_with(const LogFields& fields, spdlog::level::level_enum level, fmt::format_string<Args...> format,
              Args&&... args) {
  if (!spdlog::should_log(level)) return;
  detail::ScopedLogFields scope(fields);
  spdlog::log(level, format, std::forward<Args>(args)...);
}

}  // namespace d4::core
