#include "core/log_fields.hpp"

#include "core/logging.hpp"

namespace d4::core {
namespace {
thread_local const LogFields* t_current_log_fields = nullptr;
}  // namespace

LogFields& LogFields::add(std::string_view key, std::string_view value) {
  return add_raw(key, "\"" + json_escape(value) + "\"");
}

LogFields& LogFields::add_raw(std::string_view key, std::string_view json_value) {
  json_ += ",\"";
  json_ += json_escape(key);
  json_ += "\":";
  json_ += json_value;
  return *this;
}

namespace detail {

ScopedLogFields::ScopedLogFields(const LogFields& fields) : previous_(t_current_log_fields) {
  t_current_log_fields = &fields;
}

ScopedLogFields::~ScopedLogFields() {
  t_current_log_fields = previous_;
}

const LogFields* current_log_fields() {
  return t_current_log_fields;
}

}  // namespace detail
}  // namespace d4::core
