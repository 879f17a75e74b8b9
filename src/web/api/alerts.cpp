// /api/v1: the alerts of d4-alerts (firing, resolved, since when) and their rules, per sensor,
// organisation or global (docs/alerts.md, docs/api/openapi.json).
#include "web/models/alerts.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

namespace {
models::AlertFilter alert_filter(const Input& in) {
  models::AlertFilter f;
  f.status = in.str("status");
  if (f.status == "all") f.status.clear();
  if (!f.status.empty() && f.status != "firing" && f.status != "resolved")
    throw ApiError(400, "status must be firing, resolved or all");
  if (in.has("sensor")) f.sensor = require_uuid(in.str("sensor"));
  f.rule = in.str("rule");
  return f;
}
}  // namespace

void alerts(WebApp& app, Routes& r) {
  r.api("GET", "/api/v1/alerts", Role::User, [&app](http::Request& req, const Identity& id) {
    auto f = alert_filter(Input(req));
    auto scope = Scope::of(app.db(), id);
    if (!f.sensor.empty()) scope.require_sensor(app.db(), f.sensor);
    return json(models::Alerts(app.db(), app.config()).list(f, scope));
  });
  r.api("GET", "/api/v1/alerts/rules", Role::User, [&app](http::Request&, const Identity& id) {
    return json(models::Alerts(app.db(), app.config()).rules(id.role, Scope::of(app.db(), id)));
  });
  r.api("POST", "/api/v1/alerts/rules", Role::User, [&app](http::Request& req, const Identity& id) {
    models::Alerts a(app.db(), app.config());
    auto rule = a.from_input(Input(req), nullptr);
    models::require_rule_rights(app.db(), id.role, Scope::of(app.db(), id), rule.scope);
    try {
      rule = a.store().add(rule);
    } catch (const alerts::RuleBudgetError& e) {
      throw ApiError(409, e.what());
    }
    return ok("alert rule created", {{"rule", models::RuleView{rule, true}}});
  });
  r.api("GET", "/api/v1/alerts/rules/{id}", Role::User, [&app](http::Request& req, const Identity& id) {
    return json(
        models::Alerts(app.db(), app.config()).rule(req.params["id"], id.role, Scope::of(app.db(), id)));
  });
  r.api("PUT", "/api/v1/alerts/rules/{id}", Role::User, [&app](http::Request& req, const Identity& id) {
    models::Alerts a(app.db(), app.config());
    auto scope = Scope::of(app.db(), id);
    auto old = a.require_rule(req.params["id"], scope);
    models::require_rule_rights(app.db(), id.role, scope, old.scope);
    auto rule = a.from_input(Input(req), &old);
    models::require_rule_rights(app.db(), id.role, scope, rule.scope);
    if (!a.store().replace(rule)) throw ApiError(404, "no such alert rule");
    return ok("alert rule saved", {{"rule", models::RuleView{rule, true}}});
  });
  r.api("DELETE", "/api/v1/alerts/rules/{id}", Role::User, [&app](http::Request& req, const Identity& id) {
    models::Alerts a(app.db(), app.config());
    auto scope = Scope::of(app.db(), id);
    auto rule = a.require_rule(req.params["id"], scope);
    models::require_rule_rights(app.db(), id.role, scope, rule.scope);
    if (!a.store().remove(rule.id)) throw ApiError(404, "no such alert rule");
    return ok("alert rule deleted; its firing alerts resolve at the next evaluation");
  });
}

}  // namespace d4::web::api
