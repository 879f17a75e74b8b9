// Queue grants between organisations (grants.hpp).
#include "web/models/grants.hpp"

#include <algorithm>
#include <ctime>

#include "core/keys.hpp"
#include "web/models/organisations.hpp"
#include "web/request.hpp"

namespace d4::web::models {

namespace keys = core::keys;

namespace {
bool grant_viewer_is_admin(const Identity& id) {
  return role_allows(id.role, Role::Admin);
}

std::vector<std::string> json_strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (auto it = j.find(key); it != j.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}
}  // namespace

bool Grants::administers(const Identity& viewer, const std::string& org) {
  return administers_organisation(db_, viewer, org);
}

std::vector<Grants::Stored> Grants::stored() {
  std::vector<Stored> out;
  for (auto& [id, text] : hash_pairs(db_.meta.command({"HGETALL", keys::kQueueGrants}))) {
    auto j = json::parse(text, nullptr, false);
    if (!j.is_object()) continue;
    out.push_back({id, j.value("from", ""), j.value("to", ""), j.value("by", ""), j.value("created", 0LL)});
  }
  std::sort(out.begin(), out.end(), [](const Stored& a, const Stored& b) {
    return a.created != b.created ? a.created < b.created : a.id < b.id;
  });
  return out;
}

std::optional<Grants::Stored> Grants::stored(const std::string& id) {
  // The grant is recorded under the queue's id as stored; accept any spelling of it.
  auto q = db_.queue_store.get(id);
  const std::string key = q ? q->id : id;
  for (auto& g : stored())
    if (g.id == key) return g;
  return std::nullopt;
}

OrgRef Grants::ref(const std::string& org) {
  auto o = orgs_.get(org);
  return {org, o ? o->name : std::string()};
}

GrantView Grants::view(const Stored& g, const queues::QueueInfo* q, const Identity& viewer,
                       const std::string& own) {
  GrantView v;
  v.id = g.id;
  v.from = ref(g.from);
  v.to = ref(g.to);
  v.by = g.by;
  v.created = g.created;
  if (q) {
    v.target = q->target.list_part();
    v.type = q->target.type;
    v.description = q->description;
    v.list_key = q->list_key();
    if (grant_viewer_is_admin(viewer) || own == g.from) v.sensors = q->sensors;
  }
  v.may_revoke = administers(viewer, g.from);
  return v;
}

GrantList Grants::list(const Identity& viewer) {
  GrantList l;
  l.own_org = orgs_.user_org(viewer.user);
  l.may_grant = administers(viewer, l.own_org);
  const bool all = grant_viewer_is_admin(viewer);
  for (const auto& g : stored()) {
    if (!all && g.from != l.own_org && g.to != l.own_org) continue;
    auto q = db_.queue_store.get(g.id);
    l.items.push_back(view(g, q ? &*q : nullptr, viewer, l.own_org));
  }
  return l;
}

// The sensors of the request, each one `from` owns (explicitly, or as the default organisation a
// sensor the server knows and nobody else owns). A sensor outside is refused with the same message
// whether it is unknown or another organisation's.
std::vector<std::string> Grants::sensors_for(const GrantRequest& r, const std::string& from) {
  auto wanted = r.sensors.empty() ? orgs_.sensors_of(from) : r.sensors;
  if (wanted.empty())
    throw ApiError(400, "name the sensors whose data the queue receives (the granting organisation's)");
  auto ownership = orgs_.ownership();
  std::vector<std::string> out;
  for (const auto& text : wanted) {
    auto s = require_uuid(text);
    bool owned = ownership.owner(s) == from;
    if (owned && !ownership.assigned(s)) {
      auto known = db_.meta.pipeline({{"SISMEMBER", std::string(keys::kSensorIndex), s},
                                      {"SISMEMBER", std::string(keys::kRegisteredUuids), s}});
      owned = known[0].integer == 1 || known[1].integer == 1;
    }
    if (!owned) throw ApiError(400, "sensor " + s + " is not one of the granting organisation's sensors");
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

GrantView Grants::grant(const Identity& viewer, GrantRequest r) {
  const std::string own = orgs_.user_org(viewer.user);
  auto from = orgs_.get(r.from.empty() ? own : r.from);
  if (!from) throw ApiError(404, "no such organisation");
  if (!administers(viewer, from->uuid))
    throw ApiError(403, "Access Forbidden");  // the organisation's administrators or the server's
  auto to = orgs_.get(r.to);
  if (!to) throw ApiError(404, "no such organisation");
  if (to->uuid == from->uuid) throw ApiError(400, "an organisation does not grant a queue to itself");
  auto sensors = sensors_for(r, from->uuid);
  auto all = stored();
  auto granted = std::count_if(all.begin(), all.end(), [&](const Stored& g) { return g.from == from->uuid; });
  if (granted >= cfg_.max_grants_per_organisation)
    throw ApiError(409, "the organisation has granted " + std::to_string(granted) +
                            " queues ([web] max_grants_per_organisation); revoke one first");
  queues::QueueSpec spec;
  spec.target = r.target;
  spec.description = r.description;
  spec.max_size = r.max_size;
  spec.group = true;
  spec.sensors = sensors;
  auto q = db_.queue_store.create(spec);
  Stored g{q.id, from->uuid, to->uuid, viewer.user, static_cast<long long>(std::time(nullptr))};
  db_.meta.command_ok({"HSET", keys::kQueueGrants, g.id,
                       json{{"from", g.from}, {"to", g.to}, {"by", g.by}, {"created", g.created}}.dump()});
  record(viewer, "granted", g, &q, q.sensors);
  return view(g, &q, viewer, own);
}

void Grants::record(const Identity& viewer, const std::string& action, const Stored& g,
                    const queues::QueueInfo* q, const std::vector<std::string>& sensors) {
  json e = {{"time", static_cast<long long>(std::time(nullptr))},
            {"action", action},
            {"by", viewer.user},
            {"grant", g.id},
            {"from", g.from},
            {"from_name", ref(g.from).name},
            {"to", g.to},
            {"to_name", ref(g.to).name},
            {"target", q ? q->target.list_part() : std::string()},
            {"sensors", sensors}};
  // Newest first, at most grant_audit_max_entries: the oldest entries go.
  db_.meta.pipeline({{"LPUSH", std::string(keys::kQueueGrantAudit), e.dump()},
                     {"LTRIM", std::string(keys::kQueueGrantAudit), "0",
                      std::to_string(cfg_.grant_audit_max_entries - 1)}});
}

void Grants::remove(const Identity& viewer, const Stored& g, const std::string& action) {
  auto q = db_.queue_store.get(g.id);
  // The record first: the grantee loses access before the queue goes.
  db_.meta.command_ok({"HDEL", keys::kQueueGrants, g.id});
  record(viewer, action, g, q ? &*q : nullptr, q ? q->sensors : std::vector<std::string>{});
  if (q) db_.queue_store.remove(q->id);
}

void Grants::revoke(const Identity& viewer, const std::string& id) {
  auto g = stored(id);
  const std::string own = orgs_.user_org(viewer.user);
  if (!g || (!grant_viewer_is_admin(viewer) && g->from != own && g->to != own))
    throw ApiError(404, "no such grant");
  if (!administers(viewer, g->from))
    throw ApiError(403, "Access Forbidden");  // the grantee's side may not revoke
  remove(viewer, *g, "revoked");
}

bool Grants::forget_queue(const Identity& viewer, const std::string& queue_id) {
  auto g = stored(queue_id);
  if (!g) return false;
  auto q = db_.queue_store.get(g->id);
  db_.meta.command_ok({"HDEL", keys::kQueueGrants, g->id});
  record(viewer, "revoked", *g, q ? &*q : nullptr, q ? q->sensors : std::vector<std::string>{});
  return true;
}

void Grants::sensor_moved(const Identity& viewer, const std::string& sensor, const std::string& new_org) {
  for (const auto& g : stored()) {
    if (g.from == new_org) continue;
    auto q = db_.queue_store.get(g.id);
    if (!q || std::find(q->sensors.begin(), q->sensors.end(), sensor) == q->sensors.end()) continue;
    db_.queue_store.remove_sensors(q->id, {sensor});
    record(viewer, "sensor_removed", g, &*q, {sensor});
  }
}

void Grants::organisation_removed(const Identity& viewer, const std::string& org) {
  for (const auto& g : stored())
    if (g.from == org || g.to == org) remove(viewer, g, "revoked");
}

GrantAudit Grants::audit(const Identity& viewer) {
  const bool all = grant_viewer_is_admin(viewer);
  const std::string own = orgs_.user_org(viewer.user);
  if (!all && !administers(viewer, own))
    throw ApiError(403, "Access Forbidden");  // administrators of the server or an organisation
  GrantAudit a;
  a.kept = cfg_.grant_audit_max_entries;
  for (const auto& text : db_.meta.command({"LRANGE", keys::kQueueGrantAudit, "0", "-1"}).as_strings()) {
    auto j = json::parse(text, nullptr, false);
    if (!j.is_object()) continue;
    GrantAuditEntry e;
    e.time = j.value("time", 0LL);
    e.action = j.value("action", "");
    e.by = j.value("by", "");
    e.grant = j.value("grant", "");
    e.target = j.value("target", "");
    e.from = {j.value("from", ""), j.value("from_name", "")};
    e.to = {j.value("to", ""), j.value("to_name", "")};
    if (!all && e.from.uuid != own && e.to.uuid != own) continue;
    // The grantee's side never learns the granting organisation's sensors.
    if (all || e.from.uuid == own) e.sensors = json_strings(j, "sensors");
    a.items.push_back(std::move(e));
  }
  return a;
}

}  // namespace d4::web::models
