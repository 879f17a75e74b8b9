#include "alerts/engine.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "alerts/org_channels.hpp"
#include "alerts/rule_store.hpp"
#include "core/keys.hpp"
#include "core/log_fields.hpp"

namespace d4::alerts {

namespace keys = core::keys;

namespace {
// One line per change of an alert; with log_format = "json" the rule, instance and event are
// members of the line.
void log_alert_change(const InstanceState& st, Event event) {
  core::log_with(core::LogFields()
                     .add(core::log_key::kRule, st.rule_id)
                     .add("instance", st.instance)
                     .add("event", to_string(event)),
                 spdlog::level::info, "alert {} {}: {}", to_string(event), st.rule_name, st.summary);
}
}  // namespace

struct Engine::Pass {
  double now = 0;
  std::map<std::string, InstanceState> states;
  std::set<std::string> observed;    // instance keys some enabled rule observed in this pass
  std::set<std::string> live_rules;  // ids of enabled rules
  std::set<std::string> dirty, removed;
  EvaluationReport report;
};

Engine::Engine(EngineSettings settings, ObserverSources sources,
               std::vector<std::unique_ptr<Channel>> channels, core::metrics::Registry* registry)
    : settings_(std::move(settings)),
      meta_(*sources.meta),
      observer_(sources),
      channels_(std::move(channels)) {
  if (!registry) registry = &own_registry_;  // counted all the same, only not served
  counters_.evaluations = &registry->counter("d4_alerts_evaluations_total", "Rule evaluations completed");
  counters_.over_budget =
      &registry->counter("d4_alerts_instances_over_budget_total",
                         "Alerts that could not be tracked because [alerts] max_instances were already kept");
  registry_ = registry;
  for (const auto& ch : channels_) count_channel(*ch);
  registry->add_collector([this](core::metrics::Exposition& e) { collect(e); });
}

void Engine::count_channel(const Channel& ch) {
  if (counters_.sent.count(ch.name())) return;
  core::metrics::Labels l{{"channel", ch.name()}, {"type", std::string(ch.type())}};
  counters_.sent[ch.name()] =
      &registry_->counter("d4_alerts_notifications_sent_total", "Notifications delivered, by channel", l);
  counters_.failed[ch.name()] = &registry_->counter(
      "d4_alerts_notifications_failed_total", "Notification deliveries that failed (retried), by channel", l);
}

Channel* Engine::find_channel(const std::string& name) {
  for (const auto& ch : channels_)
    if (ch->name() == name) return ch.get();
  auto it = org_channels_.find(name);
  return it == org_channels_.end() ? nullptr : it->second.channel.get();
}

void Engine::load_org_channels(const std::vector<Rule>& rules,
                               const std::map<std::string, InstanceState>& states) {
  // The organisations of the enabled rules, and of the alerts kept (a rule removed or disabled
  // since still has its resolution to send).
  std::set<std::string> orgs;
  for (const auto& r : rules)
    if (r.enabled && r.scope.type == Scope::Type::Org) orgs.insert(r.scope.id);
  for (const auto& [key, st] : states)
    if (st.scope.rfind("org:", 0) == 0) orgs.insert(st.scope.substr(4));
  std::map<std::string, std::string> specs;  // full name -> stored JSON
  for (const auto& org : orgs) {
    auto reply = meta_.command({"HGETALL", keys::org_channels(org)});
    if (reply.is_error()) throw core::RedisError("HGETALL " + keys::org_channels(org) + ": " + reply.str);
    for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2)
      specs[org_channel_full_name(org, reply.elements[i].str)] = reply.elements[i + 1].str;
  }
  OrgChannelPolicy policy;
  policy.allow_http = settings_.org_webhook_allow_http;
  policy.email_relay = settings_.org_email_relay.has_value();
  for (auto it = org_channels_.begin(); it != org_channels_.end();)
    it = specs.count(it->first) ? std::next(it) : org_channels_.erase(it);
  for (const auto& [name, text] : specs) {
    auto& slot = org_channels_[name];
    if (slot.channel && slot.spec == text) continue;
    slot = {text, nullptr};
    try {
      auto spec = parse_org_channel(nlohmann::json::parse(text), policy);
      if (spec.type == "webhook") {
        slot.channel =
            make_webhook(WebhookConfig{name, spec.url, spec.headers, {}, std::chrono::milliseconds(10000)});
      } else {
        EmailConfig e = *settings_.org_email_relay;
        e.name = name;
        e.to = spec.to;
        slot.channel = make_email(std::move(e));
      }
      count_channel(*slot.channel);
    } catch (const std::exception& e) {
      if (reported_invalid_.insert(name).second)
        spdlog::error("organisation channel {} ignored: {}", name, e.what());
    }
  }
}

