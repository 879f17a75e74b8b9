// Self-service sensor registrations.
#include "web/models/registrations.hpp"

#include <ctime>

#include "core/keys.hpp"
#include "core/organisations.hpp"
#include "protocol/uuid.hpp"
#include "web/request.hpp"

namespace d4::web::models {

namespace keys = core::keys;

namespace {
bool registration_viewer_is_admin(const Identity& id) {
  return role_allows(id.role, Role::Admin);
}
}  // namespace

bool Registrations::may_approve(const Identity& viewer, const std::string& org) {
  if (registration_viewer_is_admin(viewer)) return true;
  if (cfg_.sensor_registration != "org-approval") return false;
  core::OrganisationStore orgs(db_.meta);
  return orgs.user_org(viewer.user) == org &&
         db_.meta.command({"SISMEMBER", keys::kOrganisationAdmins, viewer.user}).integer == 1;
}

RegistrationList Registrations::list(const Identity& viewer) {
  RegistrationList l{cfg_.sensor_registration, {}};
  const std::string own = core::OrganisationStore(db_.meta).user_org(viewer.user);
  for (auto& [uuid, text] : hash_pairs(db_.meta.command({"HGETALL", keys::kSensorRegistrations}))) {
    auto j = json::parse(text, nullptr, false);
    if (!j.is_object()) continue;
    RegistrationView v{
        uuid, j.value("org", ""), j.value("description", ""), j.value("by", ""), j.value("created", 0LL),
        false};
    if (!registration_viewer_is_admin(viewer) && v.org != own) continue;
    v.may_approve = may_approve(viewer, v.org);
    l.items.push_back(std::move(v));
  }
  std::sort(l.items.begin(), l.items.end(),
            [](const RegistrationView& a, const RegistrationView& b) { return a.created < b.created; });
  return l;
}

namespace {
// Stores a registration unless its sensor is pending already (0) or a budget is reached: the
// pending registrations in all (-1) or of the organisation (-2). One script, so that requests
// handled at once cannot pass a budget together. The organisation's count decodes each pending
// registration: at most max_pending_registrations of them.
constexpr const char* kStorePendingRegistration = R"(
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local pending = redis.call('HVALS', KEYS[1])
if #pending >= tonumber(ARGV[3]) then return -1 end
local of_org = 0
for _, text in ipairs(pending) do
  local ok, r = pcall(cjson.decode, text)
  if ok and type(r) == 'table' and r['org'] == ARGV[4] then of_org = of_org + 1 end
end
if of_org >= tonumber(ARGV[5]) then return -2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
)";
}  // namespace

void Registrations::store_within_budgets(const std::string& uuid, const std::string& org,
                                         const std::string& stored) {
  auto r = db_.meta.command({"EVAL", kStorePendingRegistration, "1", std::string(keys::kSensorRegistrations),
                             uuid, stored, std::to_string(cfg_.max_pending_registrations), org,
                             std::to_string(cfg_.max_pending_registrations_per_organisation)});
  if (r.is_error()) throw core::RedisError("registration: " + r.str);
  if (r.integer == 1) return;
  if (r.integer == 0) throw ApiError(409, "Sensor already registered");
  const bool total = r.integer == -1;
  if (counters_) {
    ++counters_->registrations_refused;
    ++(total ? counters_->registrations_refused_total_budget : counters_->registrations_refused_org_budget);
  }
  throw ApiError(429, total ? "too many pending registrations on the server (" +
                                  std::to_string(cfg_.max_pending_registrations) +
                                  ", [web] max_pending_registrations); an administrator must approve or "
                                  "reject some first"
                            : "too many pending registrations for your organisation (" +
                                  std::to_string(cfg_.max_pending_registrations_per_organisation) +
                                  ", [web] max_pending_registrations_per_organisation); approve, reject or "
                                  "withdraw some first");
}

