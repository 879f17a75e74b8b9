// Read model of the organisations.
#include "web/models/organisations.hpp"

#include "core/keys.hpp"
#include "web/request.hpp"

namespace d4::web::models {

bool administers_organisation(Db& db, const Identity& viewer, const std::string& org) {
  if (role_allows(viewer.role, Role::Admin)) return true;
  return !org.empty() && core::OrganisationStore(db.meta).user_org(viewer.user) == org &&
         db.meta.command({"SISMEMBER", core::keys::kOrganisationAdmins, viewer.user}).integer == 1;
}

OrganisationView Organisations::view(const core::Organisation& o) {
  return {o.uuid, o.name, o.created, o.is_default, store_.sensors_of(o.uuid), store_.users_of(o.uuid)};
}

OrganisationList Organisations::list(bool all, const std::string& own) {
  OrganisationList l;
  for (const auto& o : store_.list())
    if (all || o.uuid == own) l.items.push_back(view(o));
  return l;
}

OrganisationView Organisations::get(const std::string& uuid, bool all, const std::string& own) {
  auto o = store_.get(uuid);
  if (!o || !(all || o->uuid == own)) throw ApiError(404, "no such organisation");
  return view(*o);
}

}  // namespace d4::web::models
