#include "core/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <atomic>
#include <vector>

#include "core/log_fields.hpp"
#include "protocol/encoding.hpp"

namespace d4::core {
namespace {

std::atomic<bool> g_initialised{false};

// %j: the log message escaped for a JSON string, so sensor-supplied text cannot break a line.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped = json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// %F: the structured fields of the line (core/log_fields.hpp), as more members of the object.
class JsonFieldsFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    if (const LogFields* fields = detail::current_log_fields()) {
      const std::string& members = fields->json_members();
      dest.append(members.data(), members.data() + members.size());
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonFieldsFlag>(); }
};

}  // namespace

bool parse_log_format(std::string_view text, LogFormat& out) {
  if (text == "text")
    out = LogFormat::Text;
  else if (text == "json")
    out = LogFormat::Json;
  else
    return false;
  return true;
}

void init_logging(std::string_view component, const LogOptions& options) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!options.file.empty())
    sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file));
  auto logger = std::make_shared<spdlog::logger>(std::string(component), sinks.begin(), sinks.end());
  if (options.format == LogFormat::Json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('j').add_flag<JsonFieldsFlag>('F').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","component":"%n","pid":%P,"message":"%j"%F})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %n[%P] %v");
  }
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
  g_initialised.store(true);
}

bool logging_initialised() {
  return g_initialised.load();
}

void log_listening(std::string_view role, std::string_view host, std::uint16_t port) {
  bool v6 = host.find(':') != std::string_view::npos;
  std::string text =
      fmt::format("listening on {}{}{}:{} ({})", v6 ? "[" : "", host, v6 ? "]" : "", port, role);
  // Written whatever the configured level (log_level = "warn" included): supervisors and tests
  // learn the port of a port-0 listener from this line only.
  auto logger = spdlog::default_logger();
  spdlog::details::log_msg msg(logger->name(), spdlog::level::info, text);
  for (auto& sink : logger->sinks()) {
    sink->log(msg);
    sink->flush();
  }
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          protocol::append_hex(out, {reinterpret_cast<const std::uint8_t*>(&c), 1});
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

}  // namespace d4::core
