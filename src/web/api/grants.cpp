// /api/v1: analyzer queues one organisation grants another (docs/web.md#queue-grants,
// docs/api/openapi.json).
#include "web/models/grants.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

void grants(WebApp& app, Routes& r) {
  auto model = [&app] { return models::Grants(app.db(), app.config()); };
  r.api("GET", "/api/v1/grants", Role::User,
        [model](http::Request&, const Identity& id) { return json(model().list(id)); });
  r.api("GET", "/api/v1/grants/audit", Role::User,
        [model](http::Request&, const Identity& id) { return json(model().audit(id)); });
  r.api("POST", "/api/v1/grants", Role::User, [&app, model](http::Request& req, const Identity& id) {
    Input in(req);
    models::GrantRequest g;
    g.from = in.str("from");
    g.to = in.required("to");
    g.target = target_of(in);
    g.sensors = in.list("sensors");
    g.description = bounded_text(in, "description", app.config().max_description_length, "the description");
    g.max_size = in.integer("max_size");
    if (g.max_size && *g.max_size < 1) throw ApiError(400, "max_size must be >= 1");
    auto v = model().grant(id, std::move(g));
    return ok("queue " + v.id + " granted to " + v.to.name, {{"grant", v}});
  });
  r.api("DELETE", "/api/v1/grants/{id}", Role::User, [model](http::Request& req, const Identity& id) {
    model().revoke(id, req.params["id"]);
    return ok("grant revoked; its queue is deleted");
  });
}

}  // namespace d4::web::api
