// What a user may see: every sensor, or its organisation's (scope.hpp).
#include "web/auth/scope.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "web/request.hpp"

namespace d4::web {

namespace keys = core::keys;

Scope Scope::of(Db& d, const Identity& id) {
  Scope s;
  core::OrganisationStore orgs(d.meta);
  s.ownership_ = orgs.ownership();
  s.org_ = orgs.user_org(id.user);
  // An administrator sees everything; so does a user of the default organisation while no other
  // organisation owns a sensor (a single-team server, unchanged).
  s.all_ = role_allows(id.role, Role::Admin) ||
           (s.org_ == s.ownership_.default_org() && !s.ownership_.several_organisations_own_sensors());
  if (!s.all_) {
    auto grants = d.meta.command({"HGETALL", keys::kQueueGrants});
    for (std::size_t i = 0; i + 1 < grants.elements.size(); i += 2) {
      auto g = nlohmann::json::parse(grants.elements[i + 1].str, nullptr, false);
      if (g.is_object() && g.value("to", "") == s.org_) s.granted_.insert(grants.elements[i].str);
    }
  }
  return s;
}

std::vector<std::string> Scope::covered(std::vector<std::string> sensors) const {
  if (all_) return sensors;
  sensors.erase(
      std::remove_if(sensors.begin(), sensors.end(), [this](const std::string& u) { return !covers(u); }),
      sensors.end());
  return sensors;
}

void Scope::require_sensor(Db& d, const std::string& sensor) const {
  if (all_) return;
  bool in = covers(sensor);
  if (in && !ownership_.assigned(sensor)) {
    // The default organisation's sensors are those nobody else owns: only the known ones.
    auto r = d.meta.pipeline({{"SISMEMBER", std::string(keys::kSensorIndex), sensor},
                              {"SISMEMBER", std::string(keys::kRegisteredUuids), sensor},
                              {"SISMEMBER", std::string(keys::kPendingRegistrations), sensor}});
    in = r[0].integer == 1 || r[1].integer == 1 || r[2].integer == 1;
  }
  if (!in) throw ApiError(404, "404 Not Found");
}

void Scope::require_unrestricted() const {
  if (!all_) throw ApiError(403, "Access Forbidden");
}

}  // namespace d4::web
