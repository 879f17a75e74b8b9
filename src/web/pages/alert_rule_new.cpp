// /alerts/rules/new — The form that adds an alert rule (?scope=sensor:<uuid> from a sensor's page,
// ?kind=...).
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void alert_rule_new(WebApp& app, Routes& r) {
  r.page("/alerts/rules/new", Role::User, [&app](http::Request& req, const Identity& id) {
    alerts::Rule defaults;
    if (auto k = alerts::parse_kind(param(req, "kind"))) defaults.kind = *k;
    std::string scope = param(req, "scope", role_allows(id.role, Role::Admin) ? "global" : "sensor:");
    Html b = html::api_form_open(id, "POST", "/api/v1/alerts/rules", "/alerts",
                                 "data-goto=\"/alerts/rules/{rule.id}\" class=\"card\""_h);
    b << alert_rule_fields(app.config(), id, defaults, scope)
      << "<button class=\"btn primary\" type=\"submit\">Add the rule</button></form>"_h;
    return html::layout(opts(req, "Add an alert rule", "alerts"), &id, b);
  });
}

}  // namespace d4::web::pages
