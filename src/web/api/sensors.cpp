// /api/v1: sensors (docs/api/openapi.json).
#include "web/api/helpers.hpp"

namespace d4::web::api {

void sensors(WebApp& app, http::Router& r) {
  app.api(r, "GET", "/api/v1/sensors", Role::User, [&app](http::Request& req, const Identity&) {
    Input in(req);
    return app.sensors(app.db(), in.str("q"), in.str("status"), page_of(in), per_page_of(in, 50));
  });
  app.api(r, "GET", "/api/v1/sensors/{uuid}", Role::User, [&app](http::Request& req, const Identity&) {
    return app.sensor(app.db(), require_uuid(req.params["uuid"]));
  });
  app.api(r, "GET", "/api/v1/sensors/{uuid}/stats", Role::User, [&app](http::Request& req, const Identity&) {
    return app.sensor_stats(app.db(), require_uuid(req.params["uuid"]),
                            static_cast<int>(Input(req).integer("days").value_or(7)));
  });
  app.api(r, "DELETE", "/api/v1/sensors/{uuid}", Role::Admin, [&app](http::Request& req, const Identity&) {
    auto u = require_uuid(req.params["uuid"]);
    app.delete_sensor(app.db(), u);
    return ok("sensor " + u + " deleted");
  });
  // Actions that are one policy call on the sensor; approve also takes the UUID as a form field
  // (the server page's "approve by UUID" form without JavaScript).
  auto sensor_action = [&](const std::string& method, const std::string& suffix, Role role,
                           PolicyAction action, const std::string& message) {
    app.api(r, method, "/api/v1/sensors/{uuid}" + suffix, role,
            [&app, action, message](http::Request& req, const Identity&) {
              result_or_throw((app.db().policy.*action)(path_or_field(req, "uuid")));
              return ok(message);
            });
  };
  sensor_action("POST", "/approve", Role::Admin, &core::SensorPolicy::approve, "sensor approved");
  sensor_action("POST", "/reject", Role::Admin, &core::SensorPolicy::reject_pending,
                "pending registration rejected");
  sensor_action("POST", "/unregister", Role::Admin, &core::SensorPolicy::unregister, "sensor unregistered");
  // Keys: reading or changing a sensor's HMAC key is an admin matter (the reference showed it to
  // every user in a text box).
  app.api(r, "GET", "/api/v1/sensors/{uuid}/key", Role::Admin, [&app](http::Request& req, const Identity&) {
    auto u = require_uuid(req.params["uuid"]);
    auto k = app.db().meta.command({"HGET", keys::sensor_metadata(u), "hmac_key"}).as_string();
    return json{{"uuid", u}, {"key", k ? json(*k) : json(nullptr)}, {"uses_default_key", !k.has_value()}};
  });
  app.api(r, "PUT", "/api/v1/sensors/{uuid}/key", Role::Admin, [&app](http::Request& req, const Identity&) {
    Input in(req);
    if (!in.has("key")) throw ApiError(400, "parameter 'key' is required");
    result_or_throw(app.db().policy.set_key(req.params["uuid"], in.str("key")));
    return ok("key set");
  });
  app.api(r, "POST", "/api/v1/sensors/{uuid}/key/rotate", Role::Admin,
          [&app](http::Request& req, const Identity&) {
            auto res = app.db().policy.rotate_key(req.params["uuid"]);
            result_or_throw(res);
            return ok("new key generated", {{"key", res.value}});
          });
  sensor_action("DELETE", "/key", Role::Admin, &core::SensorPolicy::clear_key,
                "the sensor now uses the default key");
  app.api(r, "PUT", "/api/v1/sensors/{uuid}/backlog", Role::Admin,
          [&app](http::Request& req, const Identity&) {
            Input in(req);
            auto limit = in.integer("limit");
            if (!limit) {
              result_or_throw(app.db().policy.clear_backlog_limit(req.params["uuid"]));
              return ok("backlog limit cleared (server default applies)");
            }
            result_or_throw(app.db().policy.set_backlog_limit(req.params["uuid"], *limit));
            return ok("backlog limit set to " + std::to_string(*limit) + " packets");
          });
  app.api(r, "PUT", "/api/v1/sensors/{uuid}/rate-limit", Role::Admin,
          [&app](http::Request& req, const Identity&) {
            Input in(req);
            auto limit = in.integer("bytes_per_second");
            if (!limit) {
              result_or_throw(app.db().policy.clear_rate_limit(req.params["uuid"]));
              return ok("rate limit cleared");
            }
            result_or_throw(app.db().policy.set_rate_limit(req.params["uuid"], *limit));
            return ok("rate limit set");
          });
  app.api(r, "PUT", "/api/v1/sensors/{uuid}/description", Role::User,
          [&app](http::Request& req, const Identity&) {
            auto d = bounded_text(Input(req), "description", app.config().max_description_length,
                                  "the description");
            result_or_throw(app.db().policy.set_description(req.params["uuid"], d));
            return ok("description saved");
          });
  app.api(r, "PUT", "/api/v1/sensors/{uuid}/tags", Role::User, [&app](http::Request& req, const Identity&) {
    Input in(req);
    auto u = require_uuid(req.params["uuid"]);
    auto wanted = in.list("tags");
    for (const auto& t : wanted)
      if (t.size() > 100) throw ApiError(400, "a tag is longer than 100 characters");
    auto& d = app.db();
    auto current = d.meta.command({"SMEMBERS", keys::sensor_tags(u)}).as_strings();
    for (const auto& t : current)
      if (std::find(wanted.begin(), wanted.end(), t) == wanted.end())
        result_or_throw(d.policy.remove_tag(u, t));
    for (const auto& t : wanted) result_or_throw(d.policy.add_tag(u, t));
    return ok("tags saved", {{"tags", wanted}});
  });
  app.api(r, "PUT", "/api/v1/sensors/{uuid}/monitoring", Role::User,
          [&app](http::Request& req, const Identity&) {
            Input in(req);
            auto u = require_uuid(req.params["uuid"]);
            auto delta = in.integer("delta_time");
            if (!delta || *delta < 1)
              throw ApiError(400, "parameter 'delta_time' must be an integer >= 1 (seconds)");
            app.db().meta.pipeline(
                {{"SADD", std::string(keys::kMonitoredSensors), u},
                 {"HSET", keys::monitored_sensor(u), "delta_time", std::to_string(*delta)},
                 {"SET", std::string(keys::kMonitoringLastUpdated), std::to_string(std::time(nullptr))}});
            return ok("monitoring enabled");
          });
  app.api(r, "DELETE", "/api/v1/sensors/{uuid}/monitoring", Role::User,
          [&app](http::Request& req, const Identity&) {
            auto u = require_uuid(req.params["uuid"]);
            app.db().meta.pipeline(
                {{"SREM", std::string(keys::kMonitoredSensors), u},
                 {"DEL", keys::monitored_sensor(u)},
                 {"SREM", std::string(keys::kSensorsInError), u},
                 {"SET", std::string(keys::kMonitoringLastUpdated), std::to_string(std::time(nullptr))}});
            return ok("monitoring disabled");
          });
  app.api(r, "POST", "/api/v1/sensors/{uuid}/kick", Role::Admin, [&app](http::Request& req, const Identity&) {
    result_or_throw(app.db().policy.kick_sensor(req.params["uuid"]));
    return ok("sensor kicked");
  });
  sensor_action("POST", "/block", Role::Admin, &core::SensorPolicy::block_uuid, "sensor blocked");
  sensor_action("DELETE", "/block", Role::Admin, &core::SensorPolicy::unblock_uuid, "sensor unblocked");
  sensor_action("POST", "/block-ips", Role::Admin, &core::SensorPolicy::block_ips_of_uuid,
                "every IP presenting this sensor will be blocked");
  sensor_action("DELETE", "/block-ips", Role::Admin, &core::SensorPolicy::unblock_ips_of_uuid,
                "IPs of this sensor are no longer blocked automatically");
  sensor_action("DELETE", "/errors", Role::User, &core::SensorPolicy::clear_errors, "errors cleared");
}

}  // namespace d4::web::api
