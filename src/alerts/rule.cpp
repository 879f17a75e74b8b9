#include "alerts/rule.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/sensors.hpp"

namespace d4::alerts {

namespace {

using nlohmann::json;

constexpr std::pair<Kind, std::string_view> kKindNames[] = {
    {Kind::SensorSilent, "sensor_silent"}, {Kind::SensorError, "sensor_error"},
    {Kind::QueueFull, "queue_full"},       {Kind::QueueStalled, "queue_stalled"},
    {Kind::WorkerDown, "worker_down"},     {Kind::AnalyzerDown, "analyzer_down"},
};

// Upper bounds keep every duration well inside the arithmetic of epoch seconds.
constexpr long long kMaxSeconds = 366LL * 86400;
constexpr std::size_t kMaxText = 200;
constexpr std::size_t kMaxListItems = 32;

void check_seconds(std::string_view what, long long v, long long min) {
  if (v < min || v > kMaxSeconds)
    throw RuleError(fmt::format("{} must be between {} and {} seconds", what, min, kMaxSeconds));
}

void check_text(std::string_view what, const std::string& v) {
  if (v.size() > kMaxText) throw RuleError(fmt::format("{} is longer than {} characters", what, kMaxText));
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f) throw RuleError(fmt::format("{} contains a control character", what));
}

void check_list(std::string_view what, const std::vector<std::string>& v) {
  if (v.size() > kMaxListItems)
    throw RuleError(fmt::format("{} has more than {} items", what, kMaxListItems));
  for (const auto& s : v) {
    if (s.empty()) throw RuleError(fmt::format("{} has an empty item", what));
    check_text(what, s);
  }
}

template <typename T>
T field(const json& j, const char* key, T def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw RuleError(fmt::format("rule field '{}' has the wrong type", key));
  }
}

}  // namespace

std::string_view to_string(Kind k) {
  for (const auto& [kind, name] : kKindNames)
    if (kind == k) return name;
  return "unknown";
}

std::optional<Kind> parse_kind(std::string_view text) {
  for (const auto& [kind, name] : kKindNames)
    if (name == text) return kind;
  return std::nullopt;
}

const std::vector<Kind>& all_kinds() {
  static const std::vector<Kind> kinds = [] {
    std::vector<Kind> v;
    for (const auto& [kind, name] : kKindNames) v.push_back(kind);
    return v;
  }();
  return kinds;
}

bool is_sensor_kind(Kind k) {
  return k == Kind::SensorSilent || k == Kind::SensorError;
}
bool is_queue_kind(Kind k) {
  return k == Kind::QueueFull || k == Kind::QueueStalled;
}

Scope Scope::parse(std::string_view text) {
  if (text.empty() || text == "global") return {};
  auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    auto prefix = text.substr(0, colon);
    auto uuid = core::normalize_sensor_uuid(text.substr(colon + 1));
    if (prefix == "sensor" || prefix == "org") {
      if (!uuid) throw RuleError(fmt::format("scope '{}': not a UUID after '{}:'", text, prefix));
      return {prefix == "sensor" ? Type::Sensor : Type::Org, *uuid};
    }
  }
  throw RuleError(fmt::format("scope '{}' must be global, sensor:<uuid> or org:<uuid>", text));
}

std::string Scope::to_string() const {
  switch (type) {
    case Type::Sensor:
      return "sensor:" + id;
    case Type::Org:
      return "org:" + id;
    case Type::Global:
      break;
  }
  return "global";
}

