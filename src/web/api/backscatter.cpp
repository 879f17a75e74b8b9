// /api/v1: backscatter (d4-pibs results, read-only) (docs/api/openapi.json).
#include "web/api/helpers.hpp"

namespace d4::web::api {

void backscatter(WebApp& app, http::Router& r) {
  app.api(r, "GET", "/api/v1/backscatter/stats", Role::User,
          [&app](http::Request&, const Identity&) { return app.backscatter_stats(app.db()); });
  app.api(r, "GET", "/api/v1/backscatter/victims", Role::User, [&app](http::Request& req, const Identity&) {
    return app.backscatter_victims(app.db(), parse_victim_query(Input(req)));
  });
  app.api(r, "GET", "/api/v1/backscatter/victims/{ip}", Role::User,
          [&app](http::Request& req, const Identity&) {
            long long ports = Input(req).integer("ports").value_or(20);
            if (ports < 1 || ports > 1000) throw ApiError(400, "ports must be 1..1000");
            return app.backscatter_victim(app.db(), req.params["ip"], ports);
          });
  app.api(r, "GET", "/api/v1/backscatter/victims/{ip}/series", Role::User,
          [&app](http::Request& req, const Identity&) {
            long long points = Input(req).integer("points").value_or(240);
            if (points < 10 || points > 2000) throw ApiError(400, "points must be 10..2000");
            return app.backscatter_series(app.db(), req.params["ip"], points);
          });
}

}  // namespace d4::web::api
