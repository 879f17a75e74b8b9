// Organisations: the store and the sensor ownership (organisations.hpp).
#include "core/organisations.hpp"

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "core/keys.hpp"
#include "core/sensors.hpp"

namespace d4::core {

namespace {
std::string normalized_org_uuid(std::string_view text) {
  auto u = normalize_sensor_uuid(text);
  if (!u) throw std::invalid_argument("invalid organisation UUID");
  return *u;
}

std::map<std::string, std::string> hash_of(const RedisReply& r) {
  std::map<std::string, std::string> m;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) m[r.elements[i].str] = r.elements[i + 1].str;
  return m;
}

// Members of `hash` (field -> organisation) that name `org`, sorted.
std::vector<std::string> fields_naming(RedisClient& meta, std::string_view hash, std::string_view org) {
  std::vector<std::string> out;
  for (const auto& [k, v] : hash_of(meta.command({"HGETALL", hash})))
    if (v == org) out.push_back(k);
  return out;
}
}  // namespace

const std::string& SensorOwnership::owner(const std::string& sensor) const {
  auto it = owners_.find(sensor);
  return it == owners_.end() ? default_ : it->second;
}

bool SensorOwnership::several_organisations_own_sensors() const {
  return std::any_of(owners_.begin(), owners_.end(), [&](const auto& kv) { return kv.second != default_; });
}

std::optional<std::string> organisation_name_violation(std::string_view name) {
  if (name.empty()) return "the organisation name is empty";
  if (name.size() > 200) return "the organisation name is longer than 200 characters";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return "the organisation name contains a control character";
  return std::nullopt;
}

std::optional<std::string> OrganisationStore::default_id() {
  return meta_.command({"GET", keys::kDefaultOrganisation}).as_string();
}

std::string OrganisationStore::ensure_default(const std::string& name, const std::string& uuid_text) {
  std::string uuid;
  if (auto d = default_id(); d && !d->empty()) {
    uuid = *d;
  } else {
    uuid = normalized_org_uuid(uuid_text);
    if (auto why = organisation_name_violation(name)) throw std::invalid_argument(*why);
    // SET NX: two d4-web processes starting together agree on one default organisation.
    if (meta_.command({"SET", keys::kDefaultOrganisation, uuid, "NX"}).is_nil())
      uuid = default_id().value_or(uuid);
  }
  // Listed and named at every start, not only the first: on a Redis Cluster these keys lie in
  // different slots, so a first start stopped after the SET (a master unreachable) would otherwise
  // leave the default organisation unlisted for good. SADD and HSETNX repeat safely and keep a
  // name given since.
  std::vector<std::vector<std::string>> cmds = {{"SADD", std::string(keys::kOrganisations), uuid}};
  if (!organisation_name_violation(name)) cmds.push_back({"HSETNX", keys::organisation(uuid), "name", name});
  cmds.push_back({"HSETNX", keys::organisation(uuid), "created", std::to_string(std::time(nullptr))});
  for (const auto& r : meta_.pipeline(cmds))
    if (r.is_error()) throw RedisError("default organisation: " + r.str);
  return uuid;
}

std::optional<Organisation> OrganisationStore::get(std::string_view text) {
  auto uuid = normalize_sensor_uuid(text);
  if (!uuid) return std::nullopt;
  auto r = meta_.pipeline({{"SISMEMBER", std::string(keys::kOrganisations), *uuid},
                           {"HMGET", keys::organisation(*uuid), "name", "created"},
                           {"GET", std::string(keys::kDefaultOrganisation)}});
  if (r[0].integer != 1) return std::nullopt;
  Organisation o;
  o.uuid = *uuid;
  if (r[1].elements.size() == 2) {
    o.name = r[1].elements[0].str;
    o.created = r[1].elements[1].is_nil() ? 0 : std::atoll(r[1].elements[1].str.c_str());
  }
  o.is_default = r[2].str == *uuid;
  return o;
}

std::vector<Organisation> OrganisationStore::list() {
  auto ids = meta_.command({"SMEMBERS", keys::kOrganisations}).as_strings();
  std::vector<Organisation> out;
  for (const auto& id : ids)
    if (auto o = get(id)) out.push_back(std::move(*o));
  std::sort(out.begin(), out.end(), [](const Organisation& a, const Organisation& b) {
    if (a.is_default != b.is_default) return a.is_default;
    return a.name != b.name ? a.name < b.name : a.uuid < b.uuid;
  });
  return out;
}