void Rule::validate() const {
  check_text("name", name);
  check_text("target", target);
  if (scope.type == Scope::Type::Sensor && !is_sensor_kind(kind) && !is_queue_kind(kind))
    throw RuleError(fmt::format(
        "a {} rule cannot have a sensor scope (workers and analyzers serve every sensor)", to_string(kind)));
  if (!target.empty() && is_sensor_kind(kind))
    throw RuleError("a sensor rule takes its sensor from the scope (sensor:<uuid>), not from target");
  if (kind == Kind::SensorSilent) check_seconds("interval_seconds", interval_seconds, 0);
  if (kind == Kind::SensorError || kind == Kind::QueueFull)
    check_seconds("window_seconds", window_seconds, 1);
  if (kind == Kind::SensorError && (threshold < 1 || threshold > 1000000))
    throw RuleError("threshold must be between 1 and 1000000");
  if (kind == Kind::QueueFull && !(fill_ratio > 0 && fill_ratio <= 1))
    throw RuleError("fill_ratio must be greater than 0 and at most 1");
  if (kind == Kind::QueueStalled || kind == Kind::WorkerDown || kind == Kind::AnalyzerDown)
    check_seconds("stall_seconds", stall_seconds, 1);
  if (!reasons.empty() && kind != Kind::SensorError)
    throw RuleError("reasons apply to sensor_error rules only");
  check_list("reasons", reasons);
  check_list("channels", channels);
  if (renotify_seconds) check_seconds("renotify_seconds", *renotify_seconds, 0);
  if (resolve_seconds) check_seconds("resolve_seconds", *resolve_seconds, 0);
}

json Rule::to_json() const {
  json j{{"id", id},           {"name", name},        {"kind", to_string(kind)}, {"scope", scope.to_string()},
         {"enabled", enabled}, {"channels", channels}};
  if (!target.empty()) j["target"] = target;
  switch (kind) {
    case Kind::SensorSilent:
      j["interval_seconds"] = interval_seconds;
      break;
    case Kind::SensorError:
      j["window_seconds"] = window_seconds;
      j["threshold"] = threshold;
      j["reasons"] = reasons;
      break;
    case Kind::QueueFull:
      j["fill_ratio"] = fill_ratio;
      j["window_seconds"] = window_seconds;
      break;
    case Kind::QueueStalled:
    case Kind::WorkerDown:
    case Kind::AnalyzerDown:
      j["stall_seconds"] = stall_seconds;
      break;
  }
  if (renotify_seconds) j["renotify_seconds"] = *renotify_seconds;
  if (resolve_seconds) j["resolve_seconds"] = *resolve_seconds;
  return j;
}

Rule Rule::from_json(const json& j) {
  if (!j.is_object()) throw RuleError("a rule is a JSON object");
  static const std::set<std::string> known{"id",
                                           "name",
                                           "kind",
                                           "scope",
                                           "target",
                                           "interval_seconds",
                                           "window_seconds",
                                           "threshold",
                                           "fill_ratio",
                                           "stall_seconds",
                                           "reasons",
                                           "renotify_seconds",
                                           "resolve_seconds",
                                           "channels",
                                           "enabled"};
  for (const auto& [k, v] : j.items())
    if (!known.count(k)) throw RuleError(fmt::format("unknown rule field '{}'", k));
  Rule r;
  r.id = field<std::string>(j, "id", "");
  r.name = field<std::string>(j, "name", "");
  auto kind_text = field<std::string>(j, "kind", "");
  auto kind = parse_kind(kind_text);
  if (!kind) {
    std::string names;
    for (auto k : all_kinds()) names += (names.empty() ? "" : ", ") + std::string(to_string(k));
    throw RuleError(fmt::format("kind '{}' is not one of {}", kind_text, names));
  }
  r.kind = *kind;
  r.scope = Scope::parse(field<std::string>(j, "scope", "global"));
  r.target = field<std::string>(j, "target", "");
  r.interval_seconds = field<long long>(j, "interval_seconds", r.interval_seconds);
  r.window_seconds = field<long long>(j, "window_seconds", r.window_seconds);
  r.threshold = field<long long>(j, "threshold", r.threshold);
  r.fill_ratio = field<double>(j, "fill_ratio", r.fill_ratio);
  r.stall_seconds = field<long long>(j, "stall_seconds", r.stall_seconds);
  r.reasons = field<std::vector<std::string>>(j, "reasons", {});
  r.channels = field<std::vector<std::string>>(j, "channels", {});
  if (j.contains("renotify_seconds") && !j["renotify_seconds"].is_null())
    r.renotify_seconds = field<long long>(j, "renotify_seconds", 0);
  if (j.contains("resolve_seconds") && !j["resolve_seconds"].is_null())
    r.resolve_seconds = field<long long>(j, "resolve_seconds", 0);
  r.enabled = field<bool>(j, "enabled", true);
  r.validate();
  return r;
}

}  // namespace d4::alerts
