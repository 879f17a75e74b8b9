// Read model of the alerts and their rules.
#include "web/models/alerts.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "alerts/state.hpp"
#include "core/keys.hpp"

namespace d4::web::models {

namespace {

// Fields of a rule by how request input gives them (docs/alerts.md lists their meaning).
const std::set<std::string, std::less<>> kTextFields{"name", "kind", "scope", "target"};
const std::set<std::string, std::less<>> kIntegerFields{"interval_seconds", "window_seconds", "threshold",
                                                        "stall_seconds"};
const std::set<std::string, std::less<>> kDefaultedFields{"renotify_seconds", "resolve_seconds"};
// The parameters of one kind: a kind changed by an edit drops the old kind's.
const char* const kKindParameters[] = {"interval_seconds", "window_seconds", "threshold",
                                       "fill_ratio",       "stall_seconds",  "reasons"};
// Sent by forms (and shown by GET) but not part of what a client sets.
const std::set<std::string, std::less<>> kIgnoredFields{"csrf_token", "next", "_method", "id",
                                                        "display_name"};

double ratio_of(const Input& in, const std::string& k) {
  const json& v = in.body()[k];
  if (v.is_number()) return v.get<double>();
  std::string text = in.str(k);
  double d = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ec != std::errc() || p != text.data() + text.size())
    throw ApiError(400, "parameter '" + k + "' must be a number");
  return d;
}

void merge_field(json& j, const Input& in, const std::string& k) {
  if (kTextFields.count(k)) {
    std::string v = in.str(k);
    // An empty kind or scope (a form's untouched field) keeps what there was.
    if (!v.empty() || k == "name" || k == "target") j[k] = v;
  } else if (kIntegerFields.count(k)) {
    if (auto v = in.integer(k)) j[k] = *v;
  } else if (kDefaultedFields.count(k)) {
    auto v = in.integer(k);
    j[k] = v ? json(*v) : json(nullptr);
  } else if (k == "fill_ratio") {
    if (!in.str(k).empty()) j[k] = ratio_of(in, k);
  } else if (k == "reasons" || k == "channels") {
    j[k] = in.list(k);
  } else if (k == "enabled") {
    j[k] = in.flag(k);
  } else {
    throw ApiError(400, "unknown rule field '" + k + "'");
  }
}

void check_channels(Db& d, const WebConfig& cfg, const alerts::Rule& r) {
  if (r.scope.type == alerts::Scope::Type::Org) {
    // An organisation's rule notifies through the organisation's own channels only.
    for (const auto& c : r.channels)
      if (d.meta.command({"HEXISTS", core::keys::org_channels(r.scope.id), c}).integer != 1)
        throw ApiError(400, "the organisation has no notification channel named '" + c + "'");
    return;
  }
  if (cfg.alert_channels.empty()) return;  // d4-alerts' channels are configured elsewhere
  for (const auto& c : r.channels)
    if (std::find(cfg.alert_channels.begin(), cfg.alert_channels.end(), c) == cfg.alert_channels.end())
      throw ApiError(400, "no notification channel named '" + c + "' is configured");
}

}  // namespace

bool may_see_rule(const Scope& viewer, const alerts::Scope& rule_scope) {
  using T = alerts::Scope::Type;
  if (viewer.unrestricted()) return true;
  if (rule_scope.type == T::Sensor) return viewer.covers(rule_scope.id);
  return rule_scope.type == T::Org && rule_scope.id == viewer.org();
}

bool may_manage_rule(Role role, const Scope& viewer, const alerts::Scope& rule_scope) {
  using T = alerts::Scope::Type;
  if (role_allows(role, Role::Admin)) return true;
  if (rule_scope.type == T::Sensor) return viewer.covers(rule_scope.id);
  return rule_scope.type == T::Org && !viewer.org().empty() && rule_scope.id == viewer.org();
}

void require_rule_rights(Db& d, Role role, const Scope& viewer, const alerts::Scope& rule_scope) {
  // Another organisation's sensor answers like an unknown one.
  if (rule_scope.type == alerts::Scope::Type::Sensor) viewer.require_sensor(d, rule_scope.id);
  if (!may_manage_rule(role, viewer, rule_scope))
    throw ApiError(403, "only administrators may manage global alert rules and other organisations' rules");
}

void to_json(json& j, const RuleView& v) {
  j = v.rule.to_json();
  j["display_name"] = v.rule.display_name();
  j["editable"] = v.editable;
}

