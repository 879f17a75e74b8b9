#pragma once
// Organisations on one server (docs/web.md#organisations): several teams share a D4 server, each
// sees and manages only its own sensors. An organisation has a UUID (its MISP organisation UUID,
// the "misp:org" of its sensors' meta headers) and a name; sensors and web users belong to one.
//
// A single-team server keeps working unchanged: everything not assigned explicitly belongs to
// the default organisation, which d4-web creates at start (ensure_default), so there is no
// migration step. Keys (meta db): d4:orgs, d4:org:<uuid>, d4:org:default, d4:sensor:org,
// d4:user:org (core/keys.hpp).
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/redis_client.hpp"

namespace d4::core {

struct Organisation {
  std::string uuid;  // dashless lowercase
  std::string name;
  long long created = 0;
  bool is_default = false;
};

// Who owns which sensor: the explicit assignments and the default organisation, read at once.
class SensorOwnership {
 public:
  SensorOwnership() = default;
  SensorOwnership(std::map<std::string, std::string> explicit_owners, std::string default_org)
      : owners_(std::move(explicit_owners)), default_(std::move(default_org)) {}
  // The organisation of `sensor` (dashless): its assignment, else the default organisation.
  const std::string& owner(const std::string& sensor) const;
  bool assigned(const std::string& sensor) const { return owners_.count(sensor) == 1; }
  const std::string& default_org() const { return default_; }
  // True when some sensor belongs to an organisation other than the default one.
  bool several_organisations_own_sensors() const;
  const std::map<std::string, std::string>& assignments() const { return owners_; }

 private:
  std::map<std::string, std::string> owners_;
  std::string default_;
};

struct OrganisationExists : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class OrganisationStore {
 public:
  explicit OrganisationStore(RedisClient& meta) : meta_(meta) {}

  // The default organisation's UUID; when the server has none yet, creates it with `name` and
  // `uuid` (any UUID form) and returns that.
  std::string ensure_default(const std::string& name, const std::string& uuid);
  std::optional<std::string> default_id();
  std::vector<Organisation> list();  // default first, then by name
  std::optional<Organisation> get(std::string_view uuid);
  // `uuid` in any UUID form. std::invalid_argument for a bad name or UUID, OrganisationExists
  // when the UUID is taken.
  Organisation create(const std::string& name, const std::string& uuid);
  bool rename(std::string_view uuid, const std::string& name);
  // Removes a non-default organisation: its sensors and users go back to the default one. False
  // when there is no such organisation; std::invalid_argument for the default organisation.
  bool remove(std::string_view uuid);

  SensorOwnership ownership();
  std::string sensor_owner(std::string_view sensor);  // assignment or default ("" without any)
  void assign_sensor(std::string_view sensor, std::string_view org);
  void forget_sensor(std::string_view sensor);
  // The user's organisation: its assignment, else the default one ("" when none exists).
  std::string user_org(std::string_view user);
  void assign_user(std::string_view user, std::string_view org);
  void forget_user(std::string_view user);
  std::vector<std::string> users_of(std::string_view org);    // explicit members, sorted
  std::vector<std::string> sensors_of(std::string_view org);  // explicit members, sorted

 private:
  RedisClient& meta_;
};

// Checks an organisation name (1..200 characters, no control characters).
std::optional<std::string> organisation_name_violation(std::string_view name);

}  // namespace d4::core
