// /alerts/rules/{id} — One alert rule: its alerts, and its form (read-only for a user when the
// rule is global or an organisation's).
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {
// The form and the delete button of a rule the viewer may change.
Html rule_form(const WebConfig& cfg, const Identity& id, const alerts::Rule& rule) {
  const std::string api = "/api/v1/alerts/rules/" + rule.id, here = "/alerts/rules/" + rule.id;
  return html::api_form_open(id, "PUT", api, here, "data-reload class=\"card\""_h)
         << alert_rule_fields(cfg, id, rule, rule.scope.to_string())
         << "<button class=\"btn primary\" type=\"submit\">Save</button></form><div class=\"actions\">"_h
         << html::api_button(id, "DELETE", api, "/alerts", "Delete the rule",
                             "Delete this rule? Its firing alerts resolve.", "btn danger")
         << "</div>"_h;
}
}  // namespace

void alert_rule(WebApp& app, Routes& r) {
  r.page("/alerts/rules/{id}", Role::User, [&app](http::Request& req, const Identity& id) {
    auto v = models::Alerts(app.db(), app.config()).rule(req.params["id"], id.role, Scope::of(app.db(), id));
    const auto& rule = v.rule.rule;
    Html b = "<p><span class=\"mono\">"_h;
    b << rule.id << "</span> "_h << html::badge(alerts::to_string(rule.kind), "tag")
      << html::badge(rule.scope.to_string(), "") << (rule.enabled ? Html() : html::badge("disabled", "warn"))
      << "</p><section><h2>Alerts of this rule</h2>"_h << alert_table(v.alerts, false)
      << "</section><section><h2>Rule</h2>"_h;
    if (v.rule.editable)
      b << rule_form(app.config(), id, rule);
    else
      b << "<p>Only administrators change global and organisation rules.</p><pre class=\"preview\">"_h
        << json(v.rule).dump(2) << "</pre>"_h;
    b << "</section>"_h;
    return html::layout(opts(req, rule.display_name(), "alerts"), &id, b);
  });
}

}  // namespace d4::web::pages