Organisation OrganisationStore::create(const std::string& name, const std::string& uuid_text) {
  auto uuid = normalized_org_uuid(uuid_text);
  if (auto why = organisation_name_violation(name)) throw std::invalid_argument(*why);
  if (meta_.command({"SADD", keys::kOrganisations, uuid}).integer == 0)
    throw OrganisationExists("an organisation with this UUID exists");
  auto now = static_cast<long long>(std::time(nullptr));
  meta_.command_ok({"HSET", keys::organisation(uuid), "name", name, "created", std::to_string(now)});
  return {uuid, name, now, false};
}

bool OrganisationStore::rename(std::string_view uuid, const std::string& name) {
  if (auto why = organisation_name_violation(name)) throw std::invalid_argument(*why);
  auto o = get(uuid);
  if (!o) return false;
  meta_.command_ok({"HSET", keys::organisation(o->uuid), "name", name});
  return true;
}

bool OrganisationStore::remove(std::string_view text) {
  auto o = get(text);
  if (!o) return false;
  if (o->is_default) throw std::invalid_argument("the default organisation cannot be deleted");
  // Members and record first, the listing in d4:orgs last: on a Redis Cluster these keys lie in
  // different slots (no transaction spans them), and an organisation still listed is one whose
  // removal a repeat finishes (get() finds it, the HDELs and DEL repeat harmlessly).
  std::vector<std::vector<std::string>> cmds;
  for (const auto& s : sensors_of(o->uuid))
    cmds.push_back({"HDEL", std::string(keys::kSensorOrganisation), s});
  // Its members lose their organisation administrator right with it: a member left unassigned
  // belongs to the default organisation, which the right would otherwise carry over to.
  for (const auto& u : users_of(o->uuid)) {
    cmds.push_back({"SREM", std::string(keys::kOrganisationAdmins), u});
    cmds.push_back({"HDEL", std::string(keys::kUserOrganisation), u});
  }
  cmds.push_back({"DEL", keys::org_channels(o->uuid)});
  cmds.push_back({"DEL", keys::organisation(o->uuid)});
  for (const auto& r : meta_.pipeline(cmds))
    if (r.is_error()) throw RedisError("remove organisation: " + r.str);
  meta_.command_ok({"SREM", keys::kOrganisations, o->uuid});
  return true;
}

SensorOwnership OrganisationStore::ownership() {
  auto r = meta_.pipeline({{"HGETALL", std::string(keys::kSensorOrganisation)},
                           {"GET", std::string(keys::kDefaultOrganisation)}});
  return SensorOwnership(hash_of(r[0]), r[1].is_nil() ? std::string() : r[1].str);
}

std::string OrganisationStore::sensor_owner(std::string_view sensor) {
  auto r = meta_.pipeline({{"HGET", std::string(keys::kSensorOrganisation), std::string(sensor)},
                           {"GET", std::string(keys::kDefaultOrganisation)}});
  return !r[0].is_nil() ? r[0].str : r[1].is_nil() ? std::string() : r[1].str;
}

void OrganisationStore::assign_sensor(std::string_view sensor, std::string_view org) {
  meta_.command_ok({"HSET", keys::kSensorOrganisation, sensor, org});
}

void OrganisationStore::forget_sensor(std::string_view sensor) {
  meta_.command_ok({"HDEL", keys::kSensorOrganisation, sensor});
}

std::string OrganisationStore::user_org(std::string_view user) {
  auto r = meta_.pipeline({{"HGET", std::string(keys::kUserOrganisation), std::string(user)},
                           {"GET", std::string(keys::kDefaultOrganisation)}});
  return !r[0].is_nil() ? r[0].str : r[1].is_nil() ? std::string() : r[1].str;
}

void OrganisationStore::assign_user(std::string_view user, std::string_view org) {
  meta_.command_ok({"HSET", keys::kUserOrganisation, user, org});
}

void OrganisationStore::forget_user(std::string_view user) {
  meta_.command_ok({"HDEL", keys::kUserOrganisation, user});
}

std::vector<std::string> OrganisationStore::users_of(std::string_view org) {
  return fields_naming(meta_, keys::kUserOrganisation, org);
}

std::vector<std::string> OrganisationStore::sensors_of(std::string_view org) {
  return fields_naming(meta_, keys::kSensorOrganisation, org);
}

}  // namespace d4::core
