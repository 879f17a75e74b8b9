// /api/v1: self-service sensor registrations of organisations' users (docs/web.md#self-service-
// sensor-registration, docs/api/openapi.json).
#include "web/models/registrations.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

void registrations(WebApp& app, Routes& r) {
  auto model = [&app] { return models::Registrations(app.db(), app.config(), &app.counters()); };
  r.api("GET", "/api/v1/registrations", Role::User,
        [model](http::Request&, const Identity& id) { return json(model().list(id)); });
  r.api("POST", "/api/v1/registrations", Role::User, [model](http::Request& req, const Identity& id) {
    Input in(req);
    auto v = model().request(id, in.required("uuid"), in.required("hmac_key"), in.str("description"));
    return ok("registration requested; the sensor is accepted once approved", {{"registration", v}});
  });
  r.api("POST", "/api/v1/registrations/{id}/approve", Role::User,
        [model](http::Request& req, const Identity& id) {
          auto uuid = model().approve(id, path_or_field(req, "id"));
          return ok("sensor " + uuid + " registered and approved", {{"uuid", uuid}});
        });
  r.api("DELETE", "/api/v1/registrations/{id}", Role::User, [model](http::Request& req, const Identity& id) {
    model().reject(id, req.params["id"]);
    return ok("registration withdrawn");
  });
}

}  // namespace d4::web::api
