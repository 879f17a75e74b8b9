#include "alerts/state.hpp"

#include <algorithm>
#include <cmath>

#include "core/keys.hpp"

namespace d4::alerts {

namespace keys = core::keys;
using nlohmann::json;

std::string_view to_string(Event e) {
  switch (e) {
    case Event::Firing:
      return "firing";
    case Event::Resolved:
      return "resolved";
    case Event::Reminder:
      return "reminder";
  }
  return "firing";
}

std::optional<Event> parse_event(std::string_view text) {
  for (auto e : {Event::Firing, Event::Resolved, Event::Reminder})
    if (to_string(e) == text) return e;
  return std::nullopt;
}

json InstanceState::to_json() const {
  json l = json::object();
  for (const auto& [k, v] : labels) l[k] = v;
  json p = json::object();
  for (const auto& [ch, ev] : pending) p[ch] = to_string(ev);
  return {{"rule", rule_id},
          {"instance", instance},
          {"rule_name", rule_name},
          {"kind", kind},
          {"scope", scope},
          {"channels", channels},
          {"labels", l},
          {"status", firing ? "firing" : "resolved"},
          {"since", since},
          {"clear_since", clear_since},
          {"last_notified", last_notified},
          {"notifications", notifications},
          {"summary", summary},
          {"pending", p},
          {"attempts", attempts},
          {"next_attempt", next_attempt}};
}

InstanceState InstanceState::from_json(const json& j) {
  InstanceState s;
  s.rule_id = j.at("rule").get<std::string>();
  s.instance = j.at("instance").get<std::string>();
  s.rule_name = j.value("rule_name", "");
  s.kind = j.value("kind", "");
  s.scope = j.value("scope", "");
  s.channels = j.value("channels", std::vector<std::string>{});
  const json labels = j.value("labels", json::object());
  for (const auto& [k, v] : labels.items()) s.labels.emplace_back(k, v.get<std::string>());
  s.firing = j.at("status").get<std::string>() == "firing";
  s.since = j.value("since", 0.0);
  s.clear_since = j.value("clear_since", 0.0);
  s.last_notified = j.value("last_notified", 0.0);
  s.notifications = j.value("notifications", 0LL);
  s.summary = j.value("summary", "");
  const json pending = j.value("pending", json::object());
  for (const auto& [ch, ev] : pending.items())
    if (auto e = parse_event(ev.get<std::string>())) s.pending[ch] = *e;
  s.attempts = j.value("attempts", 0LL);
  s.next_attempt = j.value("next_attempt", 0.0);
  return s;
}

std::optional<Event> step(InstanceState& st, bool condition, double now, const Timing& timing) {
  if (!st.firing) {
    if (!condition) return std::nullopt;
    st.firing = true;
    st.since = now;
    st.clear_since = 0;
    return Event::Firing;
  }
  if (condition) {
    st.clear_since = 0;
    if (timing.renotify > 0 && now - st.last_notified >= timing.renotify) return Event::Reminder;
    return std::nullopt;
  }
  if (st.clear_since == 0) st.clear_since = now;
  if (now - st.clear_since < timing.resolve_after) return std::nullopt;
  st.firing = false;
  st.since = now;
  st.clear_since = 0;
  return Event::Resolved;
}

void queue_notification(InstanceState& st, Event event, double now) {
  for (const auto& ch : st.channels) {
    auto it = st.pending.find(ch);
    if (event == Event::Resolved && it != st.pending.end() && it->second == Event::Firing)
      st.pending.erase(it);
    else
      st.pending[ch] = event;
  }
  st.last_notified = now;
  ++st.notifications;
  if (st.pending.empty()) {
    st.attempts = 0;
    st.next_attempt = 0;
  } else {
    st.next_attempt = now;  // a change is worth an attempt at once, whatever the backoff was
  }
}

double retry_delay(long long attempts, double base, double max) {
  if (attempts <= 0) return 0;
  double d = base * std::pow(2.0, static_cast<double>(std::min<long long>(attempts - 1, 30)));
  return std::min(d, max);
}

std::map<std::string, InstanceState> StateStore::load(std::vector<std::string>* invalid) {
  std::map<std::string, InstanceState> out;
  auto v = meta_.command_ok({"HGETALL", keys::kAlertState}).as_strings();
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
    auto j = json::parse(v[i + 1], nullptr, /*allow_exceptions=*/false);
    try {
      if (j.is_discarded()) throw std::runtime_error("not JSON");
      auto st = InstanceState::from_json(j);
      if (st.key() != v[i]) throw std::runtime_error("key mismatch");
      out.emplace(v[i], std::move(st));
    } catch (const std::exception&) {
      if (invalid) invalid->push_back(v[i]);
    }
  }
  return out;
}

void StateStore::save(const std::vector<const InstanceState*>& changed,
                      const std::vector<std::string>& removed) {
  std::vector<std::vector<std::string>> cmds;
  if (!changed.empty()) {
    std::vector<std::string> hset{"HSET", std::string(keys::kAlertState)};
    for (const auto* st : changed) {
      hset.push_back(st->key());
      hset.push_back(st->to_json().dump());
    }
    cmds.push_back(std::move(hset));
  }
  if (!removed.empty()) {
    std::vector<std::string> hdel{"HDEL", std::string(keys::kAlertState)};
    hdel.insert(hdel.end(), removed.begin(), removed.end());
    cmds.push_back(std::move(hdel));
  }
  if (cmds.empty()) return;
  for (const auto& r : meta_.pipeline(cmds))
    if (r.is_error()) throw core::RedisError("saving alert state: " + r.str);
}

}  // namespace d4::alerts