EvaluationReport Engine::evaluate(double now) {
  const auto started = std::chrono::steady_clock::now();
  Pass pass;
  pass.now = now;
  RuleStore rules(meta_, settings_.max_rules);
  auto loaded = rules.load();
  for (const auto& bad : loaded.invalid)
    if (reported_invalid_.insert(bad).second) spdlog::error("alert rule ignored: {}", bad);
  pass.report.invalid_rules = loaded.invalid.size();
  std::vector<std::string> invalid_states;
  pass.states = StateStore(meta_).load(&invalid_states);
  load_org_channels(loaded.rules, pass.states);
  for (const auto& k : invalid_states) pass.removed.insert(k);
  observer_.begin(now);
  for (const auto& rule : loaded.rules) {
    if (!rule.enabled) continue;
    ++pass.report.rules;
    pass.live_rules.insert(rule.id);
    observe_rule(pass, rule);
  }
  if (observer_.sensors_truncated())
    spdlog::warn("more sensors than [alerts] max_sensors: the rest are not watched in this evaluation");
  for (auto it = active_since_.begin(); it != active_since_.end();)
    it = pass.observed.count(it->first) ? std::next(it) : active_since_.erase(it);
  settle_unobserved(pass);
  deliver(pass);
  publish(pass, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  counters_.evaluations->fetch_add(1, std::memory_order_relaxed);
  return pass.report;
}

void Engine::observe_rule(Pass& pass, const Rule& rule) {
  std::vector<Observation> obs;
  try {
    obs = observer_.observe(rule);
  } catch (const core::RedisError&) {
    throw;  // the whole evaluation is retried
  } catch (const std::exception& e) {
    spdlog::error("alert rule {} ({}): {}", rule.id, rule.display_name(), e.what());
    return;
  }
  for (const auto& o : obs) apply(pass, rule, o);
}

void Engine::apply(Pass& pass, const Rule& rule, const Observation& o) {
  std::string key = rule.id + "|" + o.instance;
  pass.observed.insert(key);
  bool condition = false;
  if (o.active) {
    double first = active_since_.emplace(key, pass.now).first->second;
    double start = std::max(first, o.since.value_or(first));
    condition = pass.now - start >= o.hold;
  } else {
    active_since_.erase(key);
  }
  auto it = pass.states.find(key);
  bool known = it != pass.states.end();
  if (!condition && (!known || !it->second.firing)) return;  // nothing to tell, nothing changes
  InstanceState* st = known ? &it->second : admit(pass, key);
  if (!st) return;
  st->rule_id = rule.id;
  st->instance = o.instance;
  st->rule_name = rule.display_name();
  st->kind = std::string(to_string(rule.kind));
  st->scope = rule.scope.to_string();
  st->labels = o.labels;
  st->summary = o.summary;
  Timing timing{
      static_cast<double>(rule.resolve_seconds.value_or(static_cast<long long>(settings_.resolve_seconds))),
      static_cast<double>(
          rule.renotify_seconds.value_or(static_cast<long long>(settings_.renotify_seconds)))};
  auto event = step(*st, condition, pass.now, timing);
  if (event) {
    if (*event == Event::Firing) st->channels = channels_for(rule);
    queue_notification(*st, *event, pass.now);
    ++pass.report.events;
    log_alert_change(*st, *event);
  }
  pass.dirty.insert(key);
}

// A new instance within the budget: the oldest resolved instance with nothing left to deliver
// makes room; when every kept instance is firing or still notifying, the alert is refused and
// counted (the daemon's counters and metrics show it).
InstanceState* Engine::admit(Pass& pass, const std::string& key) {
  if (pass.states.size() >= settings_.max_instances) {
    auto victim = pass.states.end();
    for (auto it = pass.states.begin(); it != pass.states.end(); ++it)
      if (!it->second.firing && it->second.pending.empty() &&
          (victim == pass.states.end() || it->second.since < victim->second.since))
        victim = it;
    if (victim == pass.states.end()) {
      ++pass.report.over_budget;
      counters_.over_budget->fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("alert {} not tracked: {} alert instances kept already ([alerts] max_instances)", key,
                   pass.states.size());
      return nullptr;
    }
    pass.removed.insert(victim->first);
    pass.dirty.erase(victim->first);
    pass.states.erase(victim);
  }
  pass.removed.erase(key);
  return &pass.states[key];
}

// Instances that no enabled rule observed this time: their object is gone (a queue removed, a
// sensor forgotten), or their rule was removed or disabled. They resolve; at once when the rule
// is gone, else after the usual delay. Resolved instances are forgotten after the retention.
void Engine::settle_unobserved(Pass& pass) {
  for (auto it = pass.states.begin(); it != pass.states.end();) {
    auto& [key, st] = *it;
    if (!pass.observed.count(key) && st.firing) {
      bool rule_gone = !pass.live_rules.count(st.rule_id);
      Timing timing{rule_gone ? 0.0 : settings_.resolve_seconds, 0};
      if (auto ev = step(st, false, pass.now, timing)) {
        st.summary += rule_gone ? " (rule removed or disabled)" : " (no longer observed)";
        queue_notification(st, *ev, pass.now);
        ++pass.report.events;
        log_alert_change(st, *ev);
      }
      pass.dirty.insert(key);
    }
    bool expired =
        !st.firing && st.pending.empty() && pass.now - st.since > settings_.resolved_retention_seconds;
    if (expired) {
      pass.removed.insert(key);
      pass.dirty.erase(key);
      it = pass.states.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<std::string> Engine::channels_for(const Rule& rule) {
  std::vector<std::string> out;
  if (rule.scope.type == Scope::Type::Org) {
    // An organisation's rule: its own channels only (named without the "org:<uuid>/" prefix).
    const std::string prefix = org_channel_full_name(rule.scope.id, "");
    for (const auto& [name, ch] : org_channels_) {
      if (!ch.channel || name.rfind(prefix, 0) != 0) continue;
      const std::string own = name.substr(prefix.size());
      if (rule.channels.empty() ||
          std::find(rule.channels.begin(), rule.channels.end(), own) != rule.channels.end())
        out.push_back(name);
    }
    return out;
  }
  for (const auto& ch : channels_)
    if (rule.channels.empty() ||
        std::find(rule.channels.begin(), rule.channels.end(), ch->name()) != rule.channels.end())
      out.push_back(ch->name());
  for (const auto& name : rule.channels)
    if (std::find(out.begin(), out.end(), name) == out.end())
      spdlog::warn("alert rule {} names channel '{}', which is not configured", rule.id, name);
  return out;
}

// Sends what is due. A channel that failed once in this pass is not tried again before the next
// one, so an unreachable receiver costs one timeout per pass, not one per alert.
void Engine::deliver(Pass& pass) {
  std::set<std::string> failed_now;
  for (auto& [key, st] : pass.states) {
    if (st.pending.empty() || st.next_attempt > pass.now) continue;
    bool failed = false;
    for (auto it = st.pending.begin(); it != st.pending.end();) {
      Channel* ch = find_channel(it->first);
      if (!ch) {  // removed from the configuration (or the organisation's channels) since
        it = st.pending.erase(it);
        continue;
      }
      if (failed_now.count(it->first)) {
        ++it;
        continue;
      }
      try {
        ch->send(Notification{it->second, &st, pass.now, settings_.source});
        counters_.sent[it->first]->fetch_add(1, std::memory_order_relaxed);
        ++pass.report.sent;
        it = st.pending.erase(it);
      } catch (const std::exception& e) {
        counters_.failed[it->first]->fetch_add(1, std::memory_order_relaxed);
        ++pass.report.failed;
        failed = true;
        failed_now.insert(it->first);
        core::log_with(core::LogFields()
                           .add(core::log_key::kRule, st.rule_id)
                           .add("instance", st.instance)
                           .add("channel", it->first)
                           .add("event", to_string(it->second))
                           .add(core::log_key::kDetail, e.what()),
                       spdlog::level::warn, "notification {} of {} not delivered (retried later): {}",
                       to_string(it->second), key, e.what());
        ++it;
      }
    }
    if (failed) {
      ++st.attempts;
      st.next_attempt =
          pass.now + retry_delay(st.attempts, settings_.retry_base_seconds, settings_.retry_max_seconds);
    } else if (st.pending.empty()) {
      st.attempts = 0;
      st.next_attempt = 0;
    }
    pass.dirty.insert(key);
  }
}

void Engine::publish(Pass& pass, double seconds) {
  std::vector<const InstanceState*> changed;
  std::vector<InstanceState> firing;
  for (const auto& [key, st] : pass.states) {
    if (pass.dirty.count(key)) changed.push_back(&st);
    if (st.firing) firing.push_back(st);
    pass.report.pending += st.pending.size();
  }
  StateStore(meta_).save(changed, {pass.removed.begin(), pass.removed.end()});
  pass.report.firing = firing.size();
  pass.report.instances = pass.states.size();
  const auto& r = pass.report;
  meta_.pipeline(
      {{"HSET", std::string(keys::kAlertStats), "last_evaluation", std::to_string(pass.now), "rules",
        std::to_string(r.rules), "invalid_rules", std::to_string(r.invalid_rules), "firing",
        std::to_string(r.firing), "instances", std::to_string(r.instances), "pending_notifications",
        std::to_string(r.pending), "source", settings_.source},
       {"HINCRBY", std::string(keys::kAlertStats), "evaluations", "1"},
       {"HINCRBY", std::string(keys::kAlertStats), "notifications_sent", std::to_string(r.sent)},
       {"HINCRBY", std::string(keys::kAlertStats), "notifications_failed", std::to_string(r.failed)},
       {"HINCRBY", std::string(keys::kAlertStats), "instances_over_budget", std::to_string(r.over_budget)}});
  std::lock_guard lock(view_mu_);
  firing_view_ = std::move(firing);
  last_report_ = r;
  last_evaluation_ = pass.now;
  last_duration_ = seconds;
}

void Engine::collect(core::metrics::Exposition& e) const {
  std::lock_guard lock(view_mu_);
  for (const auto& st : firing_view_) {
    core::metrics::Labels l{
        {"rule", st.rule_name}, {"rule_id", st.rule_id}, {"kind", st.kind}, {"scope", st.scope}};
    l.insert(l.end(), st.labels.begin(), st.labels.end());
    e.gauge("d4_alerts_firing", "1 for every firing alert (rule, kind, scope and the watched object)", l, 1);
  }
  e.gauge("d4_alerts_firing_count", "Alerts firing", {}, static_cast<double>(last_report_.firing));
  e.gauge("d4_alerts_rules", "Enabled alert rules", {}, static_cast<double>(last_report_.rules));
  e.gauge("d4_alerts_rules_invalid", "Stored alert rules that do not parse (ignored)", {},
          static_cast<double>(last_report_.invalid_rules));
  e.gauge("d4_alerts_instances", "Alert instances kept (firing and resolved)", {},
          static_cast<double>(last_report_.instances));
  e.gauge("d4_alerts_notifications_pending", "Notifications waiting for a retry", {},
          static_cast<double>(last_report_.pending));
  e.gauge("d4_alerts_last_evaluation_timestamp_seconds", "When the rules were last evaluated (0: never)", {},
          last_evaluation_);
  e.gauge("d4_alerts_last_evaluation_duration_seconds",
          "How long the last evaluation took (reads, notifications, state written)", {}, last_duration_);
}

}  // namespace d4::alerts
