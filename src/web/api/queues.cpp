// /api/v1: analyzer queues (docs/api/openapi.json).
#include "web/api/helpers.hpp"

namespace d4::web::api {

void queues(WebApp& app, http::Router& r) {
  app.api(r, "GET", "/api/v1/queues", Role::User, [&app](http::Request&, const Identity&) {
    auto& d = app.db();
    json a = json::array();
    for (const auto& q : d.queue_store.list()) a.push_back(app.queue_json(d, q));
    return json{{"items", a}, {"default_max_size", d.queue_store.default_max_size()}};
  });
  app.api(r, "POST", "/api/v1/queues", Role::User, [&app](http::Request& req, const Identity&) {
    Input in(req);
    queues::QueueSpec spec;
    spec.target = target_of(in);
    spec.id = in.str("id");
    spec.description =
        bounded_text(in, "description", app.config().max_description_length, "the description");
    spec.max_size = in.integer("max_size");
    if (spec.max_size && *spec.max_size < 1) throw ApiError(400, "max_size must be >= 1");
    spec.sensors = in.list("sensors");
    spec.group = in.flag("group") || !spec.sensors.empty();
    auto& d = app.db();
    auto q = d.queue_store.create(spec);
    return ok("queue created", {{"queue", app.queue_json(d, q)}});
  });
  app.api(r, "GET", "/api/v1/queues/{id}", Role::User, [&app](http::Request& req, const Identity&) {
    auto& d = app.db();
    auto q = require_queue(d, req.params["id"]);
    return app.queue_json(d, q);
  });
  app.api(r, "PUT", "/api/v1/queues/{id}", Role::Admin, [&app](http::Request& req, const Identity&) {
    Input in(req);
    auto& d = app.db();
    auto q = require_queue(d, req.params["id"]);
    if (in.has("description"))
      d.queue_store.set_description(
          q.id, bounded_text(in, "description", app.config().max_description_length, "the description"));
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
    return ok("queue saved", {{"queue", app.queue_json(d, d.queue_store.require(q.id))}});
  });
  app.api(r, "DELETE", "/api/v1/queues/{id}", Role::Admin, [&app](http::Request& req, const Identity&) {
    auto& d = app.db();
    auto q = require_queue(d, req.params["id"]);
    d.queue_store.remove(q.id);
    return ok("queue deleted");
  });
  app.api(r, "POST", "/api/v1/queues/{id}/empty", Role::Admin, [&app](http::Request& req, const Identity&) {
    auto& d = app.db();
    auto q = require_queue(d, req.params["id"]);
    auto n = d.queue_store.empty(q.id);
    return ok(std::to_string(n) + " elements deleted", {{"deleted", n}});
  });
  app.api(r, "GET", "/api/v1/queues/{id}/preview", Role::User, [&app](http::Request& req, const Identity&) {
    Input in(req);
    auto& d = app.db();
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
}

}  // namespace d4::web::api
