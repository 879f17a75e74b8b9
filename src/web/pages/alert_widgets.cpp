// The pieces the alert pages share (/alerts, /alerts/rules/..., a sensor's page): the table of
// alerts and the fields of a rule's form.
#include <chrono>

#include "protocol/clock.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {
std::string duration_text(long long seconds) {
  seconds = std::max<long long>(seconds, 0);
  long long d = seconds / 86400, h = seconds % 86400 / 3600, m = seconds % 3600 / 60, s = seconds % 60;
  if (d) return std::to_string(d) + "d " + std::to_string(h) + "h";
  if (h) return std::to_string(h) + "h " + std::to_string(m) + "m";
  if (m) return std::to_string(m) + "m " + std::to_string(s) + "s";
  return std::to_string(s) + "s";
}

Html watched(const models::AlertView& a) {
  if (auto it = a.labels.find("sensor"); it != a.labels.end()) return sensor_link(it->second);
  if (auto it = a.labels.find("queue"); it != a.labels.end())
    return "queue "_h + html::link("/queues/" + it->second, it->second, "mono");
  return "<span class=\"mono\">"_h << a.instance << "</span>"_h;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& e : v) out += (out.empty() ? "" : ", ") + e;
  return out;
}

// A labelled input named `name` (id "ar-<name>").
Html field(std::string_view name, std::string_view label, const Html& input) {
  return "<label"_h << html::attribute("for", "ar-" + std::string(name)) << ">"_h << label << "</label>"_h
                    << input;
}
Html input(std::string_view name, std::string_view value, const Html& extra = {}) {
  return "<input"_h << html::attribute("id", "ar-" + std::string(name)) << html::attribute("name", name)
                    << extra << html::attribute("value", value) << ">"_h;
}
Html number(std::string_view name, const std::optional<long long>& value) {
  return input(name, number_or_empty(value), " type=\"number\" min=\"0\""_h);
}
}  // namespace

Html alert_table(const std::vector<models::AlertView>& alerts, bool with_rule) {
  double now = clock::unix_seconds_fractional();
  Html b = "<div class=\"scroll\"><table class=\"alerts\">"_h;
  b << (with_rule ? table_head({"State", "Since", "Rule", "Kind", "Watched", "Summary", "Notified"})
                  : table_head({"State", "Since", "Kind", "Watched", "Summary", "Notified"}))
    << "<tbody>"_h;
  for (const auto& a : alerts) {
    b << "<tr><td>"_h << html::badge(a.status, a.firing() ? "bad" : "ok") << "</td><td>"_h
      << html::format_time(static_cast<long long>(a.since)) << " <span class=\"hint\">("_h
      << duration_text(static_cast<long long>(now - a.since)) << " ago)</span></td>"_h;
    if (with_rule) b << "<td>"_h << html::link("/alerts/rules/" + a.rule_id, a.rule_name) << "</td>"_h;
    b << "<td>"_h << a.kind << "</td><td>"_h << watched(a) << "</td><td>"_h << a.summary
      << "</td><td class=\"num\">"_h << a.notifications << "</td></tr>"_h;
  }
  if (alerts.empty()) b << empty_row(with_rule ? 7 : 6, "No alert.");
  return b << "</tbody></table></div>"_h;
}

Html alert_rule_fields(const WebConfig& cfg, const Identity& id, const alerts::Rule& rule,
                       std::string_view scope_text) {
  using alerts::Kind;
  const bool admin = role_allows(id.role, Role::Admin);
  auto param = [&](bool applies, long long v) {
    return applies ? std::optional<long long>(v) : std::nullopt;
  };
  Html kinds;
  for (auto k : alerts::all_kinds())
    kinds << "<option"_h << (k == rule.kind ? " selected"_h : Html()) << ">"_h << alerts::to_string(k)
          << "</option>"_h;
  Html b = field("name", "Name (empty: kind and scope)", input("name", rule.name, " maxlength=\"200\""_h));
  b << field("kind", "Kind", "<select id=\"ar-kind\" name=\"kind\" required>"_h << kinds << "</select>"_h)
    << field("scope",
             admin ? "Scope: global, sensor:<uuid> or org:<uuid>"
                   : "Scope: sensor:<uuid> (global and organisation rules are set by administrators)",
             input("scope", scope_text, " required maxlength=\"80\" class=\"mono\""_h))
    << field("target", "Target (queue kinds: a queue UUID; worker_down / analyzer_down: a process name)",
             input("target", rule.target, " maxlength=\"200\""_h))
    << field("interval_seconds",
             "sensor_silent: expected interval, seconds (0: the sensor's monitoring interval)",
             number("interval_seconds", param(rule.kind == Kind::SensorSilent, rule.interval_seconds)))
    << field("window_seconds", "sensor_error, queue_full: window, seconds",
             number("window_seconds", param(rule.kind == Kind::SensorError || rule.kind == Kind::QueueFull,
                                            rule.window_seconds)))
    << field("threshold", "sensor_error: errors within the window",
             number("threshold", param(rule.kind == Kind::SensorError, rule.threshold)))
    << field("reasons", "sensor_error: only these reasons (comma separated; empty: any)",
             input("reasons", joined(rule.reasons)))
    << field("fill_ratio", "queue_full: fill ratio (0-1)",
             input("fill_ratio", rule.kind == Kind::QueueFull ? nlohmann::json(rule.fill_ratio).dump() : "",
                   " type=\"number\" min=\"0\" max=\"1\" step=\"0.01\""_h))
    << field("stall_seconds", "queue_stalled, worker_down, analyzer_down: seconds without activity",
             number("stall_seconds", param(!alerts::is_sensor_kind(rule.kind) && rule.kind != Kind::QueueFull,
                                           rule.stall_seconds)))
    << field("channels",
             "Channels (comma separated; empty: all; " +
                 (cfg.alert_channels.empty() ? std::string("the channels d4-alerts is configured with")
                                             : "configured: " + joined(cfg.alert_channels)) +
                 ")",
             input("channels", joined(rule.channels)))
    << field("renotify_seconds", "Remind every, seconds (empty: default; 0: never)",
             number("renotify_seconds", rule.renotify_seconds))
    << field("resolve_seconds", "Resolve after clear for, seconds (empty: default)",
             number("resolve_seconds", rule.resolve_seconds))
    << field("enabled", "Enabled",
             "<select id=\"ar-enabled\" name=\"enabled\"><option value=\"true\">yes</option><option "
             "value=\"false\""_h
                 << (rule.enabled ? Html() : " selected"_h) << ">no</option></select>"_h);
  return b;
}

}  // namespace d4::web::pages
