// The JSON REST API under /api/v1 (documented in docs/api/openapi.json).
#include <algorithm>
#include <ctime>
#include <filesystem>

#include "core/keys.hpp"
#include "web/app.hpp"
#include "web/security.hpp"

namespace d4::web {

namespace keys = core::keys;

namespace {
long long page_of(const Input& in) {
  return in.integer("page").value_or(1);
}
long long per_page_of(const Input& in, long long def) {
  return in.integer("per_page").value_or(def);
}

int type_param(const std::string& text) {
  int t = 0;
  try {
    std::size_t pos = 0;
    t = std::stoi(text, &pos);
    if (pos != text.size()) t = -1;
  } catch (const std::exception&) {
    t = -1;
  }
  if (t < 1 || t > 255) throw ApiError(400, "Invalid type (expected 1..255)");
  return t;
}

json ok(const std::string& message, json extra = json::object()) {
  extra["status"] = "ok";
  extra["message"] = message;
  return extra;
}

// A sensor action that is one policy call on the {uuid} of the path.
using PolicyAction = core::PolicyResult (core::SensorPolicy::*)(std::string_view);

// A path parameter, or the form field of the same name when a form without JavaScript posted to
// the literal "{name}" path.
std::string path_or_field(http::Request& req, const std::string& name) {
  const std::string& value = req.params[name];
  return value == "{" + name + "}" ? Input(req).required(name) : value;
}

std::string bounded_text(const Input& in, const std::string& key, std::size_t max, const std::string& what) {
  auto v = in.str(key);
  if (v.size() > max) throw ApiError(400, what + " is longer than " + std::to_string(max) + " characters");
  return v;
}

// The password given, checked against the policy, or a generated one (second: generated).
std::pair<std::string, bool> password_or_generated(const Input& in) {
  std::string pw = in.str("password");
  if (pw.empty()) return {generate_password(), true};
  if (auto why = password_policy_violation(pw)) throw ApiError(400, *why);
  return {pw, false};
}

json token_created(const NewToken& t) {
  return ok("token created; copy it now, it is not shown again", {{"id", t.id}, {"token", t.token}});
}

queues::QueueInfo require_queue(Db& d, const std::string& id) {
  auto q = d.queue_store.get(id);
  if (!q) throw ApiError(404, "no such queue");
  return *q;
}

queues::QueueTarget target_of(const Input& in) {
  std::string ext = in.str("extended_type");
  if (!ext.empty()) return queues::QueueTarget::extended(ext);
  auto t = in.integer("type");
  if (!t) throw ApiError(400, "parameter 'type' (or 'extended_type') is required");
  if (*t == 254 || *t == 2) throw ApiError(400, "type 254 needs 'extended_type'");
  return queues::QueueTarget::numeric(static_cast<int>(*t));
}
}  // namespace

NewToken WebApp::create_token(Db& d, const std::string& email, const std::string& name) {
  auto u = d.user_store.get(email);
  if (!u) throw ApiError(404, "no such user");
  if (u->tokens.size() >= cfg_.max_tokens_per_user) {
    ++counters_.tokens_refused;
    throw ApiError(409, "this account already has " + std::to_string(u->tokens.size()) +
                            " API tokens (the limit); revoke one first");
  }
  return d.user_store.create_token(email, name);
}

void WebApp::add_api_routes(http::Router& r) {
  // ---- reference endpoints ----
  api(r, "POST", "/api/v1/add/sensor/register", Role::SensorRegister,
      [this](http::Request& req, const Identity&) {
        Input in(req);
        if (!in.has("uuid") || !in.has("hmac_key"))
          throw ApiError(400, "Mandatory parameter(s) not provided");
        auto& d = db();
        // Budgets: what an account that may only register sensors can make the server store.
        auto refuse = [this](int status, const std::string& why) {
          ++counters().registrations_refused;
          return ApiError(status, why);
        };
        auto description = in.str("description"), mail = in.str("mail");
        if (description.size() > cfg_.max_description_length)
          throw refuse(400, "the description is longer than " + std::to_string(cfg_.max_description_length) +
                                " characters");
        if (mail.size() > 300) throw refuse(400, "the mail address is longer than 300 characters");
        long long pending = d.meta.command({"SCARD", keys::kPendingRegistrations}).integer;
        if (pending >= cfg_.max_pending_registrations)
          throw refuse(429, "too many pending registrations (" + std::to_string(pending) +
                                "); an admin must approve or reject some first");
        auto res = d.policy.register_sensor(in.str("uuid"), in.str("hmac_key"), mail, description,
                                            in.flag("third_party"));
        result_or_throw(res);
        return json{{"uuid", res.value}};
      });
  api(r, "GET", "/api/v1/sensors/monitoring/errors", Role::User, [this](http::Request&, const Identity&) {
    auto v = db().meta.command({"SMEMBERS", keys::kSensorsInError}).as_strings();
    std::sort(v.begin(), v.end());
    return json(v);
  });

  // ---- dashboard and statistics ----
  api(r, "GET", "/api/v1/dashboard", Role::User,
      [this](http::Request&, const Identity&) { return dashboard(db()); });
  api(r, "GET", "/api/v1/health", Role::User,
      [this](http::Request&, const Identity&) { return health(db()); });
  api(r, "GET", "/api/v1/stats/daily", Role::User, [this](http::Request& req, const Identity&) {
    return daily_stats(db(), static_cast<int>(Input(req).integer("days").value_or(14)));
  });
  api(r, "GET", "/api/v1/uuid", Role::User, [](http::Request&, const Identity&) {
    return json{{"uuid", random_uuid4()}};
  });

  // ---- sensors ----
  api(r, "GET", "/api/v1/sensors", Role::User, [this](http::Request& req, const Identity&) {
    Input in(req);
    return sensors(db(), in.str("q"), in.str("status"), page_of(in), per_page_of(in, 50));
  });
  api(r, "GET", "/api/v1/sensors/{uuid}", Role::User,
      [this](http::Request& req, const Identity&) { return sensor(db(), require_uuid(req.params["uuid"])); });
  api(r, "GET", "/api/v1/sensors/{uuid}/stats", Role::User, [this](http::Request& req, const Identity&) {
    return sensor_stats(db(), require_uuid(req.params["uuid"]),
                        static_cast<int>(Input(req).integer("days").value_or(7)));
  });
  api(r, "DELETE", "/api/v1/sensors/{uuid}", Role::Admin, [this](http::Request& req, const Identity&) {
    auto u = require_uuid(req.params["uuid"]);
    delete_sensor(db(), u);
    return ok("sensor " + u + " deleted");
  });
  // Actions that are one policy call on the sensor; approve also takes the UUID as a form field
  // (the server page's "approve by UUID" form without JavaScript).
  auto sensor_action = [&](const std::string& method, const std::string& suffix, Role role,
                           PolicyAction action, const std::string& message) {
    api(r, method, "/api/v1/sensors/{uuid}" + suffix, role,
        [this, action, message](http::Request& req, const Identity&) {
          result_or_throw((db().policy.*action)(path_or_field(req, "uuid")));
          return ok(message);
        });
  };
  sensor_action("POST", "/approve", Role::Admin, &core::SensorPolicy::approve, "sensor approved");
  sensor_action("POST", "/reject", Role::Admin, &core::SensorPolicy::reject_pending,
                "pending registration rejected");
  sensor_action("POST", "/unregister", Role::Admin, &core::SensorPolicy::unregister, "sensor unregistered");
  // Keys: reading or changing a sensor's HMAC key is an admin matter (the reference showed it to
  // every user in a text box).
  api(r, "GET", "/api/v1/sensors/{uuid}/key", Role::Admin, [this](http::Request& req, const Identity&) {
    auto u = require_uuid(req.params["uuid"]);
    auto k = db().meta.command({"HGET", keys::sensor_metadata(u), "hmac_key"}).as_string();
    return json{{"uuid", u}, {"key", k ? json(*k) : json(nullptr)}, {"uses_default_key", !k.has_value()}};
  });
  api(r, "PUT", "/api/v1/sensors/{uuid}/key", Role::Admin, [this](http::Request& req, const Identity&) {
    Input in(req);
    if (!in.has("key")) throw ApiError(400, "parameter 'key' is required");
    result_or_throw(db().policy.set_key(req.params["uuid"], in.str("key")));
    return ok("key set");
  });
  api(r, "POST", "/api/v1/sensors/{uuid}/key/rotate", Role::Admin,
      [this](http::Request& req, const Identity&) {
        auto res = db().policy.rotate_key(req.params["uuid"]);
        result_or_throw(res);
        return ok("new key generated", {{"key", res.value}});
      });
  sensor_action("DELETE", "/key", Role::Admin, &core::SensorPolicy::clear_key,
                "the sensor now uses the default key");
  api(r, "PUT", "/api/v1/sensors/{uuid}/backlog", Role::Admin, [this](http::Request& req, const Identity&) {
    Input in(req);
    auto limit = in.integer("limit");
    if (!limit) {
      result_or_throw(db().policy.clear_backlog_limit(req.params["uuid"]));
      return ok("backlog limit cleared (server default applies)");
    }
    result_or_throw(db().policy.set_backlog_limit(req.params["uuid"], *limit));
    return ok("backlog limit set to " + std::to_string(*limit) + " packets");
  });
  api(r, "PUT", "/api/v1/sensors/{uuid}/rate-limit", Role::Admin,
      [this](http::Request& req, const Identity&) {
        Input in(req);
        auto limit = in.integer("bytes_per_second");
        if (!limit) {
          result_or_throw(db().policy.clear_rate_limit(req.params["uuid"]));
          return ok("rate limit cleared");
        }
        result_or_throw(db().policy.set_rate_limit(req.params["uuid"], *limit));
        return ok("rate limit set");
      });
  api(r, "PUT", "/api/v1/sensors/{uuid}/description", Role::User,
      [this](http::Request& req, const Identity&) {
        auto d = bounded_text(Input(req), "description", cfg_.max_description_length, "the description");
        result_or_throw(db().policy.set_description(req.params["uuid"], d));
        return ok("description saved");
      });
  api(r, "PUT", "/api/v1/sensors/{uuid}/tags", Role::User, [this](http::Request& req, const Identity&) {
    Input in(req);
    auto u = require_uuid(req.params["uuid"]);
    auto wanted = in.list("tags");
    for (const auto& t : wanted)
      if (t.size() > 100) throw ApiError(400, "a tag is longer than 100 characters");
    auto& d = db();
    auto current = d.meta.command({"SMEMBERS", keys::sensor_tags(u)}).as_strings();
    for (const auto& t : current)
      if (std::find(wanted.begin(), wanted.end(), t) == wanted.end())
        result_or_throw(d.policy.remove_tag(u, t));
    for (const auto& t : wanted) result_or_throw(d.policy.add_tag(u, t));
    return ok("tags saved", {{"tags", wanted}});
  });
  api(r, "PUT", "/api/v1/sensors/{uuid}/monitoring", Role::User, [this](http::Request& req, const Identity&) {
    Input in(req);
    auto u = require_uuid(req.params["uuid"]);
    auto delta = in.integer("delta_time");
    if (!delta || *delta < 1) throw ApiError(400, "parameter 'delta_time' must be an integer >= 1 (seconds)");
    db().meta.pipeline(
        {{"SADD", std::string(keys::kMonitoredSensors), u},
         {"HSET", keys::monitored_sensor(u), "delta_time", std::to_string(*delta)},
         {"SET", std::string(keys::kMonitoringLastUpdated), std::to_string(std::time(nullptr))}});
    return ok("monitoring enabled");
  });
  api(r, "DELETE", "/api/v1/sensors/{uuid}/monitoring", Role::User,
      [this](http::Request& req, const Identity&) {
        auto u = require_uuid(req.params["uuid"]);
        db().meta.pipeline(
            {{"SREM", std::string(keys::kMonitoredSensors), u},
             {"DEL", keys::monitored_sensor(u)},
             {"SREM", std::string(keys::kSensorsInError), u},
             {"SET", std::string(keys::kMonitoringLastUpdated), std::to_string(std::time(nullptr))}});
        return ok("monitoring disabled");
      });
  api(r, "POST", "/api/v1/sensors/{uuid}/kick", Role::Admin, [this](http::Request& req, const Identity&) {
    result_or_throw(db().policy.kick_sensor(req.params["uuid"]));
    return ok("sensor kicked");
  });
  sensor_action("POST", "/block", Role::Admin, &core::SensorPolicy::block_uuid, "sensor blocked");
  sensor_action("DELETE", "/block", Role::Admin, &core::SensorPolicy::unblock_uuid, "sensor unblocked");
  sensor_action("POST", "/block-ips", Role::Admin, &core::SensorPolicy::block_ips_of_uuid,
                "every IP presenting this sensor will be blocked");
  sensor_action("DELETE", "/block-ips", Role::Admin, &core::SensorPolicy::unblock_ips_of_uuid,
                "IPs of this sensor are no longer blocked automatically");
  sensor_action("DELETE", "/errors", Role::User, &core::SensorPolicy::clear_errors, "errors cleared");

  // ---- server management ----
  api(r, "GET", "/api/v1/server", Role::User,
      [this](http::Request&, const Identity&) { return server_info(db()); });
  api(r, "POST", "/api/v1/server/types", Role::Admin, [this](http::Request& req, const Identity&) {
    Input in(req);
    int t = type_param(in.required("type"));
    auto& d = db();
    if (t == 254 && in.has("extended_type") && !in.str("extended_type").empty())
      result_or_throw(d.policy.add_accepted_extended_type(in.str("extended_type")));
    result_or_throw(d.policy.add_accepted_type(t));
    return ok("type " + std::to_string(t) + " accepted");
  });
  api(r, "DELETE", "/api/v1/server/types/{type}", Role::Admin, [this](http::Request& req, const Identity&) {
    result_or_throw(db().policy.remove_accepted_type(type_param(req.params["type"])));
    return ok("type removed");
  });
  api(r, "POST", "/api/v1/server/extended-types", Role::Admin, [this](http::Request& req, const Identity&) {
    result_or_throw(db().policy.add_accepted_extended_type(Input(req).required("name")));
    return ok("extended type accepted");
  });
  api(r, "DELETE", "/api/v1/server/extended-types/{name}", Role::Admin,
      [this](http::Request& req, const Identity&) {
        result_or_throw(db().policy.remove_accepted_extended_type(req.params["name"]));
        return ok("extended type removed");
      });
  api(r, "POST", "/api/v1/server/kick-type/{type}", Role::Admin, [this](http::Request& req, const Identity&) {
    result_or_throw(db().policy.kick_type(type_param(path_or_field(req, "type"))));
    return ok("every connection of this type was kicked");
  });
  // The two blocklists: list (search, pages), add, remove.
  struct BlocklistRoutes {
    const char* path;
    bool ips;
    Role change_role;  // least role that may add or remove entries
    const char* field;
    PolicyAction add, remove;
    const char* added;  // message; the IP list names the canonical entry instead
    const char* removed;
  };
  for (const BlocklistRoutes& b :
       {BlocklistRoutes{"/api/v1/server/blocklist/ips", true, Role::User, "ip", &core::SensorPolicy::block_ip,
                        &core::SensorPolicy::unblock_ip, nullptr, "unblocked"},
        BlocklistRoutes{"/api/v1/server/blocklist/uuids", false, Role::Admin, "uuid",
                        &core::SensorPolicy::block_uuid, &core::SensorPolicy::unblock_uuid, "sensor blocked",
                        "sensor unblocked"}}) {
    api(r, "GET", b.path, Role::User, [this, b](http::Request& req, const Identity&) {
      Input in(req);
      return blocklist(db(), b.ips, in.str("q"), page_of(in), per_page_of(in, 100));
    });
    api(r, "POST", b.path, b.change_role, [this, b](http::Request& req, const Identity& id) {
      auto value = Input(req).required(b.field);
      if (b.ips) check_block_scope(value, id, true);
      auto res = (db().policy.*b.add)(value);
      result_or_throw(res);
      return ok(b.added ? b.added : res.value + " blocked", {{"value", res.value}});
    });
    api(r, "DELETE", b.path, b.change_role, [this, b](http::Request& req, const Identity& id) {
      auto value = Input(req).required(b.field);
      if (b.ips) check_block_scope(value, id, false);
      auto res = (db().policy.*b.remove)(value);
      result_or_throw(res);
      return ok(b.removed, {{"value", res.value}});
    });
  }

  // ---- analyzer queues ----
  api(r, "GET", "/api/v1/queues", Role::User, [this](http::Request&, const Identity&) {
    auto& d = db();
    json a = json::array();
    for (const auto& q : d.queue_store.list()) a.push_back(queue_json(d, q));
    return json{{"items", a}, {"default_max_size", d.queue_store.default_max_size()}};
  });
  api(r, "POST", "/api/v1/queues", Role::User, [this](http::Request& req, const Identity&) {
    Input in(req);
    queues::QueueSpec spec;
    spec.target = target_of(in);
    spec.id = in.str("id");
    spec.description = bounded_text(in, "description", cfg_.max_description_length, "the description");
    spec.max_size = in.integer("max_size");
    if (spec.max_size && *spec.max_size < 1) throw ApiError(400, "max_size must be >= 1");
    spec.sensors = in.list("sensors");
    spec.group = in.flag("group") || !spec.sensors.empty();
    auto& d = db();
    auto q = d.queue_store.create(spec);
    return ok("queue created", {{"queue", queue_json(d, q)}});
  });
  api(r, "GET", "/api/v1/queues/{id}", Role::User, [this](http::Request& req, const Identity&) {
    auto& d = db();
    auto q = require_queue(d, req.params["id"]);
    return queue_json(d, q);
  });
  api(r, "PUT", "/api/v1/queues/{id}", Role::Admin, [this](http::Request& req, const Identity&) {
    Input in(req);
    auto& d = db();
    auto q = require_queue(d, req.params["id"]);
    if (in.has("description"))
      d.queue_store.set_description(
          q.id, bounded_text(in, "description", cfg_.max_description_length, "the description"));
    if (in.has("max_size")) {
      auto m = in.integer("max_size");
      if (m && *m < 1) throw ApiError(400, "max_size must be >= 1");
      d.queue_store.set_max_size(q.id, m);
    }
    if (in.has("sensors")) {
      auto wanted = in.list("sensors");
      std::vector<std::string> normalized;
      for (const auto& s : wanted) normalized.push_back(queues::normalize_sensor(s));
      std::vector<std::string> to_remove;
      for (const auto& s : q.sensors)
        if (std::find(normalized.begin(), normalized.end(), s) == normalized.end()) to_remove.push_back(s);
      if (!to_remove.empty()) d.queue_store.remove_sensors(q.id, to_remove);
      if (!normalized.empty()) d.queue_store.add_sensors(q.id, normalized);
    }
    return ok("queue saved", {{"queue", queue_json(d, d.queue_store.require(q.id))}});
  });
  api(r, "DELETE", "/api/v1/queues/{id}", Role::Admin, [this](http::Request& req, const Identity&) {
    auto& d = db();
    auto q = require_queue(d, req.params["id"]);
    d.queue_store.remove(q.id);
    return ok("queue deleted");
  });
  api(r, "POST", "/api/v1/queues/{id}/empty", Role::Admin, [this](http::Request& req, const Identity&) {
    auto& d = db();
    auto q = require_queue(d, req.params["id"]);
    auto n = d.queue_store.empty(q.id);
    return ok(std::to_string(n) + " elements deleted", {{"deleted", n}});
  });
  api(r, "GET", "/api/v1/queues/{id}/preview", Role::User, [this](http::Request& req, const Identity&) {
    Input in(req);
    auto& d = db();
    auto q = require_queue(d, req.params["id"]);
    long long n = std::clamp<long long>(in.integer("count").value_or(11), 1, 100);
    long long max_len = std::clamp<long long>(in.integer("max_line_len").value_or(3000), 10, 100000);
    auto items = d.analyzer.command({"LRANGE", q.list_key(), "0", std::to_string(n - 1)}).as_strings();
    json a = json::array();
    for (auto& s : items) {
      bool cut = static_cast<long long>(s.size()) > max_len;
      if (cut) s.resize(static_cast<std::size_t>(max_len));
      a.push_back({{"value", s}, {"truncated", cut}});
    }
    return json{{"id", q.id}, {"newest_first", a}};
  });

  // ---- backscatter (d4-pibs results, read-only) ----
  api(r, "GET", "/api/v1/backscatter/stats", Role::User,
      [this](http::Request&, const Identity&) { return backscatter_stats(db()); });
  api(r, "GET", "/api/v1/backscatter/victims", Role::User, [this](http::Request& req, const Identity&) {
    return backscatter_victims(db(), parse_victim_query(Input(req)));
  });
  api(r, "GET", "/api/v1/backscatter/victims/{ip}", Role::User, [this](http::Request& req, const Identity&) {
    long long ports = Input(req).integer("ports").value_or(20);
    if (ports < 1 || ports > 1000) throw ApiError(400, "ports must be 1..1000");
    return backscatter_victim(db(), req.params["ip"], ports);
  });
  api(r, "GET", "/api/v1/backscatter/victims/{ip}/series", Role::User,
      [this](http::Request& req, const Identity&) {
        long long points = Input(req).integer("points").value_or(240);
        if (points < 10 || points > 2000) throw ApiError(400, "points must be 10..2000");
        return backscatter_series(db(), req.params["ip"], points);
      });

  // ---- users and tokens ----
  api(r, "GET", "/api/v1/me", Role::SensorRegister, [this](http::Request&, const Identity& id) {
    auto u = db().user_store.get(id.user);
    if (!u) throw ApiError(404, "no such user");
    return user_json(*u);
  });
  api(r, "POST", "/api/v1/me/password", Role::SensorRegister, [this](http::Request& req, const Identity& id) {
    Input in(req);
    auto& d = db();
    using O = PasswordVerdict::Outcome;
    auto verdict = check_password(d, id.user, in.str("current_password"), req.remote_ip);
    if (verdict.outcome == O::Busy)
      throw ApiError(503, "the server is busy checking other passwords; try again in a moment");
    if (verdict.outcome == O::Delayed)
      throw ApiError(429, "too many wrong passwords; wait " + std::to_string(verdict.wait_seconds) + " s");
    if (verdict.outcome == O::Wrong) throw ApiError(400, "the current password is wrong");
    auto pw = in.required("new_password");
    if (auto why = password_policy_violation(pw)) throw ApiError(400, *why);
    d.user_store.set_password(id.user, pw, false);
    d.sessions.destroy_all_of(id.user);
    if (id.user == cfg_.admin_email) {
      std::error_code ec;
      std::filesystem::remove(cfg_.state_dir / "ADMIN_PASSWORD", ec);
    }
    return ok("password changed; sign in again");
  });
  api(r, "POST", "/api/v1/me/tokens", Role::User, [this](http::Request& req, const Identity& id) {
    Input in(req);
    auto name = in.str("name", "api");
    if (name.size() > 100) throw ApiError(400, "the token name is longer than 100 characters");
    return token_created(create_token(db(), id.user, name));
  });
  api(r, "DELETE", "/api/v1/me/tokens/{id}", Role::SensorRegister,
      [this](http::Request& req, const Identity& id) {
        if (!db().user_store.revoke_token(id.user, req.params["id"])) throw ApiError(404, "no such token");
        return ok("token revoked");
      });
  api(r, "GET", "/api/v1/users", Role::Admin, [this](http::Request&, const Identity&) {
    json a = json::array();
    for (const auto& u : db().user_store.list()) a.push_back(user_json(u));
    return json{{"items", a}};
  });
  api(r, "POST", "/api/v1/users", Role::Admin, [this](http::Request& req, const Identity&) {
    Input in(req);
    auto email = in.required("email");
    if (auto why = email_violation(email)) throw ApiError(400, *why);
    auto role = parse_role(in.str("role", "user"));
    if (!role) throw ApiError(400, "role must be admin, user or sensor_register");
    auto& d = db();
    if (d.user_store.exists(email)) throw ApiError(409, "this user already exists");
    auto [pw, generated] = password_or_generated(in);
    // A generated password is a one-time secret: the user must replace it at first login.
    d.user_store.upsert(email, *role, pw, generated || in.flag("must_change_password"));
    json extra = {{"user", user_json(*d.user_store.get(email))}};
    if (generated) extra["password"] = pw;
    return ok("user created", extra);
  });
  api(r, "GET", "/api/v1/users/{email}", Role::Admin, [this](http::Request& req, const Identity&) {
    auto u = db().user_store.get(req.params["email"]);
    if (!u) throw ApiError(404, "no such user");
    return user_json(*u);
  });
  api(r, "PUT", "/api/v1/users/{email}", Role::Admin, [this](http::Request& req, const Identity& id) {
    Input in(req);
    auto& d = db();
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
      d.user_store.set_password(email, pw, true);
      d.sessions.destroy_all_of(email);
      if (generated) extra["password"] = pw;
    }
    extra["user"] = user_json(*d.user_store.get(email));
    return ok("user saved", extra);
  });
  api(r, "DELETE", "/api/v1/users/{email}", Role::Admin, [this](http::Request& req, const Identity& id) {
    auto email = req.params["email"];
    if (email == id.user) throw ApiError(400, "you cannot delete your own account");
    auto& d = db();
    if (!d.user_store.exists(email)) throw ApiError(404, "no such user");
    d.user_store.remove(email);
    d.sessions.destroy_all_of(email);
    return ok("user deleted");
  });
  api(r, "POST", "/api/v1/users/{email}/tokens", Role::Admin, [this](http::Request& req, const Identity&) {
    Input in(req);
    auto& d = db();
    auto email = req.params["email"];
    if (!d.user_store.exists(email)) throw ApiError(404, "no such user");
    return token_created(create_token(d, email, in.str("name", "api")));
  });
  api(r, "DELETE", "/api/v1/users/{email}/tokens/{id}", Role::Admin,
      [this](http::Request& req, const Identity&) {
        if (!db().user_store.revoke_token(req.params["email"], req.params["id"]))
          throw ApiError(404, "no such token");
        return ok("token revoked");
      });
}

}  // namespace d4::web