void to_json(json& j, const RuleDetail& v) {
  j = json(v.rule);
  j["alerts"] = v.alerts;
}

alerts::Rule Alerts::from_input(const Input& in, const alerts::Rule* base) const {
  json j = base ? base->to_json() : json::object();
  std::string kind = in.str("kind");
  if (base && !kind.empty() && kind != alerts::to_string(base->kind))
    for (const char* k : kKindParameters) j.erase(k);
  for (const auto& [k, v] : in.body().items())
    if (!kIgnoredFields.count(k)) merge_field(j, in, k);
  if (!j.contains("kind")) throw ApiError(400, "parameter 'kind' is required");
  alerts::Rule r;
  try {
    r = alerts::Rule::from_json(j);
  } catch (const alerts::RuleError& e) {
    throw ApiError(400, e.what());
  }
  r.id = base ? base->id : "";
  check_channels(db_, cfg_, r);
  return r;
}

alerts::Rule Alerts::require_rule(const std::string& id, const Scope& viewer) {
  std::optional<alerts::Rule> r;
  try {
    r = store().get(id);
  } catch (const alerts::RuleError& e) {
    throw ApiError(500, "alert rule " + id + " is stored in a form that does not parse: " + e.what());
  }
  if (!r || !may_see_rule(viewer, r->scope)) throw ApiError(404, "no such alert rule");
  return *r;
}

RuleList Alerts::rules(Role role, const Scope& viewer) {
  auto load = store().load();
  RuleList l{{}, {}, cfg_.alert_max_rules, cfg_.alert_channels};
  if (viewer.unrestricted()) l.invalid = std::move(load.invalid);
  for (auto& r : load.rules) {
    if (!may_see_rule(viewer, r.scope)) continue;
    bool editable = may_manage_rule(role, viewer, r.scope);
    l.items.push_back({std::move(r), editable});
  }
  return l;
}

RuleDetail Alerts::rule(const std::string& id, Role role, const Scope& viewer) {
  auto r = require_rule(id, viewer);
  bool editable = may_manage_rule(role, viewer, r.scope);
  auto alerts = list({{}, {}, r.id}, viewer).items;
  return {{std::move(r), editable}, std::move(alerts)};
}

namespace {
AlertView alert_view(const alerts::InstanceState& st) {
  AlertView v{st.rule_id,       st.rule_name,     st.kind,
              st.scope,         st.instance,      st.firing ? "firing" : "resolved",
              st.since,         st.summary,       {},
              st.notifications, st.last_notified, {}};
  for (const auto& [k, value] : st.labels) v.labels[k] = value;
  for (const auto& [channel, event] : st.pending) v.pending.push_back(channel);
  return v;
}

// An alert about a sensor is the sensor's organisation's; one about no sensor (a queue, a
// process) belongs to the organisation whose rule raised it, or to the administrators.
bool alert_visible(const AlertView& a, const Scope& viewer) {
  if (viewer.unrestricted()) return true;
  if (auto it = a.labels.find("sensor"); it != a.labels.end()) return viewer.covers(it->second);
  return !viewer.org().empty() && a.scope == "org:" + viewer.org();
}

bool wanted(const AlertView& a, const AlertFilter& f) {
  if (!f.status.empty() && a.status != f.status) return false;
  if (!f.rule.empty() && a.rule_id != f.rule) return false;
  if (!f.sensor.empty()) {
    auto it = a.labels.find("sensor");
    if (it == a.labels.end() || it->second != f.sensor) return false;
  }
  return true;
}
}  // namespace

AlertList Alerts::list(const AlertFilter& f, const Scope& viewer) {
  AlertList l;
  for (const auto& [key, st] : alerts::StateStore(db_.meta).load()) {
    auto v = alert_view(st);
    if (!alert_visible(v, viewer)) continue;
    l.firing += v.firing() ? 1 : 0;
    if (wanted(v, f)) l.items.push_back(std::move(v));
  }
  std::sort(l.items.begin(), l.items.end(), [](const AlertView& a, const AlertView& b) {
    if (a.firing() != b.firing()) return a.firing();
    return a.since > b.since;
  });
  if (!viewer.unrestricted()) return l;  // the daemon's figures count every organisation's alerts
  for (auto& [k, v] : hash_pairs(db_.meta.command_ok({"HGETALL", core::keys::kAlertStats}))) l.daemon[k] = v;
  return l;
}

}  // namespace d4::web::models
