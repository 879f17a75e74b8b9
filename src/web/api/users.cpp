// /api/v1: users and tokens (docs/api/openapi.json).
#include "web/models/users.hpp"
#include "core/organisations.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

namespace {

// The signed-in account: itself, its password and its tokens.
void me(WebApp& app, Routes& r) {
  r.api("GET", "/api/v1/me", Role::SensorRegister, [&app](http::Request&, const Identity& id) {
    auto u = app.db().user_store.get(id.user);
    if (!u) throw ApiError(404, "no such user");
    return json(*u);
  });
  r.api("POST", "/api/v1/me/password", Role::SensorRegister, [&app](http::Request& req, const Identity& id) {
    Input in(req);
    using O = PasswordVerdict::Outcome;
    auto verdict = app.auth().check_password(id.user, in.str("current_password"), req.remote_ip);
    if (verdict.outcome == O::Busy)
      throw ApiError(503, "the server is busy checking other passwords; try again in a moment");
    if (verdict.outcome == O::Delayed)
      throw ApiError(429, "too many wrong passwords; wait " + std::to_string(verdict.wait_seconds) + " s");
    if (verdict.outcome == O::Wrong) throw ApiError(400, "the current password is wrong");
    auto pw = in.required("new_password");
    if (auto why = password_policy_violation(pw)) throw ApiError(400, *why);
    app.auth().set_password(id.user, pw, false);
    return ok("password changed; sign in again");
  });
  r.api("POST", "/api/v1/me/tokens", Role::User, [&app](http::Request& req, const Identity& id) {
    Input in(req);
    auto name = in.str("name", "api");
    if (name.size() > 100) throw ApiError(400, "the token name is longer than 100 characters");
    return token_created(app.auth().create_token(id.user, name));
  });
  r.api("DELETE", "/api/v1/me/tokens/{id}", Role::SensorRegister,
        [&app](http::Request& req, const Identity& id) {
          if (!app.db().user_store.revoke_token(id.user, req.params["id"]))
            throw ApiError(404, "no such token");
          return ok("token revoked");
        });
}

// Every account (admin): create, change the role, reset the password, delete, tokens.
void accounts(WebApp& app, Routes& r) {
  r.api("GET", "/api/v1/users", Role::Admin, [&app](http::Request&, const Identity&) {
    return json(models::UserList{app.db().user_store.list()});
  });
  r.api("POST", "/api/v1/users", Role::Admin, [&app](http::Request& req, const Identity&) {
    Input in(req);
    auto email = in.required("email");
    if (auto why = email_violation(email)) throw ApiError(400, *why);
    auto role = parse_role(in.str("role", "user"));
    if (!role) throw ApiError(400, "role must be admin, user or sensor_register");
    auto& d = app.db();
    if (d.user_store.exists(email)) throw ApiError(409, "this user already exists");
    auto [pw, generated] = password_or_generated(in);
    // A generated password is a one-time secret: the user must replace it at first login.
    // The organisation (docs/web.md#organisations): given, else the default one.
    std::optional<core::Organisation> org;
    core::OrganisationStore orgs(d.meta);
    if (in.has("organisation") && !in.str("organisation").empty()) {
      org = orgs.get(in.str("organisation"));
      if (!org) throw ApiError(400, "no such organisation");
    }
    d.user_store.upsert(email, *role, pw, generated || in.flag("must_change_password"));
    if (org) orgs.assign_user(email, org->uuid);
    json extra = {{"user", *d.user_store.get(email)}};
    if (generated) extra["password"] = pw;
    return ok("user created", extra);
  });
  r.api("GET", "/api/v1/users/{email}", Role::Admin, [&app](http::Request& req, const Identity&) {
    auto u = app.db().user_store.get(req.params["email"]);
    if (!u) throw ApiError(404, "no such user");
    return json(*u);
  });
  r.api("PUT", "/api/v1/users/{email}", Role::Admin, [&app](http::Request& req, const Identity& id) {
    Input in(req);
    auto& d = app.db();
    auto email = req.params["email"];
    auto u = d.user_store.get(email);
    if (!u) throw ApiError(404, "no such user");
    json extra = json::object();
    if (in.has("role")) {
      auto role = parse_role(in.str("role"));
      if (!role) throw ApiError(400, "role must be admin, user or sensor_register");
      if (email == id.user && *role != Role::Admin)
        throw ApiError(400, "you cannot remove your own admin role");
      d.user_store.set_role(email, *role);
    }
    if (in.flag("reset_password") || in.has("password")) {
      auto [pw, generated] = password_or_generated(in);
      app.auth().set_password(email, pw, true);
      if (generated) extra["password"] = pw;
    }
    extra["user"] = *d.user_store.get(email);
    return ok("user saved", extra);
  });
  r.api("DELETE", "/api/v1/users/{email}", Role::Admin, [&app](http::Request& req, const Identity& id) {
    auto email = req.params["email"];
    if (email == id.user) throw ApiError(400, "you cannot delete your own account");
    auto& d = app.db();
    if (!d.user_store.exists(email)) throw ApiError(404, "no such user");
    d.user_store.remove(email);
    core::OrganisationStore(d.meta).forget_user(email);
    app.auth().end_sessions(email);
    return ok("user deleted");
  });
  r.api("POST", "/api/v1/users/{email}/tokens", Role::Admin, [&app](http::Request& req, const Identity&) {
    Input in(req);
    auto& d = app.db();
    auto email = req.params["email"];
    if (!d.user_store.exists(email)) throw ApiError(404, "no such user");
    return token_created(app.auth().create_token(email, in.str("name", "api")));
  });
  r.api("DELETE", "/api/v1/users/{email}/tokens/{id}", Role::Admin,
        [&app](http::Request& req, const Identity&) {
          if (!app.db().user_store.revoke_token(req.params["email"], req.params["id"]))
            throw ApiError(404, "no such token");
          return ok("token revoked");
        });
}

}  // namespace

void users(WebApp& app, Routes& r) {
  me(app, r);
  accounts(app, r);
}

}  // namespace d4::web::api
