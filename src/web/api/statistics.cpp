// /api/v1: dashboard and statistics (docs/api/openapi.json).
#include "web/api/helpers.hpp"
#include "web/models/dashboard.hpp"

namespace d4::web::api {

void statistics(WebApp& app, Routes& r) {
  auto health = [&app](const Scope& scope) {
    return models::Statistics(app.db()).health(app.config().ingest_metrics_url, app.budget_counters(), scope);
  };
  r.api("GET", "/api/v1/dashboard", Role::User, [&app, health](http::Request&, const Identity& id) {
    auto scope = Scope::of(app.db(), id);
    return json(models::Statistics(app.db()).dashboard(health(scope), scope));
  });
  r.api("GET", "/api/v1/health", Role::User,
        [&app, health](http::Request&, const Identity& id) { return json(health(Scope::of(app.db(), id))); });
  r.api("GET", "/api/v1/stats/daily", Role::User, [&app](http::Request& req, const Identity& id) {
    return json(models::Statistics(app.db()).daily(static_cast<int>(Input(req).integer("days").value_or(14)),
                                                   Scope::of(app.db(), id)));
  });
  r.api("GET", "/api/v1/uuid", Role::User, [](http::Request&, const Identity&) {
    return json{{"uuid", random_uuid4()}};
  });
}

}  // namespace d4::web::api
