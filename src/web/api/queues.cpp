// /api/v1: analyzer queues (docs/api/openapi.json).
#include "web/models/queues.hpp"
#include "web/api/helpers.hpp"
#include "web/models/grants.hpp"

namespace d4::web::api {

namespace {
// The queue `id` if the user may see it; another organisation's queue is "no such queue" too.
queues::QueueInfo require_queue(Db& d, const std::string& id, const Identity& who) {
  auto q = d.queue_store.get(id);
  if (!q || !models::Queues::visible(*q, Scope::of(d, who))) throw ApiError(404, "no such queue");
  return *q;
}

// A user who sees only its organisation's sensors creates group queues of those sensors only.
void check_queue_sensors(Db& d, const Scope& scope, const queues::QueueSpec& spec) {
  if (scope.unrestricted()) return;
  if (spec.sensors.empty())
    throw ApiError(400, "a queue must name the sensors that feed it (your organisation's sensors)");
  for (const auto& s : spec.sensors) scope.require_sensor(d, require_uuid(s));
}

std::string description_of(WebApp& app, const Input& in) {
  return bounded_text(in, "description", app.config().max_description_length, "the description");
}

// Makes the group's sensors `wanted` (any UUID form).
void set_sensors(queues::QueueStore& store, const queues::QueueInfo& q,
                 const std::vector<std::string>& wanted) {
  std::vector<std::string> normalized;
  for (const auto& s : wanted) normalized.push_back(queues::normalize_sensor(s));
  std::vector<std::string> to_remove;
  for (const auto& s : q.sensors)
    if (std::find(normalized.begin(), normalized.end(), s) == normalized.end()) to_remove.push_back(s);
  if (!to_remove.empty()) store.remove_sensors(q.id, to_remove);
  if (!normalized.empty()) store.add_sensors(q.id, normalized);
}
}  // namespace

void queues(WebApp& app, Routes& r) {
  r.api("GET", "/api/v1/queues", Role::User, [&app](http::Request&, const Identity& id) {
    return json(models::Queues(app.db()).list(Scope::of(app.db(), id)));
  });
  r.api("POST", "/api/v1/queues", Role::User, [&app](http::Request& req, const Identity& id) {
    Input in(req);
    queues::QueueSpec spec;
    spec.target = target_of(in);
    spec.id = in.str("id");
    spec.description = description_of(app, in);
    spec.max_size = in.integer("max_size");
    if (spec.max_size && *spec.max_size < 1) throw ApiError(400, "max_size must be >= 1");
    spec.sensors = in.list("sensors");
    spec.group = in.flag("group") || !spec.sensors.empty();
    auto& d = app.db();
    check_queue_sensors(d, Scope::of(d, id), spec);
    auto q = d.queue_store.create(spec);
    return ok("queue created", {{"queue", models::Queues(d).view(q)}});
  });
  r.api("GET", "/api/v1/queues/{id}", Role::User, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    return json(models::Queues(d).view(require_queue(d, req.params["id"], id), Scope::of(d, id)));
  });
  r.api("PUT", "/api/v1/queues/{id}", Role::Admin, [&app](http::Request& req, const Identity& id) {
    Input in(req);
    auto& d = app.db();
    auto q = require_queue(d, req.params["id"], id);
    if (in.has("description")) d.queue_store.set_description(q.id, description_of(app, in));
    if (in.has("max_size")) {
      auto m = in.integer("max_size");
      if (m && *m < 1) throw ApiError(400, "max_size must be >= 1");
      d.queue_store.set_max_size(q.id, m);
    }
    if (in.has("sensors")) set_sensors(d.queue_store, q, in.list("sensors"));
    return ok("queue saved", {{"queue", models::Queues(d).view(d.queue_store.require(q.id))}});
  });
  r.api("DELETE", "/api/v1/queues/{id}", Role::Admin, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    auto q = require_queue(d, req.params["id"], id);
    // A granted queue deleted here is a revocation, audited as such.
    models::Grants(d, app.config()).forget_queue(id, q.id);
    d.queue_store.remove(q.id);
    return ok("queue deleted");
  });
  r.api("POST", "/api/v1/queues/{id}/empty", Role::Admin, [&app](http::Request& req, const Identity& id) {
    auto& d = app.db();
    auto n = d.queue_store.empty(require_queue(d, req.params["id"], id).id);
    return ok(std::to_string(n) + " elements deleted", {{"deleted", n}});
  });
  r.api("GET", "/api/v1/queues/{id}/preview", Role::User, [&app](http::Request& req, const Identity& id) {
    Input in(req);
    auto& d = app.db();
    auto q = require_queue(d, req.params["id"], id);
    return json(models::Queues(d).preview(q, in.integer("count").value_or(11),
                                          in.integer("max_line_len").value_or(3000)));
  });
}

}  // namespace d4::web::api