RegistrationView Registrations::request(const Identity& viewer, const std::string& uuid_text,
                                        const std::string& key, const std::string& description) {
  if (cfg_.sensor_registration == "off") throw ApiError(403, "self-service sensor registration is off");
  auto parsed = protocol::Uuid::parse(uuid_text);
  if (!parsed || !parsed->is_v4()) throw ApiError(400, "Invalid uuid");
  if (key.empty() || key.find('\0') != std::string::npos || key.back() == '\n')
    throw ApiError(400, "the key must be non-empty, without NUL bytes or a trailing newline");
  if (description.size() > cfg_.max_description_length)
    throw ApiError(
        400, "the description is longer than " + std::to_string(cfg_.max_description_length) + " characters");
  const std::string uuid = parsed->dashless();
  auto r = db_.meta.pipeline(
      {{"EXISTS", keys::sensor_metadata(uuid)}, {"SISMEMBER", std::string(keys::kRegisteredUuids), uuid}});
  if (r[0].integer != 0 || r[1].integer != 0) throw ApiError(409, "Sensor already registered");
  RegistrationView v{uuid,
                     core::OrganisationStore(db_.meta).user_org(viewer.user),
                     description,
                     viewer.user,
                     static_cast<long long>(std::time(nullptr)),
                     false};
  json stored = {
      {"org", v.org}, {"key", key}, {"description", v.description}, {"by", v.by}, {"created", v.created}};
  store_within_budgets(uuid, v.org, stored.dump());
  v.may_approve = may_approve(viewer, v.org);
  return v;
}

Registrations::Stored Registrations::require(const Identity& viewer, const std::string& uuid_text) {
  auto uuid = core::normalize_sensor_uuid(uuid_text);
  auto text = uuid ? db_.meta.command({"HGET", keys::kSensorRegistrations, *uuid}).as_string() : std::nullopt;
  auto j = text ? json::parse(*text, nullptr, false) : json();
  Stored s;
  if (j.is_object()) {
    s.view = {
        *uuid, j.value("org", ""), j.value("description", ""), j.value("by", ""), j.value("created", 0LL),
        false};
    s.key = j.value("key", "");
  }
  // Another organisation's registration answers like none.
  if (!j.is_object() || (!registration_viewer_is_admin(viewer) &&
                         s.view.org != core::OrganisationStore(db_.meta).user_org(viewer.user)))
    throw ApiError(404, "no such registration");
  return s;
}

std::string Registrations::approve(const Identity& viewer, const std::string& uuid) {
  auto s = require(viewer, uuid);
  if (!may_approve(viewer, s.view.org))
    throw ApiError(403, cfg_.sensor_registration == "org-approval"
                            ? "an administrator or one of the organisation's administrators approves it"
                            : "an administrator approves it");
  // Steps that a repeat finishes: on a Redis Cluster the sensor's hash, the registered and pending
  // sets, the index, the assignment and the registration record lie in different slots (no
  // transaction spans them). The record goes last, so an approval stopped half-way (a master
  // unreachable) stays listed, and approving it again finds the steps already made and goes on.
  const std::string& u = s.view.uuid;
  auto registered = db_.policy.register_sensor(u, s.key, {}, s.view.description);
  if (!registered) {
    // Registered already with the registration's own key: an earlier approval wrote the hash.
    if (registered.code != core::PolicyResult::Code::Conflict ||
        db_.meta.command({"HGET", keys::sensor_metadata(u), "hmac_key"}).as_string() != s.key)
      result_or_throw(registered);
    std::vector<std::vector<std::string>> rest = {{"SADD", std::string(keys::kSensorIndex), u}};
    if (!s.view.description.empty())
      rest.push_back({"HSETNX", keys::sensor_metadata(u), "description", s.view.description});
    for (const auto& r : db_.meta.pipeline(rest))
      if (r.is_error()) throw core::RedisError("approve registration: " + r.str);
  }
  auto approved = db_.policy.approve(u);
  if (!approved) {
    if (approved.code != core::PolicyResult::Code::Conflict) result_or_throw(approved);
    // In registered_uuid already (an earlier approval): what followed its SADD is repeated.
    db_.meta.command_ok({"SREM", keys::kPendingRegistrations, u});
    db_.policy.announce_policy_change();
  }
  core::OrganisationStore orgs(db_.meta);
  if (!s.view.org.empty()) orgs.assign_sensor(u, s.view.org);
  db_.meta.command_ok({"HDEL", keys::kSensorRegistrations, u});
  return u;
}

void Registrations::reject(const Identity& viewer, const std::string& uuid) {
  auto s = require(viewer, uuid);
  if (s.view.by != viewer.user && !may_approve(viewer, s.view.org))
    throw ApiError(403, "only its requester or who may approve it withdraws a registration");
  db_.meta.command_ok({"HDEL", keys::kSensorRegistrations, s.view.uuid});
}

}  // namespace d4::web::models
