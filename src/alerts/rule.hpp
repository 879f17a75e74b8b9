#pragma once
// Alert rules: what to watch (a kind of condition with its parameters), where (a scope) and whom
// to tell (notification channels). Rules are stored as JSON in Redis (rule_store.hpp) so that the
// CLI, the web API and the daemon share them; docs/alerts.md describes every kind and parameter.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace d4::alerts {

class RuleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Kind {
  SensorSilent,  // no data for longer than the expected interval
  SensorError,   // Error field set, or errors/rejects within a window
  QueueFull,     // length >= fill ratio of the bound, or elements dropped within a window
  QueueStalled,  // elements waiting and no consumer activity for stall_seconds
  WorkerDown,    // a registered d4-worker without a fresh statistics hash
  AnalyzerDown,  // a registered analyzer queue consumer without a fresh heartbeat
};
std::string_view to_string(Kind k);
std::optional<Kind> parse_kind(std::string_view text);
// Every kind, in the order above (for help texts and validation messages).
const std::vector<Kind>& all_kinds();
bool is_sensor_kind(Kind k);
bool is_queue_kind(Kind k);

// global, sensor:<uuid>, or org:<uuid>. An org rule watches the organisation's sensors and the
// group queues fed only by them (core/organisations.hpp); workers and analyzer consumers serve
// every organisation, so the down kinds watch them all (docs/alerts.md).
struct Scope {
  enum class Type { Global, Sensor, Org };
  Type type = Type::Global;
  std::string id;                             // dashless lowercase UUID for sensor and org scopes
  static Scope parse(std::string_view text);  // throws RuleError
  std::string to_string() const;
  friend bool operator==(const Scope&, const Scope&) = default;
};

struct Rule {
  std::string id;    // 16 hex digits, given by the store
  std::string name;  // operator's label (defaults to "<kind> <scope>")
  Kind kind = Kind::SensorSilent;
  Scope scope;
  // Narrows a rule to one queue (queue kinds: its UUID), one worker name (worker_down) or one
  // consumer name (analyzer_down). With a target, the down kinds also fire when the named process
  // is not registered at all (it stopped cleanly or never started).
  std::string target;
  long long interval_seconds = 0;  // sensor_silent: expected interval; 0: the sensor's monitoring delta_time
  long long window_seconds = 300;  // sensor_error: errors counted over it; queue_full: drops within it
  long long threshold = 1;         // sensor_error: errors within the window that make an error
  double fill_ratio = 0.9;         // queue_full: length / bound
  long long stall_seconds = 300;   // queue_stalled: no consumption; *_down: heartbeat age
  std::vector<std::string> reasons;  // sensor_error: only these reasons (empty: any, and the Error field)
  std::optional<long long> renotify_seconds;  // while firing; unset: [alerts] renotify_seconds; 0: never
  std::optional<long long> resolve_seconds;   // clear this long before resolving; unset: [alerts] default
  std::vector<std::string> channels;          // notification channels by name; empty: every channel
  bool enabled = true;

  void validate() const;  // throws RuleError naming the parameter
  nlohmann::json to_json() const;
  static Rule from_json(const nlohmann::json& j);  // validates; throws RuleError
  std::string display_name() const {
    return name.empty() ? std::string(to_string(kind)) + " " + scope.to_string() : name;
  }
};

}  // namespace d4::alerts
