#include "alerts/cli.hpp"

#include <ctime>
#include <iostream>

#include <fmt/format.h>

#include "alerts/notify.hpp"
#include "alerts/observe.hpp"
#include "alerts/rule_store.hpp"
#include "alerts/state.hpp"
#include "core/keys.hpp"

namespace d4::alerts {

namespace keys = core::keys;
using nlohmann::json;

namespace {

std::string describe(const Rule& r) {
  auto j = r.to_json();
  std::string params;
  for (const char* k : {"target", "interval_seconds", "window_seconds", "threshold", "fill_ratio",
                        "stall_seconds", "reasons", "renotify_seconds", "resolve_seconds", "channels"})
    if (j.contains(k) && !(j[k].is_array() && j[k].empty())) params += fmt::format(" {}={}", k, j[k].dump());
  return fmt::format("{}  {:<14} {:<42} {}{}{}", r.id, to_string(r.kind), r.scope.to_string(),
                     r.enabled ? "" : "(disabled) ", r.display_name(),
                     params.empty() ? "" : "\n    " + params.substr(1));
}

std::string age(double since, double now) {
  return since > 0 ? human_duration(now - since) + " ago" : "-";
}

}  // namespace

int rule_add(const AlertsConfig& config, const Rule& rule, bool as_json) {
  core::RedisClient meta(config.common.redis.meta);
  Rule stored = RuleStore(meta, config.engine.max_rules).add(rule);
  if (as_json)
    std::cout << stored.to_json().dump(2) << "\n";
  else
    std::cout << stored.id << "\n";
  return 0;
}

int rule_list(const AlertsConfig& config, bool as_json) {
  core::RedisClient meta(config.common.redis.meta);
  auto loaded = RuleStore(meta, config.engine.max_rules).load();
  if (as_json) {
    json out = json::array();
    for (const auto& r : loaded.rules) out.push_back(r.to_json());
    std::cout << json{{"rules", out}, {"invalid", loaded.invalid}}.dump(2) << "\n";
    return 0;
  }
  for (const auto& r : loaded.rules) std::cout << describe(r) << "\n";
  for (const auto& bad : loaded.invalid) std::cout << "invalid rule (ignored): " << bad << "\n";
  if (loaded.rules.empty() && loaded.invalid.empty()) std::cout << "no alert rules\n";
  return 0;
}

int rule_remove(const AlertsConfig& config, const std::string& id) {
  core::RedisClient meta(config.common.redis.meta);
  if (!RuleStore(meta, config.engine.max_rules).remove(id)) {
    std::cerr << "d4-alerts: no alert rule " << id << "\n";
    return 1;
  }
  std::cout << "removed " << id << " (its firing alerts resolve at the next evaluation)\n";
  return 0;
}

int show_status(const AlertsConfig& config, bool as_json) {
  core::RedisClient meta(config.common.redis.meta);
  auto states = StateStore(meta).load();
  auto stats = meta.command_ok({"HGETALL", keys::kAlertStats}).as_strings();
  json j_stats = json::object();
  for (std::size_t i = 0; i + 1 < stats.size(); i += 2) j_stats[stats[i]] = stats[i + 1];
  if (as_json) {
    json list = json::array();
    for (const auto& [k, st] : states) list.push_back(st.to_json());
    std::cout << json{{"daemon", j_stats}, {"alerts", list}}.dump(2) << "\n";
    return 0;
  }
  double now = static_cast<double>(std::time(nullptr));
  double last =
      j_stats.contains("last_evaluation") ? std::stod(j_stats["last_evaluation"].get<std::string>()) : 0;
  std::cout << "last evaluation: " << age(last, now) << "\n";
  for (const char* k : {"firing", "instances", "pending_notifications", "notifications_sent",
                        "notifications_failed", "instances_over_budget", "invalid_rules"})
    if (j_stats.contains(k)) std::cout << k << ": " << j_stats[k].get<std::string>() << "\n";
  for (bool firing : {true, false})
    for (const auto& [k, st] : states) {
      if (st.firing != firing) continue;
      std::cout << fmt::format("{:<8} since {:<12} {}  {}  [{}]", firing ? "FIRING" : "resolved",
                               age(st.since, now), st.rule_name, st.instance, st.rule_id);
      if (!st.pending.empty()) std::cout << fmt::format("  ({} notification(s) pending)", st.pending.size());
      std::cout << "\n    " << st.summary << "\n";
    }
  return 0;
}

int forget_process(const AlertsConfig& config, const std::string& what, const std::string& name) {
  bool worker = what == "worker";
  if (!worker && what != "analyzer") {
    std::cerr << "d4-alerts: forget takes 'worker' or 'analyzer'\n";
    return 1;
  }
  core::RedisClient analyzer(config.common.redis.analyzer);
  auto r = analyzer.pipeline({{"SREM", std::string(worker ? keys::kWorkers : keys::kAnalyzerConsumers), name},
                              {"DEL", worker ? keys::worker_stats(name) : keys::analyzer_consumer(name)}});
  if (r[0].integer == 0) {
    std::cerr << "d4-alerts: no registered " << what << " named " << name << "\n";
    return 1;
  }
  std::cout << "forgot " << what << " " << name << "\n";
  return 0;
}

int send_test(const AlertsConfig& config, const std::string& channel) {
  for (auto& ch : make_channels(config)) {
    if (ch->name() != channel) continue;
    InstanceState st;
    st.rule_id = "test";
    st.rule_name = "test notification";
    st.kind = "test";
    st.scope = "global";
    st.instance = "d4-alerts";
    st.firing = true;
    st.since = static_cast<double>(std::time(nullptr));
    st.summary = "a test of channel " + channel + " sent by d4-alerts test";
    ch->send(Notification{Event::Firing, &st, st.since, config.engine.source});
    std::cout << "sent a test notification through " << channel << "\n";
    return 0;
  }
  std::cerr << "d4-alerts: no channel named " << channel << " in [alerts.webhook.*] or [alerts.email.*]\n";
  return 1;
}

}  // namespace d4::alerts
