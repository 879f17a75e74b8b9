#pragma once
// Read model of an organisation's own notification channels (/alerts/channels,
// /api/v1/organisations/{id}/channels..., alerts/org_channels.hpp): the webhooks and e-mail
// recipients its administrators set, through which d4-alerts sends the organisation's org:<uuid>
// rules' notifications instead of the server's channels.
#include <string>
#include <vector>

#include "web/auth/authenticator.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"
#include "web/web_config.hpp"

namespace d4::web::models {

struct OrgChannelView {
  std::string name, type, summary;
  json spec;  // the whole setting (URL, headers, recipients): the organisation's administrators only
};
D4_VIEW_TO_JSON(OrgChannelView, name, type, summary, spec)

struct OrgChannelList {
  std::string org, org_name;
  std::vector<OrgChannelView> items;
  bool may_manage = false;
  bool email_relay = false;  // [alerts.org_email]: e-mail channels can be sent
  bool allow_http = false;
  std::size_t max_channels = 0;
};
D4_VIEW_TO_JSON(OrgChannelList, org, org_name, items, may_manage, email_relay, allow_http, max_channels)

class OrgChannels {
 public:
  OrgChannels(Db& db, const WebConfig& cfg) : db_(db), cfg_(cfg) {}
  // ApiError 404 unless the organisation exists and the viewer belongs to it (or administers the
  // server).
  OrgChannelList list(const Identity& viewer, const std::string& org);
  // ApiError 403 unless the viewer administers the organisation, 404 for an unknown one, 400 for
  // an invalid name or channel, 409 beyond [alerts] max_org_channels.
  void set(const Identity& viewer, const std::string& org, const std::string& name, const json& spec);
  void remove(const Identity& viewer, const std::string& org, const std::string& name);

 private:
  std::string require_managed(const Identity& viewer, const std::string& org);
  Db& db_;
  const WebConfig& cfg_;
};

}  // namespace d4::web::models
