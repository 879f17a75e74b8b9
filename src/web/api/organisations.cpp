// /api/v1: organisations, their sensors and users (docs/web.md#organisations,
// docs/api/openapi.json). Administrators manage them; a user reads its own organisation.
#include "web/models/organisations.hpp"
#include "core/keys.hpp"
#include "web/api/helpers.hpp"
#include "web/models/grants.hpp"

namespace d4::web::api {

namespace {
bool org_viewer_is_admin(const Identity& id) {
  return role_allows(id.role, Role::Admin);
}

// The organisation of the path, which must exist (ApiError 404).
core::Organisation require_org(core::OrganisationStore& store, const std::string& id) {
  auto o = store.get(id);
  if (!o) throw ApiError(404, "no such organisation");
  return *o;
}

void organisation_reads(WebApp& app, Routes& r) {
  r.api("GET", "/api/v1/organisations", Role::User, [&app](http::Request&, const Identity& id) {
    models::Organisations m(app.db());
    return json(m.list(org_viewer_is_admin(id), m.store().user_org(id.user)));
  });
  r.api("GET", "/api/v1/organisations/{id}", Role::User, [&app](http::Request& req, const Identity& id) {
    models::Organisations m(app.db());
    return json(m.get(req.params["id"], org_viewer_is_admin(id), m.store().user_org(id.user)));
  });
}

void organisation_management(WebApp& app, Routes& r) {
  r.api("POST", "/api/v1/organisations", Role::Admin, [&app](http::Request& req, const Identity&) {
    Input in(req);
    auto uuid = in.str("uuid");
    models::Organisations m(app.db());
    try {
      auto o = m.store().create(in.required("name"), uuid.empty() ? random_uuid4() : uuid);
      return ok("organisation created", {{"organisation", m.get(o.uuid, true, {})}});
    } catch (const core::OrganisationExists& e) {
      throw ApiError(409, e.what());
    }
  });
  r.api("PUT", "/api/v1/organisations/{id}", Role::Admin, [&app](http::Request& req, const Identity&) {
    models::Organisations m(app.db());
    if (!m.store().rename(req.params["id"], Input(req).required("name")))
      throw ApiError(404, "no such organisation");
    return ok("organisation renamed");
  });
  r.api("DELETE", "/api/v1/organisations/{id}", Role::Admin, [&app](http::Request& req, const Identity& id) {
    core::OrganisationStore store(app.db().meta);
    auto o = store.get(req.params["id"]);
    if (!o) throw ApiError(404, "no such organisation");
    if (!o->is_default) models::Grants(app.db(), app.config()).organisation_removed(id, o->uuid);
    if (!store.remove(o->uuid)) throw ApiError(404, "no such organisation");
    return ok("organisation deleted; its sensors and users now belong to the default organisation");
  });
}

// Assignments: a sensor or a user moves to the organisation (from wherever it was).
void organisation_members(WebApp& app, Routes& r) {
  r.api("POST", "/api/v1/organisations/{id}/sensors", Role::Admin,
        [&app](http::Request& req, const Identity& id) {
          core::OrganisationStore store(app.db().meta);
          auto o = require_org(store, path_or_field(req, "id"));
          auto sensor = require_uuid(Input(req).required("uuid"));
          store.assign_sensor(sensor, o.uuid);
          // It no longer feeds what its former organisation granted others.
          models::Grants(app.db(), app.config()).sensor_moved(id, sensor, o.uuid);
          return ok("sensor " + sensor + " now belongs to " + o.name);
        });
  r.api("POST", "/api/v1/organisations/{id}/users", Role::Admin, [&app](http::Request& req, const Identity&) {
    auto& d = app.db();
    core::OrganisationStore store(d.meta);
    auto o = require_org(store, path_or_field(req, "id"));
    Input in(req);
    auto email = in.required("email");
    if (!d.user_store.exists(email)) throw ApiError(404, "no such user");
    store.assign_user(email, o.uuid);
    // An organisation's administrator approves its sensors' registrations in "org-approval" mode.
    d.meta.command_ok({in.flag("org_admin") ? "SADD" : "SREM", core::keys::kOrganisationAdmins, email});
    return ok(email + " now belongs to " + o.name);
  });
}
}  // namespace

void organisations(WebApp& app, Routes& r) {
  organisation_reads(app, r);
  organisation_management(app, r);
  organisation_members(app, r);
}

}  // namespace d4::web::api
