#pragma once
// Read model of the alerts and their rules (/alerts, /alerts/rules/..., /api/v1/alerts...): the
// rules are those of d4-alerts (alerts::RuleStore, d4:alerts:rules), the alerts the state its
// daemon keeps (d4:alerts:state). docs/alerts.md.
//
// Who sees and may change a rule (docs/web.md#organisations): administrators every rule; a user
// the rules of the sensors in its scope and of its own organisation (an organisation rule watches
// that organisation's sensors and queues); global rules are administrators' only. A user whose
// scope is restricted to its organisation sees only the alerts about its own sensors and its
// organisation's rules.
#include <map>
#include <string>
#include <vector>

#include "alerts/rule.hpp"
#include "alerts/rule_store.hpp"
#include "web/auth/scope.hpp"
#include "web/auth/users.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"
#include "web/request.hpp"
#include "web/web_config.hpp"

namespace d4::web::models {

// Whether `viewer` (role and scope) sees a rule of `rule_scope` at all.
bool may_see_rule(const Scope& viewer, const alerts::Scope& rule_scope);
bool may_manage_rule(Role role, const Scope& viewer, const alerts::Scope& rule_scope);
// ApiError 404 (a sensor or rule the viewer may not see, like an unknown one) or 403 unless
// may_manage_rule.
void require_rule_rights(Db& d, Role role, const Scope& viewer, const alerts::Scope& rule_scope);

// A rule as stored, its display name, and whether the viewer may change it.
struct RuleView {
  alerts::Rule rule;
  bool editable = false;
};
void to_json(json& j, const RuleView& v);

struct RuleList {
  std::vector<RuleView> items;
  std::vector<std::string> invalid;  // "<id>: <reason>" of stored rules that do not parse
  std::size_t max_rules = 0;
  std::vector<std::string> channels;  // configured notification channels
};
D4_VIEW_TO_JSON(RuleList, items, invalid, max_rules, channels)

// One alert (an instance of a rule) as d4-alerts keeps it.
struct AlertView {
  std::string rule_id, rule_name, kind, scope, instance;
  std::string status;  // firing, resolved
  double since = 0;    // when it fired, or resolved
  std::string summary;
  std::map<std::string, std::string> labels;  // sensor, queue, type, worker, consumer
  long long notifications = 0;
  double last_notified = 0;
  std::vector<std::string> pending;  // channels not yet told
  bool firing() const { return status == "firing"; }
};
D4_VIEW_TO_JSON(AlertView, rule_id, rule_name, kind, scope, instance, status, since, summary, labels,
                notifications, last_notified, pending)

// Which alerts: status "firing", "resolved" or "" (both); sensor: only that sensor's (dashless
// UUID); rule: only that rule's.
struct AlertFilter {
  std::string status, sensor, rule;
};

struct AlertList {
  long long firing = 0;  // of every alert, not only those listed
  std::vector<AlertView> items;
  std::map<std::string, std::string> daemon;  // d4-alerts' own figures (d4:alerts:stats)
};
D4_VIEW_TO_JSON(AlertList, firing, items, daemon)

struct RuleDetail {
  RuleView rule;
  std::vector<AlertView> alerts;
};
void to_json(json& j, const RuleDetail& v);

class Alerts {
 public:
  Alerts(Db& db, const WebConfig& cfg) : db_(db), cfg_(cfg) {}
  alerts::RuleStore store() { return alerts::RuleStore(db_.meta, cfg_.alert_max_rules); }

  // Firing first, then the most recent change first.
  AlertList list(const AlertFilter& f, const Scope& viewer);
  RuleList rules(Role role, const Scope& viewer);
  RuleDetail rule(const std::string& id, Role role, const Scope& viewer);  // ApiError 404
  // ApiError 404 when there is no such rule, or `viewer` may not see it.
  alerts::Rule require_rule(const std::string& id, const Scope& viewer);

  // A rule from request input (JSON or form fields), over `base` when editing: the fields given
  // replace the base's (a new kind drops the old kind's parameters); an empty form field leaves
  // it (renotify_seconds and resolve_seconds: back to the default). Unknown fields and invalid
  // rules are ApiError 400 with the reason; channels must be configured ones when the
  // configuration names any.
  alerts::Rule from_input(const Input& in, const alerts::Rule* base) const;

 private:
  Db& db_;
  const WebConfig& cfg_;
};

}  // namespace d4::web::models
