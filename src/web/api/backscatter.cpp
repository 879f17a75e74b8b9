// /api/v1: backscatter (d4-pibs results, read-only) (docs/api/openapi.json).
#include "web/models/backscatter.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

void backscatter(WebApp& app, Routes& r) {
  // d4-pibs analyses every sensor's traffic together: its results are server-wide, for users who
  // see the whole server only.
  auto model = [&app](const Identity& id) {
    Scope::of(app.db(), id).require_unrestricted();
    return models::Backscatter(app.db(), app.config());
  };
  r.api("GET", "/api/v1/backscatter/stats", Role::User,
        [model](http::Request&, const Identity& id) { return json(model(id).stats()); });
  r.api("GET", "/api/v1/backscatter/victims", Role::User, [model](http::Request& req, const Identity& id) {
    return json(model(id).victims(models::parse_victim_query(Input(req))));
  });
  r.api("GET", "/api/v1/backscatter/victims/{ip}", Role::User,
        [model](http::Request& req, const Identity& id) {
          long long ports = Input(req).integer("ports").value_or(20);
          if (ports < 1 || ports > 1000) throw ApiError(400, "ports must be 1..1000");
          return json(model(id).victim(req.params["ip"], ports));
        });
  r.api("GET", "/api/v1/backscatter/victims/{ip}/series", Role::User,
        [model](http::Request& req, const Identity& id) {
          long long points = Input(req).integer("points").value_or(240);
          if (points < 10 || points > 2000) throw ApiError(400, "points must be 10..2000");
          return json(model(id).series(req.params["ip"], points));
        });
}

}  // namespace d4::web::api
