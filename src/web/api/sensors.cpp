// /api/v1: sensors (docs/api/openapi.json).
#include "web/models/sensors.hpp"
#include "web/api/helpers.hpp"

namespace d4::web::api {

namespace {

// Registers a sensor action that is one policy call on the {uuid} of the path.
void sensor_action(WebApp& app, Routes& r, const std::string& method, const std::string& suffix, Role role,
                   PolicyAction action, const std::string& message) {
  r.api(method, "/api/v1/sensors/{uuid}" + suffix, role,
        [&app, action, message](http::Request& req, const Identity&) {
          result_or_throw((app.db().policy.*action)(path_or_field(req, "uuid")));
          return ok(message);
        });
}

// The list, one sensor, its traffic, and deleting it.
void reads(WebApp& app, Routes& r) {
  r.api("GET", "/api/v1/sensors", Role::User, [&app](http::Request& req, const Identity& id) {
    Input in(req);
    return json(models::Sensors(app.db()).list(
        {in.str("q"), in.str("status"), page_of(in), per_page_of(in, 50)}, Scope::of(app.db(), id)));
  });
  r.api("GET", "/api/v1/sensors/{uuid}", Role::User, [&app](http::Request& req, const Identity&) {
    return json(models::Sensors(app.db()).detail(require_uuid(req.params["uuid"])));
  });
  r.api("GET", "/api/v1/sensors/{uuid}/stats", Role::User, [&app](http::Request& req, const Identity&) {
    return json(models::Sensors(app.db()).traffic(require_uuid(req.params["uuid"]),
                                                  static_cast<int>(Input(req).integer("days").value_or(7))));
  });
  r.api("DELETE", "/api/v1/sensors/{uuid}", Role::Admin, [&app](http::Request& req, const Identity&) {
    auto u = require_uuid(req.params["uuid"]);
    models::Sensors(app.db()).forget(u);
    return ok("sensor " + u + " deleted");
  });
}

// Registration; approve also takes the UUID as a form field (the server page's "approve by UUID"
// form without JavaScript).
void registration(WebApp& app, Routes& r) {
  sensor_action(app, r, "POST", "/approve", Role::Admin, &core::SensorPolicy::approve, "sensor approved");
  sensor_action(app, r, "POST", "/reject", Role::Admin, &core::SensorPolicy::reject_pending,
                "pending registration rejected");
  sensor_action(app, r, "POST", "/unregister", Role::Admin, &core::SensorPolicy::unregister,
                "sensor unregistered");
}

// Keys: reading or changing a sensor's HMAC key is an admin matter (the reference showed it to
// every user in a text box).
void key(WebApp& app, Routes& r) {
  r.api("GET", "/api/v1/sensors/{uuid}/key", Role::Admin, [&app](http::Request& req, const Identity&) {
    return json(models::Sensors(app.db()).key(require_uuid(req.params["uuid"])));
  });
  r.api("PUT", "/api/v1/sensors/{uuid}/key", Role::Admin, [&app](http::Request& req, const Identity&) {
    Input in(req);
    if (!in.has("key")) throw ApiError(400, "parameter 'key' is required");
    result_or_throw(app.db().policy.set_key(req.params["uuid"], in.str("key")));
    return ok("key set");
  });
  r.api("POST", "/api/v1/sensors/{uuid}/key/rotate", Role::Admin,
        [&app](http::Request& req, const Identity&) {
          auto res = app.db().policy.rotate_key(req.params["uuid"]);
          result_or_throw(res);
          return ok("new key generated", {{"key", res.value}});
        });
  sensor_action(app, r, "DELETE", "/key", Role::Admin, &core::SensorPolicy::clear_key,
                "the sensor now uses the default key");
}

// Limits, description, tags and monitoring.
void settings(WebApp& app, Routes& r) {
  // Limits: a number sets one, none clears it (the server default applies).
  using SetLimit = core::PolicyResult (core::SensorPolicy::*)(std::string_view, long long);
  struct LimitRoute {
    const char* path;
    const char* field;
    SetLimit set;
    PolicyAction clear;
    const char* cleared;
    std::string (*set_message)(long long);
  };
  for (const LimitRoute& l :
       {LimitRoute{"/backlog", "limit", &core::SensorPolicy::set_backlog_limit,
                   &core::SensorPolicy::clear_backlog_limit, "backlog limit cleared (server default applies)",
                   [](long long n) { return "backlog limit set to " + std::to_string(n) + " packets"; }},
        LimitRoute{"/rate-limit", "bytes_per_second", &core::SensorPolicy::set_rate_limit,
                   &core::SensorPolicy::clear_rate_limit, "rate limit cleared",
                   [](long long) { return std::string("rate limit set"); }}}) {
    r.api("PUT", std::string("/api/v1/sensors/{uuid}") + l.path, Role::Admin,
          [&app, l](http::Request& req, const Identity&) {
            auto limit = Input(req).integer(l.field);
            auto& policy = app.db().policy;
            if (!limit) {
              result_or_throw((policy.*l.clear)(req.params["uuid"]));
              return ok(l.cleared);
            }
            result_or_throw((policy.*l.set)(req.params["uuid"], *limit));
            return ok(l.set_message(*limit));
          });
  }
  r.api("PUT", "/api/v1/sensors/{uuid}/description", Role::User, [&app](http::Request& req, const Identity&) {
    auto d = bounded_text(Input(req), "description", app.config().max_description_length, "the description");
    result_or_throw(app.db().policy.set_description(req.params["uuid"], d));
    return ok("description saved");
  });
  r.api("PUT", "/api/v1/sensors/{uuid}/tags", Role::User, [&app](http::Request& req, const Identity&) {
    Input in(req);
    auto u = require_uuid(req.params["uuid"]);
    auto wanted = in.list("tags");
    for (const auto& t : wanted)
      if (t.size() > 100) throw ApiError(400, "a tag is longer than 100 characters");
    auto& d = app.db();
    for (const auto& t : models::Sensors(d).tags(u))
      if (std::find(wanted.begin(), wanted.end(), t) == wanted.end())
        result_or_throw(d.policy.remove_tag(u, t));
    for (const auto& t : wanted) result_or_throw(d.policy.add_tag(u, t));
    return ok("tags saved", {{"tags", wanted}});
  });
  r.api("PUT", "/api/v1/sensors/{uuid}/monitoring", Role::User, [&app](http::Request& req, const Identity&) {
    Input in(req);
    auto u = require_uuid(req.params["uuid"]);
    auto delta = in.integer("delta_time");
    if (!delta || *delta < 1) throw ApiError(400, "parameter 'delta_time' must be an integer >= 1 (seconds)");
    models::Sensors(app.db()).monitor(u, *delta);
    return ok("monitoring enabled");
  });
  r.api("DELETE", "/api/v1/sensors/{uuid}/monitoring", Role::User,
        [&app](http::Request& req, const Identity&) {
          auto u = require_uuid(req.params["uuid"]);
          models::Sensors(app.db()).stop_monitoring(u);
          return ok("monitoring disabled");
        });
}

// Kicks, blocks and errors.
void blocking(WebApp& app, Routes& r) {
  r.api("POST", "/api/v1/sensors/{uuid}/kick", Role::Admin, [&app](http::Request& req, const Identity&) {
    result_or_throw(app.db().policy.kick_sensor(req.params["uuid"]));
    return ok("sensor kicked");
  });
  sensor_action(app, r, "POST", "/block", Role::Admin, &core::SensorPolicy::block_uuid, "sensor blocked");
  sensor_action(app, r, "DELETE", "/block", Role::Admin, &core::SensorPolicy::unblock_uuid,
                "sensor unblocked");
  sensor_action(app, r, "POST", "/block-ips", Role::Admin, &core::SensorPolicy::block_ips_of_uuid,
                "every IP presenting this sensor will be blocked");
  sensor_action(app, r, "DELETE", "/block-ips", Role::Admin, &core::SensorPolicy::unblock_ips_of_uuid,
                "IPs of this sensor are no longer blocked automatically");
  sensor_action(app, r, "DELETE", "/errors", Role::User, &core::SensorPolicy::clear_errors, "errors cleared");
}

}  // namespace

void sensors(WebApp& app, Routes& r) {
  reads(app, r);
  registration(app, r);
  key(app, r);
  settings(app, r);
  blocking(app, r);
}

}  // namespace d4::web::api
