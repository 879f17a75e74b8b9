// /api/v1: dashboard and statistics (docs/api/openapi.json).
#include "web/api/helpers.hpp"

namespace d4::web::api {

void statistics(WebApp& app, http::Router& r) {
  app.api(r, "GET", "/api/v1/dashboard", Role::User,
          [&app](http::Request&, const Identity&) { return json(app.dashboard(app.db())); });
  app.api(r, "GET", "/api/v1/health", Role::User,
          [&app](http::Request&, const Identity&) { return json(app.health(app.db())); });
  app.api(r, "GET", "/api/v1/stats/daily", Role::User, [&app](http::Request& req, const Identity&) {
    return app.daily_stats(app.db(), static_cast<int>(Input(req).integer("days").value_or(14)));
  });
  app.api(r, "GET", "/api/v1/uuid", Role::User, [](http::Request&, const Identity&) {
    return json{{"uuid", random_uuid4()}};
  });
}

}  // namespace d4::web::api
