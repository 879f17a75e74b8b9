#pragma once
// Alert instances: one per (rule, watched object) that has fired, kept in Redis (d4:alerts:state)
// so that the state survives the daemon and is shown by the CLI and the web interface.
//
// The life of an instance, without storms (docs/alerts.md):
//   - it fires when its condition holds (one "firing" notification);
//   - while firing, a "reminder" every renotify interval (0: never);
//   - it resolves only after its condition has stayed clear for the resolve delay, so a condition
//     that flaps faster than that stays one firing alert (one "resolved" notification at the end);
//   - a notification that could not be delivered stays pending per channel and is retried with
//     backoff; a later change replaces it (a "resolved" cancels a "firing" the channel never got).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/metrics.hpp"
#include "core/redis_client.hpp"

namespace d4::alerts {

enum class Event { Firing, Resolved, Reminder };
std::string_view to_string(Event e);
std::optional<Event> parse_event(std::string_view text);

struct InstanceState {
  std::string rule_id, instance;
  // A copy of the rule's description, so that the instance can still be shown and resolved
  // after its rule was removed.
  std::string rule_name, kind, scope;
  std::vector<std::string> channels;  // the channels notified about this instance
  core::metrics::Labels labels;
  bool firing = false;
  double since = 0;          // when it fired, or resolved
  double clear_since = 0;    // firing, condition clear since then (0: not clear)
  double last_notified = 0;  // when the last notification was queued
  long long notifications = 0;
  std::string summary;
  std::map<std::string, Event> pending;  // channel -> notification not yet delivered
  long long attempts = 0;                // failed deliveries of the pending notifications
  double next_attempt = 0;

  std::string key() const { return rule_id + "|" + instance; }
  nlohmann::json to_json() const;
  static InstanceState from_json(const nlohmann::json& j);  // throws nlohmann::json::exception
};

struct Timing {
  double resolve_after = 60;  // seconds clear before resolving
  double renotify = 0;        // seconds between reminders while firing; 0: never
};

// One evaluation step of an instance: `condition` is whether its rule's condition holds now.
// Updates the state and returns the notification to send, if any. A fresh (never fired) state has
// firing == false and since == 0.
std::optional<Event> step(InstanceState& st, bool condition, double now, const Timing& timing);

// Queues `event` for every channel of the instance, replacing what was pending (a "resolved"
// cancels a "firing" never delivered: that channel was never told).
void queue_notification(InstanceState& st, Event event, double now);

// Delay before retrying after `attempts` failed deliveries: min(base * 2^(attempts-1), max).
double retry_delay(long long attempts, double base, double max);

// The instances in Redis.
class StateStore {
 public:
  explicit StateStore(core::RedisClient& meta) : meta_(meta) {}
  // Every stored instance; records that do not parse are returned in `invalid` (their keys).
  std::map<std::string, InstanceState> load(std::vector<std::string>* invalid = nullptr);
  void save(const std::vector<const InstanceState*>& changed, const std::vector<std::string>& removed);

 private:
  core::RedisClient& meta_;
};

}  // namespace d4::alerts
