// Read model of an organisation's own notification channels.
#include "web/models/org_channels.hpp"

#include "alerts/org_channels.hpp"
#include "core/keys.hpp"
#include "core/organisations.hpp"
#include "web/models/organisations.hpp"
#include "web/request.hpp"

namespace d4::web::models {

OrgChannelList OrgChannels::list(const Identity& viewer, const std::string& org_text) {
  core::OrganisationStore orgs(db_.meta);
  auto o = orgs.get(org_text);
  const bool admin = role_allows(viewer.role, Role::Admin);
  if (!o || (!admin && orgs.user_org(viewer.user) != o->uuid)) throw ApiError(404, "no such organisation");
  OrgChannelList l;
  l.org = o->uuid;
  l.org_name = o->name;
  l.may_manage = administers_organisation(db_, viewer, o->uuid);
  l.email_relay = cfg_.org_channel_policy.email_relay;
  l.allow_http = cfg_.org_channel_policy.allow_http;
  l.max_channels = cfg_.org_channel_policy.max_per_organisation;
  for (auto& [name, text] : hash_pairs(db_.meta.command({"HGETALL", core::keys::org_channels(o->uuid)}))) {
    OrgChannelView v{name, "", "", nullptr};
    try {
      auto spec = alerts::parse_org_channel(json::parse(text), cfg_.org_channel_policy);
      v.type = spec.type;
      v.summary = alerts::org_channel_summary(spec);
      if (l.may_manage) v.spec = alerts::to_json(spec);
    } catch (const std::exception& e) {
      v.summary = std::string("not usable: ") + e.what();
    }
    l.items.push_back(std::move(v));
  }
  std::sort(l.items.begin(), l.items.end(),
            [](const OrgChannelView& a, const OrgChannelView& b) { return a.name < b.name; });
  return l;
}

// The organisation (dashless) if the viewer administers it. Refused alike whether or not it exists,
// unless the viewer administers the server.
std::string OrgChannels::require_managed(const Identity& viewer, const std::string& org_text) {
  auto uuid = core::normalize_sensor_uuid(org_text);
  if (!uuid || !administers_organisation(db_, viewer, *uuid)) throw ApiError(403, "Access Forbidden");
  if (!core::OrganisationStore(db_.meta).get(*uuid)) throw ApiError(404, "no such organisation");
  return *uuid;
}

void OrgChannels::set(const Identity& viewer, const std::string& org_text, const std::string& name,
                      const json& body) {
  auto org = require_managed(viewer, org_text);
  if (!alerts::valid_org_channel_name(name))
    throw ApiError(400, "a channel name is 1-64 letters, digits, '-' or '_'");
  alerts::OrgChannelSpec spec;
  try {
    spec = alerts::parse_org_channel(body, cfg_.org_channel_policy);
  } catch (const std::invalid_argument& e) {
    throw ApiError(400, e.what());
  }
  const auto key = core::keys::org_channels(org);
  auto r = db_.meta.pipeline({{"HEXISTS", key, name}, {"HLEN", key}});
  if (r[0].integer == 0 &&
      static_cast<std::size_t>(r[1].integer) >= cfg_.org_channel_policy.max_per_organisation)
    throw ApiError(409, "the organisation has " + std::to_string(r[1].integer) +
                            " channels ([alerts] max_org_channels); remove one first");
  db_.meta.command_ok({"HSET", key, name, alerts::to_json(spec).dump()});
}

void OrgChannels::remove(const Identity& viewer, const std::string& org_text, const std::string& name) {
  auto org = require_managed(viewer, org_text);
  if (db_.meta.command({"HDEL", core::keys::org_channels(org), name}).integer == 0)
    throw ApiError(404, "no such channel");
}

}  // namespace d4::web::models
