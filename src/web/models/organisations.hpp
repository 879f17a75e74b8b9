#pragma once
// Read model of the organisations (/organisations, /api/v1/organisations...): each with its
// sensors and users (core::OrganisationStore, docs/web.md#organisations).
#include <optional>
#include <string>
#include <vector>

#include "core/organisations.hpp"
#include "web/auth/scope.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"

namespace d4::web::models {

struct OrganisationView {
  std::string uuid, name;
  long long created = 0;
  bool is_default = false;
  // Assigned explicitly; the default organisation also has every sensor and user not assigned.
  std::vector<std::string> sensors, users;
};
D4_VIEW_TO_JSON(OrganisationView, uuid, name, created, is_default, sensors, users)

struct OrganisationList {
  std::vector<OrganisationView> items;
};
D4_VIEW_TO_JSON(OrganisationList, items)

// The viewer administers the server, or `org` (one of its members listed in d4:org:admins).
bool administers_organisation(Db& db, const Identity& viewer, const std::string& org);

class Organisations {
 public:
  explicit Organisations(Db& db) : store_(db.meta) {}
  core::OrganisationStore& store() { return store_; }

  // Every organisation (`all`: an administrator), else the viewer's own.
  OrganisationList list(bool all, const std::string& own);
  // ApiError 404 unless it exists and (`all` or it is `own`).
  OrganisationView get(const std::string& uuid, bool all, const std::string& own);

 private:
  OrganisationView view(const core::Organisation& o);
  core::OrganisationStore store_;
};

}  // namespace d4::web::models
